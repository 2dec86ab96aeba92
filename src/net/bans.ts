/**
 * Failed-login tracking and temporary bans per client address. Failures in a
 * sliding window past a threshold ban the address for a while; addresses on
 * the never-ban list are only slowed down, never banned.
 */
import { NetworkList, normalizeAddress } from './addressMatch.js';

export interface BanPolicy {
  enabled: boolean;
  failures: number;
  windowMs: number;
  durationMs: number;
  neverBan: readonly string[];
}

export class BanList {
  private readonly failures = new Map<string, number[]>();
  private readonly bannedUntil = new Map<string, number>();
  private readonly neverBan: NetworkList;

  constructor(private readonly policy: BanPolicy, private readonly now: () => number = Date.now) {
    this.neverBan = new NetworkList(policy.neverBan);
  }

  isBanned(address: string): boolean {
    const a = normalizeAddress(address);
    const until = this.bannedUntil.get(a);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.bannedUntil.delete(a);
    return false;
  }

  /** Records a failed login; returns true when this failure bans the address. */
  recordFailure(address: string): boolean {
    if (!this.policy.enabled || this.neverBan.has(address)) return false;
    const a = normalizeAddress(address);
    const now = this.now();
    const recent = (this.failures.get(a) ?? []).filter((t) => now - t < this.policy.windowMs);
    recent.push(now);
    if (recent.length >= this.policy.failures) {
      this.failures.delete(a);
      this.bannedUntil.set(a, now + this.policy.durationMs);
      return true;
    }
    this.failures.set(a, recent);
    this.prune(now);
    return false;
  }

  recordSuccess(address: string): void {
    this.failures.delete(normalizeAddress(address));
  }

  /** Keeps the maps from growing without bound under a distributed attack. */
  private prune(now: number): void {
    if (this.failures.size < 100_000) return;
    for (const [a, times] of this.failures) {
      if (times.every((t) => now - t >= this.policy.windowMs)) this.failures.delete(a);
    }
  }
}

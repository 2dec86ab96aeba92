/**
 * The defender: scores each client address for the trouble it causes —
 * failed logins, bad commands, protocol abuse, refused data connections.
 * Each offence counts for `window` and is then forgotten (a sliding window);
 * an address whose score reaches the threshold is banned, for longer on each
 * repeat offence (doubling, capped). Allowed networks are never banned, only
 * slowed by the failed-login delay; denied networks are always refused.
 * Pure apart from its clock and log, both injected.
 */
import { NetworkList, normalizeAddress } from './addressMatch.js';

export const OFFENCES = ['failedLogin', 'badCommand', 'protocolAbuse', 'foreignDataConnection'] as const;
export type Offence = (typeof OFFENCES)[number];

export interface DefenderPolicy {
  enabled: boolean;
  /** Score that bans. */
  threshold: number;
  /** How long an offence counts towards the score. */
  windowMs: number;
  /** Points per offence; 0 ignores that kind. */
  scores: Record<Offence, number>;
  /** The first ban; each repeat doubles the previous one, up to maxBanMs. */
  banMs: number;
  maxBanMs: number;
  /** A ban within this long of the previous ban's end is a repeat offence. */
  repeatWindowMs: number;
  allow: readonly string[];
  deny: readonly string[];
}

/** The part of a pino logger the defender uses. */
export interface DefenderLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface DefenderCounters {
  bans: number;
  unbans: number;
  /** Connections refused because the address is banned / denied. */
  refusedBanned: number;
  refusedDenied: number;
  /** Allow-listed addresses that reached the threshold and were not banned. */
  spared: number;
  offences: Record<Offence, number>;
}

export type Admission = 'ok' | 'banned' | 'denied';

interface Score {
  /** Sum of the events' points. */
  points: number;
  /** Oldest first. */
  events: Array<{ at: number; points: number; offence: Offence; user?: string }>;
}

interface Offender {
  /** Bans in the current run of repeat offences. */
  bans: number;
  until: number;
  durationMs: number;
  active: boolean;
}

/** Addresses scored at once; past this the oldest scores are forgotten. */
const MAX_TRACKED = 100_000;
/** Offences remembered per address; past this the oldest are forgotten early. */
const MAX_EVENTS = 1000;
/** Lifted bans remembered (for repeats) at once. */
const MAX_OFFENDERS = 100_000;

export class Defender {
  readonly counters: DefenderCounters = {
    bans: 0,
    unbans: 0,
    refusedBanned: 0,
    refusedDenied: 0,
    spared: 0,
    offences: { failedLogin: 0, badCommand: 0, protocolAbuse: 0, foreignDataConnection: 0 },
  };
  private readonly scores = new Map<string, Score>();
  private readonly offenders = new Map<string, Offender>();
  private readonly allow: NetworkList;
  private readonly deny: NetworkList;
  private lastPrune: number;

  constructor(
    readonly policy: DefenderPolicy,
    private readonly log: DefenderLog | null = null,
    private readonly now: () => number = Date.now,
  ) {
    this.allow = new NetworkList(policy.allow);
    this.deny = new NetworkList(policy.deny);
    this.lastPrune = now();
  }

  /** Bans in force (lifted ones leave at the next check or sweep). */
  get activeBans(): number {
    return this.counters.bans - this.counters.unbans;
  }

  /** Whether a new connection from `address` may proceed; counts refusals. */
  admit(address: string): Admission {
    if (this.deny.has(address)) {
      this.counters.refusedDenied++;
      return 'denied';
    }
    if (this.isBanned(address)) {
      this.counters.refusedBanned++;
      return 'banned';
    }
    return 'ok';
  }

  isBanned(address: string): boolean {
    const a = normalizeAddress(address);
    const o = this.offenders.get(a);
    if (!o?.active) return false;
    if (o.until > this.now()) return true;
    this.lift(a, o);
    return false;
  }

  /** When the address's ban ends (ms since the epoch), or null when it is not banned. */
  bannedUntil(address: string): number | null {
    const a = normalizeAddress(address);
    return this.isBanned(a) ? this.offenders.get(a)!.until : null;
  }

  /**
   * A ban decided elsewhere — by the primary process of a node that runs
   * worker processes, which scores the offences of all of them.
   */
  impose(address: string, until: number): void {
    const a = normalizeAddress(address);
    const o = this.offenders.get(a);
    if (o?.active) {
      o.until = Math.max(o.until, until);
      return;
    }
    this.scores.delete(a);
    this.offenders.set(a, { bans: (o?.bans ?? 0) + 1, until, durationMs: until - this.now(), active: true });
    this.counters.bans++;
  }

  /** The current score of an address: the points of its offences within the window. */
  score(address: string): number {
    return this.current(normalizeAddress(address), this.now())?.points ?? 0;
  }

  /**
   * Scores an offence; `banned` is true when the address is (now) banned.
   * `user`: for a failed login, the name tried (see forgive).
   */
  record(address: string, offence: Offence, user?: string): { banned: boolean } {
    this.counters.offences[offence]++;
    const weight = this.policy.scores[offence];
    if (!this.policy.enabled || weight <= 0) return { banned: false };
    const a = normalizeAddress(address);
    if (this.isBanned(a)) return { banned: true };
    const now = this.now();
    const s = this.current(a, now) ?? { points: 0, events: [] };
    const before = s.points;
    s.events.push({ at: now, points: weight, offence, user });
    s.points += weight;
    if (s.events.length > MAX_EVENTS) s.points -= s.events.shift()!.points;
    this.track(a, s);
    if (s.points < this.policy.threshold) return { banned: false };
    if (this.allow.has(a)) {
      if (before < this.policy.threshold) {
        this.counters.spared++;
        this.log?.warn({ client: a, score: round(s.points), reasons: reasons(s) }, 'allow-listed address over the ban threshold; not banned');
      }
      return { banned: false };
    }
    this.ban(a, s, now);
    return { banned: true };
  }

  /**
   * A successful login as `user`: the address's failed logins for that name
   * are forgiven (a device that mistyped its own password). Failed logins for
   * other names and other offences stand, so one known account cannot be
   * used to wipe the score of guessing another.
   */
  forgive(address: string, user: string): void {
    const a = normalizeAddress(address);
    const s = this.current(a, this.now());
    if (!s) return;
    s.events = s.events.filter((e) => e.offence !== 'failedLogin' || e.user !== user);
    s.points = s.events.reduce((sum, e) => sum + e.points, 0);
    if (s.events.length === 0) this.scores.delete(a);
  }

  /**
   * Lifts expired bans (logging each) and, now and then, forgets offences
   * past the window and repeat records past theirs. Run it every second.
   */
  sweep(): void {
    const now = this.now();
    for (const [a, o] of this.offenders) {
      if (o.active && o.until <= now) this.lift(a, o);
      if (!o.active && now - o.until >= this.policy.repeatWindowMs) this.offenders.delete(a);
    }
    if (now - this.lastPrune < 60_000 && this.scores.size < MAX_TRACKED) return;
    this.lastPrune = now;
    for (const a of [...this.scores.keys()]) this.current(a, now);
  }

  private ban(a: string, s: Score, now: number): void {
    const { banMs, maxBanMs, repeatWindowMs } = this.policy;
    const prev = this.offenders.get(a);
    const bans = prev && now - prev.until < repeatWindowMs ? prev.bans + 1 : 1;
    const durationMs = Math.max(banMs, Math.min(banMs * 2 ** (bans - 1), maxBanMs));
    this.scores.delete(a);
    this.offenders.delete(a); // re-inserted last, so the oldest are pruned first
    this.offenders.set(a, { bans, until: now + durationMs, durationMs, active: true });
    this.counters.bans++;
    this.log?.warn(
      { client: a, score: round(s.points), reasons: reasons(s), durationSec: durationMs / 1000, repeat: bans },
      'address banned',
    );
    if (this.offenders.size > MAX_OFFENDERS) {
      for (const [x, o] of this.offenders) {
        if (this.offenders.size <= MAX_OFFENDERS) break;
        if (!o.active) this.offenders.delete(x);
      }
    }
  }

  private lift(a: string, o: Offender): void {
    o.active = false;
    this.counters.unbans++;
    this.log?.info({ client: a, durationSec: o.durationMs / 1000, repeat: o.bans }, 'address unbanned');
  }

  /** The address's score without offences older than the window; forgotten once empty. */
  private current(a: string, now: number): Score | undefined {
    const s = this.scores.get(a);
    if (!s) return undefined;
    while (s.events.length > 0 && now - s.events[0]!.at >= this.policy.windowMs) s.points -= s.events.shift()!.points;
    if (s.events.length > 0) return s;
    this.scores.delete(a);
    return undefined;
  }

  /** Stores a score as the most recent, forgetting the oldest past MAX_TRACKED. */
  private track(a: string, s: Score): void {
    this.scores.delete(a);
    this.scores.set(a, s);
    if (this.scores.size <= MAX_TRACKED) return;
    const oldest = this.scores.keys().next().value;
    if (oldest !== undefined) this.scores.delete(oldest);
  }
}

const round = (n: number) => Math.round(n * 10) / 10;

/** Offences in the window by kind, for the log. */
function reasons(s: Score): Partial<Record<Offence, number>> {
  const out: Partial<Record<Offence, number>> = {};
  for (const e of s.events) out[e.offence] = (out[e.offence] ?? 0) + 1;
  return out;
}

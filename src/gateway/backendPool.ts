/**
 * The gateway's backends: their health (ejected after `fall` failed checks in
 * a row, re-admitted after `rise` good ones), their open sessions, and the
 * choice of a backend for a new session.
 */
import { createHash } from 'node:crypto';
import type { BackendConfig, BalanceStrategy } from '../config/gatewaySchema.js';

export interface Backend {
  config: BackendConfig;
  up: boolean;
  sessions: number;
  /** Consecutive check results that disagree with `up`. */
  streak: number;
  lastError: string | null;
  /** Dropped from the config: no new sessions, kept while sessions remain. */
  removed: boolean;
}

export interface Hysteresis {
  rise: number;
  fall: number;
}

export interface BalanceOptions {
  strategy: BalanceStrategy;
  /** User name -> backend group, for strategy "user". */
  users: Record<string, string>;
}

export interface Pick {
  clientAddress: string;
  user: string | null;
  /** Backends this session already failed to reach. */
  exclude?: ReadonlySet<string>;
}

export class BackendPool {
  private readonly backends = new Map<string, Backend>();
  private cursor = 0;

  constructor(
    configs: BackendConfig[],
    private balance: BalanceOptions,
    private readonly hysteresis: Hysteresis,
  ) {
    this.update(configs, balance);
  }

  /** New config (SIGHUP): keeps the health and sessions of backends that stay. */
  update(configs: BackendConfig[], balance: BalanceOptions): void {
    this.balance = balance;
    const names = new Set(configs.map((c) => c.name));
    for (const c of configs) {
      const b = this.backends.get(c.name);
      if (b) {
        b.config = c;
        b.removed = false;
      } else {
        this.backends.set(c.name, { config: c, up: true, sessions: 0, streak: 0, lastError: null, removed: false });
      }
    }
    for (const [name, b] of this.backends) {
      if (names.has(name)) continue;
      if (b.sessions === 0) this.backends.delete(name);
      else b.removed = true;
    }
  }

  all(): Backend[] {
    return [...this.backends.values()];
  }

  /** Whether the session needs the user name before a backend can be chosen. */
  get choosesByUser(): boolean {
    return this.balance.strategy === 'user';
  }

  /** A backend for a new session, or null when none can take it. */
  pick(p: Pick): Backend | null {
    let candidates = this.all().filter((b) => b.up && !b.config.drain && !b.removed && !p.exclude?.has(b.config.name));
    if (this.balance.strategy === 'user') {
      const group = (p.user !== null && this.balance.users[p.user]) || 'default';
      candidates = candidates.filter((b) => b.config.group === group);
    }
    if (candidates.length === 0) return null;
    switch (this.balance.strategy) {
      case 'round-robin':
        return candidates[this.cursor++ % candidates.length]!;
      case 'source-hash':
        return highestScore(candidates, p.clientAddress);
      case 'least-connections':
      case 'user': {
        const least = Math.min(...candidates.map((b) => b.sessions));
        const tied = candidates.filter((b) => b.sessions === least);
        return tied[this.cursor++ % tied.length]!;
      }
    }
  }

  acquire(b: Backend): void {
    b.sessions++;
  }

  release(b: Backend): void {
    b.sessions = Math.max(0, b.sessions - 1);
    if (b.removed && b.sessions === 0) this.backends.delete(b.config.name);
  }

  /** Records a health check; returns the new state when it changed. */
  record(b: Backend, ok: boolean, error: string | null): 'up' | 'down' | null {
    b.lastError = ok ? null : error;
    if (ok === b.up) {
      b.streak = 0;
      return null;
    }
    b.streak++;
    if (b.streak < (ok ? this.hysteresis.rise : this.hysteresis.fall)) return null;
    b.up = ok;
    b.streak = 0;
    return ok ? 'up' : 'down';
  }
}

/**
 * Rendezvous hashing: each client address goes to the backend with the
 * highest hash of (address, backend), so a backend going down moves only its
 * own clients.
 */
function highestScore(candidates: Backend[], clientAddress: string): Backend {
  let best = candidates[0]!;
  let bestScore = -1;
  for (const b of candidates) {
    const score = createHash('sha1').update(`${clientAddress}|${b.config.name}`).digest().readUInt32BE(0);
    if (score > bestScore) {
      best = b;
      bestScore = score;
    }
  }
  return best;
}

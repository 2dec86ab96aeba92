/**
 * The node's Prometheus metrics. Server code records events through the
 * small methods here; names and labels live in this one file.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type Direction = 'upload' | 'download';
export type DataMode = 'passive' | 'active';

export interface DefenderView {
  readonly activeBans: number;
  readonly counters: { bans: number; offences: Record<string, number> };
}

export interface PassivePortsView {
  readonly size: number;
  readonly leased: number;
}

/** What the gateway's backend metrics read at each scrape. */
export interface BackendView {
  name: string;
  up: boolean;
  draining: boolean;
  sessions: number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly sessionsTotal: Counter;
  private readonly logins: Counter;
  private readonly transfers: Counter;
  private readonly transferBytes: Counter;
  private readonly dataFailures: Counter;
  private readonly replies: Counter;
  private readonly refusedConnections: Counter;
  private backendFailures: Counter | null = null;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'ftpfleet_process_' });
    const registers = [this.registry];
    this.sessionsTotal = new Counter({ name: 'ftpfleet_sessions_total', help: 'Control sessions accepted', registers });
    this.refusedConnections = new Counter({
      name: 'ftpfleet_connections_refused_total',
      help: 'Control connections refused before a session started',
      labelNames: ['reason'],
      registers,
    });
    this.logins = new Counter({ name: 'ftpfleet_logins_total', help: 'Login attempts', labelNames: ['result'], registers });
    this.transfers = new Counter({
      name: 'ftpfleet_transfers_total',
      help: 'Transfers by direction, data mode and result',
      labelNames: ['direction', 'mode', 'result'],
      registers,
    });
    this.transferBytes = new Counter({
      name: 'ftpfleet_transfer_bytes_total',
      help: 'Bytes moved over data connections',
      labelNames: ['direction', 'mode'],
      registers,
    });
    this.dataFailures = new Counter({
      name: 'ftpfleet_data_connection_failures_total',
      help: 'Data connections that could not be used, by cause',
      labelNames: ['cause'],
      registers,
    });
    this.replies = new Counter({ name: 'ftpfleet_replies_total', help: 'Replies sent, by code', labelNames: ['code'], registers });
  }

  /** Reports the passive range's use at every scrape. */
  watchPassivePorts(pool: PassivePortsView): void {
    new Gauge({
      name: 'ftpfleet_passive_ports',
      help: 'Passive ports of this node: listening (in_use) and free',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.set({ state: 'in_use' }, pool.leased);
        this.set({ state: 'free' }, pool.size - pool.leased);
      },
    });
  }

  /** Reports the defender's bans and offences at every scrape. */
  watchDefender(defender: DefenderView): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ftpfleet_banned_addresses',
      help: 'Client addresses banned now',
      registers,
      collect() {
        this.set(defender.activeBans);
      },
    });
    new Gauge({
      name: 'ftpfleet_bans_total',
      help: 'Bans since start',
      registers,
      collect() {
        this.set(defender.counters.bans);
      },
    });
    new Gauge({
      name: 'ftpfleet_offences_total',
      help: 'Offences scored by the defender since start, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const [kind, n] of Object.entries(defender.counters.offences)) this.set({ kind }, n);
      },
    });
  }

  /** Reports open sessions at every scrape. */
  watchSessions(count: () => { total: number; loggedIn: number }): void {
    new Gauge({
      name: 'ftpfleet_sessions',
      help: 'Open control sessions, by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const { total, loggedIn } = count();
        this.set({ state: 'authenticated' }, loggedIn);
        this.set({ state: 'unauthenticated' }, total - loggedIn);
      },
    });
  }

  /** Gateway: each backend's state and sessions at every scrape. */
  watchBackends(list: () => BackendView[]): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ftpfleet_gateway_backend_up',
      help: 'Backend health as the gateway sees it (1 up, 0 ejected)',
      labelNames: ['backend', 'draining'],
      registers,
      collect() {
        this.reset();
        for (const b of list()) this.set({ backend: b.name, draining: String(b.draining) }, b.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ftpfleet_gateway_backend_sessions',
      help: 'Sessions the gateway relays to each backend',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of list()) this.set({ backend: b.name }, b.sessions);
      },
    });
    this.backendFailures = new Counter({
      name: 'ftpfleet_gateway_backend_failures_total',
      help: 'Backend connections that failed or were lost mid-session',
      labelNames: ['backend'],
      registers,
    });
  }

  backendFailure(backend: string): void {
    this.backendFailures?.inc({ backend });
  }

  sessionOpened(): void {
    this.sessionsTotal.inc();
  }

  connectionRefused(reason: string): void {
    this.refusedConnections.inc({ reason });
  }

  login(ok: boolean): void {
    this.logins.inc({ result: ok ? 'ok' : 'failed' });
  }

  transfer(direction: Direction, mode: DataMode, result: 'ok' | 'aborted' | 'failed', bytes: number): void {
    this.transfers.inc({ direction, mode, result });
    if (bytes > 0) this.transferBytes.inc({ direction, mode }, bytes);
  }

  dataFailure(cause: string): void {
    this.dataFailures.inc({ cause });
  }

  reply(code: number): void {
    this.replies.inc({ code: String(code) });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

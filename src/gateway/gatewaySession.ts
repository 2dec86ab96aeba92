/**
 * One client session through the gateway. The gateway answers the client's
 * greeting itself and terminates its TLS (AUTH TLS, PBSZ, PROT, implicit
 * FTPS); at USER it picks a backend, connects (see backendControl.ts) and
 * from then on relays commands one at a time, except the data-connection
 * commands: PASV/EPSV/PORT/EPRT set up one leg toward the client and one
 * toward the backend (by the backend's data policy), and each transfer
 * command joins the two legs with a DataRelay. ABOR is handled at once.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/gatewaySchema.js';
import { normalizeAddress } from '../net/addressMatch.js';
import { activeSourcePort, decideActiveTarget } from '../net/activeTarget.js';
import type { AdvertisedAddress } from '../net/advertisedAddress.js';
import { ActiveDataChannel, PassiveDataChannel, type DataChannel, type DataMode } from '../net/dataChannel.js';
import type { Defender, Offence } from '../net/defender.js';
import { PassivePortsExhaustedError, type PassivePortPool } from '../net/passivePortPool.js';
import { encodeProxyV2, type ProxyHeader } from '../net/proxyProtocol.js';
import { acceptTls, type TlsProvider } from '../net/tls.js';
import { ControlChannel } from '../net/controlChannel.js';
import type { Metrics } from '../ops/metrics.js';
import { parseCommandLine } from '../protocol/commandLine.js';
import {
  formatEpsvArg,
  formatPasvArg,
  parseEprtArg,
  parseEpsvArg,
  parseEpsvReply,
  parsePasvReply,
  parsePortArg,
  type HostPort,
} from '../protocol/hostPort.js';
import { isPreliminary } from '../protocol/replyParser.js';
import { reply, type Reply } from '../protocol/replies.js';
import { BackendControl, BackendGoneError, backendTlsOptions, startTls } from './backendControl.js';
import type { Backend, BackendPool } from './backendPool.js';
import { DataRelay } from './dataRelay.js';

export interface GatewayContext {
  config: GatewayConfig;
  log: Logger;
  pool: BackendPool;
  passivePorts: PassivePortPool;
  advertised: AdvertisedAddress;
  defender: Defender;
  metrics: Metrics;
  tls: TlsProvider | null;
}

const TRANSFER_VERBS: Record<string, 'download' | 'upload'> = {
  RETR: 'download',
  LIST: 'download',
  NLST: 'download',
  MLSD: 'download',
  STOR: 'upload',
  STOU: 'upload',
  APPE: 'upload',
};
/** Answered by the gateway before a backend is connected. */
const LOCAL_BEFORE_LOGIN: Record<string, Reply> = {
  NOOP: reply(200, 'NOOP ok.'),
  SYST: reply(215, 'UNIX Type: L8'),
  OPTS: reply(200, 'OK.'),
  CLNT: reply(200, 'Noted.'),
  HELP: reply(214, 'Log in with USER and PASS; commands are relayed to the server behind this gateway.'),
};
/** FEAT lines the gateway owns: it terminates TLS and translates data connections. */
const GATEWAY_FEATURES = ['EPRT', 'EPSV', 'UTF8'];
const TLS_FEATURES = ['AUTH TLS', 'PBSZ', 'PROT'];
const MAX_QUEUED = 32;
const BANNED_TEXT = 'Too many errors from your address; try again later.';

interface DataPlan {
  client: DataChannel;
  backendMode: DataMode;
  backend: DataChannel;
}

interface RunningTransfer {
  relay: DataRelay | null;
  aborted: boolean;
  /** Settles once the transfer's final reply has been sent to the client. */
  finished: Promise<void>;
  legs: DataPlan;
}

/** A reply the client gets instead of the command reaching the backend. */
class LocalReply extends Error {
  constructor(readonly reply: Reply) {
    super(reply.lines.join(' '));
  }
}

export class GatewaySession {
  readonly id: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly tcpPeer: string;
  readonly connectedTo: string;
  readonly connectedPort: number;
  readonly localAddress: string;
  readonly localPort: number;
  log: Logger;

  backend: Backend | null = null;
  private control: BackendControl | null = null;
  loggedIn = false;
  private userName: string | null = null;
  private pbszDone = false;
  private protectData = false;
  private epsvAll = false;
  private backendLacksEpsv = false;
  private data: DataPlan | null = null;
  private transfer: RunningTransfer | null = null;
  private readonly queue: Array<{ verb: string; arg: string }> = [];
  private pumping = false;
  private draining = false;
  private preLoginCommands = 0;
  private readonly client: ControlChannel;

  constructor(
    private readonly tcp: Socket,
    private readonly ctx: GatewayContext,
    private readonly onClose: (s: GatewaySession) => void,
    private readonly options: { implicitTls: boolean; proxy: ProxyHeader | null },
  ) {
    const { proxy } = options;
    this.id = proxy?.uniqueId ?? randomBytes(6).toString('hex');
    this.tcpPeer = normalizeAddress(tcp.remoteAddress ?? '');
    this.localAddress = normalizeAddress(tcp.localAddress ?? '');
    this.localPort = tcp.localPort ?? 0;
    this.clientAddress = proxy?.source ? normalizeAddress(proxy.source.address) : this.tcpPeer;
    this.clientPort = proxy?.source?.port ?? tcp.remotePort ?? 0;
    this.connectedTo = proxy?.destination ? normalizeAddress(proxy.destination.address) : this.localAddress;
    this.connectedPort = proxy?.destination?.port ?? this.localPort;
    this.log = ctx.log.child({ session: this.id, client: this.clientAddress });
    this.client = new ControlChannel(tcp, {
      log: this.log,
      limits: ctx.config.limits,
      handshakeTimeout: ctx.config.tls.handshakeTimeout,
      busy: () => this.transfer !== null,
      onLine: (line) => this.onLine(line),
      onReply: (code) => ctx.metrics.reply(code),
      onClosed: (unannounced) => this.cleanup(unannounced),
    });
  }

  /** The client's control connection (TLS once secured). */
  get socket(): Socket {
    return this.client.socket;
  }

  private get tlsContext(): SecureContext | null {
    return this.client.tlsContext;
  }

  private get closed(): boolean {
    return this.client.closed;
  }

  private get config(): GatewayConfig {
    return this.ctx.config;
  }

  start(): void {
    this.log.info({ local: this.localAddress, implicitTls: this.options.implicitTls || undefined }, 'session opened');
    this.client.startLoginTimer();
    if (!this.options.implicitTls) {
      this.client.listen();
      this.send(reply(220, this.config.banner));
      return;
    }
    this.secureControl().then(
      () => {
        this.client.touch();
        this.pbszDone = this.protectData = true;
        this.send(reply(220, this.config.banner));
      },
      () => this.tcp.destroy(),
    );
  }

  /* ---------- the client connection ---------- */

  send(r: Reply): void {
    this.client.send(r);
  }

  closeWith(r: Reply, why: string): void {
    if (this.client.closeWith(r, why)) this.cleanup(false);
  }

  /** Gateway stop: close now if idle, else after the running transfer. */
  drain(): void {
    this.draining = true;
    if (!this.transfer && !this.pumping) this.closeWith(reply(421, 'Gateway shutting down.'), 'shutdown');
  }

  private cleanup(logClosed: boolean): void {
    this.client.stopTimers();
    this.transfer?.relay?.abort();
    this.closeData();
    this.dropBackend();
    if (logClosed) this.log.info('session closed');
    this.queue.length = 0;
    this.onClose(this);
  }

  private onLine(line: Buffer | 'oversize'): void {
    if (line === 'oversize') this.queue.push({ verb: '', arg: 'oversize' });
    else {
      const parsed = parseCommandLine(line);
      if (!parsed.ok) {
        if (parsed.reason !== 'empty') this.queue.push({ verb: '', arg: parsed.reason });
      } else if (parsed.command.verb === 'ABOR' && this.transfer) {
        // ABOR interrupts a running transfer (RFC 959 §4.1.3); it does not wait its turn.
        void this.abortTransfer();
      } else {
        this.queue.push(parsed.command);
      }
    }
    if (this.queue.length >= MAX_QUEUED) this.client.pause();
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0 && !this.closed) {
      const { verb, arg } = this.queue.shift()!;
      try {
        if (verb === '') this.reject(reply(500, arg === 'oversize' ? 'Command line too long.' : 'Syntax error, command unrecognized.'), arg === 'bad-verb' ? 'badCommand' : 'protocolAbuse');
        else await this.execute(verb, arg);
      } catch (err) {
        if (err instanceof LocalReply) this.respond(err.reply);
        else if (err instanceof BackendGoneError) this.backendLost(err.message);
        else {
          this.log.error({ err, command: verb }, 'command crashed');
          this.send(reply(451, 'Local error in processing.'));
        }
      }
      if (this.queue.length < MAX_QUEUED / 2) this.client.resume();
    }
    this.pumping = false;
    if (this.draining && !this.transfer) this.drain();
  }

  private respond(r: Reply): void {
    if (r.code === 500 || r.code === 501) this.reject(r, 'badCommand');
    else this.send(r);
  }

  private reject(r: Reply, offence: Offence): void {
    if (this.ctx.defender.record(this.clientAddress, offence).banned) this.closeWith(reply(421, BANNED_TEXT), `address banned (${offence})`);
    else this.send(r);
  }

  /* ---------- commands ---------- */

  private async execute(verb: string, arg: string): Promise<void> {
    if (!this.loggedIn && verb !== 'USER' && verb !== 'PASS' && ++this.preLoginCommands > this.config.limits.defender.preLoginCommands) {
      this.ctx.defender.record(this.clientAddress, 'protocolAbuse');
    }
    if (!this.loggedIn && this.ctx.defender.isBanned(this.clientAddress)) return this.closeWith(reply(421, BANNED_TEXT), 'address banned');
    const line = arg === '' ? verb : `${verb} ${arg}`;
    switch (verb) {
      case 'AUTH':
        return this.auth(arg);
      case 'PBSZ':
        if (!this.tlsContext) throw new LocalReply(reply(503, 'PBSZ needs AUTH TLS first.'));
        this.pbszDone = true;
        return this.send(reply(200, 'PBSZ=0'));
      case 'PROT':
        return this.prot(arg);
      case 'CCC':
        throw new LocalReply(reply(534, 'CCC refused: the control connection stays encrypted.'));
      case 'USER':
        return this.user(arg, line);
      case 'PASS':
        return this.pass(line);
      case 'QUIT':
        return this.quit();
      case 'REIN':
        this.dropBackend();
        this.loggedIn = false;
        this.userName = null;
        this.client.startLoginTimer();
        return this.send(reply(220, 'Ready for a new user.'));
      case 'FEAT':
        return this.feat();
      case 'ABOR':
        this.closeData();
        if (!this.control) return this.send(reply(226, 'No transfer to abort.'));
        return this.send(await this.ask('ABOR'));
      case 'PASV':
      case 'EPSV':
      case 'PORT':
      case 'EPRT':
        this.requireLogin();
        return this.send(await this.setUpData(verb, arg));
    }
    if (TRANSFER_VERBS[verb]) {
      this.requireLogin();
      return this.runTransfer(verb, line);
    }
    if (!this.control) {
      const local = LOCAL_BEFORE_LOGIN[verb];
      if (local) return this.send(local);
      throw new LocalReply(reply(530, 'Please login with USER and PASS.'));
    }
    this.respond(await this.ask(line));
  }

  private requireLogin(): void {
    if (!this.loggedIn) throw new LocalReply(reply(530, 'Please login with USER and PASS.'));
  }

  /** Sends a command to the backend; its final reply within the backend timeout. */
  private async ask(line: string): Promise<Reply> {
    const control = this.control;
    if (!control) throw new LocalReply(reply(503, 'Login with USER first.'));
    return withTimeout(control.command(line), this.config.backendTimeout * 1000, `no reply to ${line.split(' ')[0]}`);
  }

  private async auth(arg: string): Promise<void> {
    const mech = arg.trim().toUpperCase();
    if (!this.ctx.tls) throw new LocalReply(reply(502, 'TLS is not enabled on this gateway.'));
    if (mech !== 'TLS' && mech !== 'SSL' && mech !== 'TLS-C') throw new LocalReply(reply(504, 'AUTH TLS or AUTH SSL only.'));
    if (this.tlsContext) throw new LocalReply(reply(503, 'Already secured.'));
    this.send(reply(234, `AUTH ${mech} ok; start the TLS handshake.`));
    try {
      await this.secureControl();
    } catch {
      this.socket.destroy();
    }
  }

  private async secureControl(): Promise<void> {
    const secure = await this.client.secure(this.ctx.tls!.sessionContext());
    this.log.info({ protocol: secure.getProtocol() }, 'client control connection secured');
  }

  private prot(arg: string): void {
    const level = arg.trim().toUpperCase();
    if (!this.tlsContext || !this.pbszDone) throw new LocalReply(reply(503, 'PROT needs AUTH TLS and PBSZ first.'));
    if (level === 'P') this.protectData = true;
    else if (level === 'C') {
      if (this.config.tls.policy === 'data') throw new LocalReply(reply(534, 'Data connections must be encrypted (PROT P).'));
      this.protectData = false;
    } else throw new LocalReply(reply(504, 'PROT C or PROT P only.'));
    this.send(reply(200, `PROT ${level} ok.`));
  }

  private async user(name: string, line: string): Promise<void> {
    if (this.config.tls.policy !== 'optional' && !this.tlsContext) {
      throw new LocalReply(reply(530, 'TLS required: use AUTH TLS before USER.'));
    }
    // A new user after a login, or a backend chosen for another user: start over.
    if (this.control && (this.loggedIn || (this.ctx.pool.choosesByUser && name !== this.userName))) this.dropBackend();
    this.loggedIn = false;
    this.userName = name;
    if (!this.control) await this.connectBackend();
    if (!this.control) return;
    this.log = this.log.child({ user: name });
    this.send(await this.ask(line));
  }

  private async pass(line: string): Promise<void> {
    if (!this.control || this.userName === null) throw new LocalReply(reply(503, 'Login with USER first.'));
    const r = await this.ask(line);
    if (r.code === 230) {
      this.loggedIn = true;
      this.client.endLoginTimer();
      this.ctx.metrics.login(true);
      this.log.info({ backend: this.backend!.config.name }, 'logged in');
    } else if (r.code === 530) {
      this.ctx.metrics.login(false);
      this.log.warn('login failed');
      if (this.ctx.defender.record(this.clientAddress, 'failedLogin').banned) return this.closeWith(reply(421, BANNED_TEXT), 'address banned (failedLogin)');
    }
    this.send(r);
  }

  private async quit(): Promise<void> {
    let r = reply(221, 'Goodbye.');
    if (this.control) r = await this.ask('QUIT').catch(() => r);
    this.closeWith(r, 'quit');
  }

  private async feat(): Promise<void> {
    const own = [...(this.ctx.tls ? TLS_FEATURES : []), ...GATEWAY_FEATURES];
    let lines = own;
    if (this.control) {
      const r = await this.ask('FEAT');
      if (r.code === 211) {
        const skip = new Set(['AUTH', 'PBSZ', 'PROT', 'CCC', 'EPRT', 'EPSV', 'UTF8']);
        const theirs = r.lines.slice(1, -1).map((l) => l.trim()).filter((l) => l && !skip.has(l.split(' ')[0]!.toUpperCase()));
        lines = [...own, ...theirs];
      }
    }
    this.send({ code: 211, lines: ['Features:', ...lines.map((l) => ` ${l}`), 'End'] });
  }

  /* ---------- the backend ---------- */

  /** Picks a backend and connects, trying the others when one fails. */
  private async connectBackend(): Promise<void> {
    const tried = new Set<string>();
    for (;;) {
      const b = this.ctx.pool.pick({ clientAddress: this.clientAddress, user: this.userName, exclude: tried });
      if (!b) {
        this.log.warn({ tried: [...tried] }, 'no backend available');
        return this.closeWith(reply(421, 'No server available behind this gateway; try again later.'), 'no backend');
      }
      tried.add(b.config.name);
      this.ctx.pool.acquire(b);
      try {
        this.control = await BackendControl.open({
          config: b.config,
          timeoutMs: this.config.backendTimeout * 1000,
          proxyHeader: b.config.proxyProtocol
            ? encodeProxyV2(
                { address: this.clientAddress, port: this.clientPort },
                { address: this.connectedTo, port: this.connectedPort },
                Buffer.from(this.id, 'hex'),
              )
            : null,
          onReplyWithoutCommand: (r) => this.unsolicited(r),
          onLost: (why) => this.backendLost(why),
        });
        this.backend = b;
        this.log = this.log.child({ backend: b.config.name });
        this.log.info({ host: b.config.host, port: b.config.port, tls: b.config.tls }, 'backend connected');
        return;
      } catch (err) {
        this.ctx.pool.release(b);
        this.ctx.metrics.backendFailure(b.config.name);
        this.log.warn({ backend: b.config.name, err: (err as Error).message }, 'backend connection failed');
      }
    }
  }

  /** A reply no command asked for: a backend closing the session (421) or noise. */
  private unsolicited(r: Reply): void {
    this.send(r);
    if (r.code === 421) this.closeWith(reply(421, 'Closing.'), 'backend sent 421');
  }

  private backendLost(why: string): void {
    if (this.closed) return;
    const name = this.backend?.config.name;
    this.log.warn({ backend: name, why }, 'backend lost');
    this.ctx.metrics.backendFailure(name ?? 'unknown');
    this.closeWith(reply(421, `The server behind this gateway (${name}) went away; closing.`), 'backend lost');
  }

  private dropBackend(): void {
    const control = this.control;
    const b = this.backend;
    this.control = null;
    this.backend = null;
    this.backendLacksEpsv = false;
    if (control) {
      control.command('QUIT').catch(() => {});
      control.close();
    }
    if (b) this.ctx.pool.release(b);
  }

  /* ---------- data connections ---------- */

  private closeData(): void {
    this.data?.client.close();
    this.data?.backend.close();
    this.data = null;
  }

  /** PASV/EPSV/PORT/EPRT: the client's leg as asked, and the backend's by its data policy. */
  private async setUpData(verb: string, arg: string): Promise<Reply> {
    this.closeData();
    if (this.epsvAll && verb !== 'EPSV') throw new LocalReply(reply(503, 'EPSV ALL in effect; only EPSV is allowed.'));
    const clientMode: DataMode = verb === 'PASV' || verb === 'EPSV' ? 'passive' : 'active';
    let epsvFamilyOk = true;
    let activeTarget: HostPort | null = null;
    if (verb === 'EPSV') {
      const parsed = parseEpsvArg(arg);
      if (!parsed) throw new LocalReply(reply(501, 'Syntax: EPSV [1 | 2 | ALL]'));
      if (parsed.kind === 'all') {
        this.epsvAll = true;
        return reply(200, 'EPSV ALL ok.');
      }
      if (parsed.kind === 'family') epsvFamilyOk = parsed.family === (isIPv6(this.localAddress) ? 6 : 4);
      if (!epsvFamilyOk) throw new LocalReply(reply(522, `Network protocol not supported, use (${isIPv6(this.localAddress) ? 2 : 1}).`));
    }
    if (clientMode === 'passive' && !this.config.passive.enabled) throw new LocalReply(reply(504, 'Passive mode is disabled; use PORT or EPRT.'));
    if (verb === 'PASV' && this.ctx.advertised.forClient(this.clientAddress, this.connectedTo) === null) {
      throw new LocalReply(reply(522, 'PASV cannot express an IPv6 address; use EPSV.'));
    }
    if (clientMode === 'active') activeTarget = this.activeTarget(verb, arg);
    const policy = this.backend!.config.dataPolicy;
    const backendMode: DataMode = policy === 'client' ? clientMode : policy;
    const backendLeg = await this.backendLeg(backendMode);
    let client: DataChannel;
    try {
      client = activeTarget ? this.activeClientLeg(activeTarget) : await this.passiveClientLeg();
    } catch (err) {
      backendLeg.close();
      throw err;
    }
    this.data = { client, backendMode, backend: backendLeg };
    if (activeTarget) return reply(200, `${verb} command successful.`);
    const port = (client as PassiveDataChannel).port;
    if (verb === 'EPSV') return reply(229, `Entering Extended Passive Mode ${formatEpsvArg(port)}.`);
    const host = this.ctx.advertised.forClient(this.clientAddress, this.connectedTo)!;
    return reply(227, `Entering Passive Mode (${formatPasvArg({ host, port })}).`);
  }

  private activeTarget(verb: string, arg: string): HostPort {
    if (!this.config.active.enabled) throw new LocalReply(reply(504, 'Active mode is disabled; use PASV or EPSV.'));
    let named: HostPort | null;
    if (verb === 'PORT') {
      named = parsePortArg(arg);
      if (!named) throw new LocalReply(reply(501, 'Syntax: PORT h1,h2,h3,h4,p1,p2'));
    } else {
      const parsed = parseEprtArg(arg);
      if (parsed === 'unsupported') throw new LocalReply(reply(522, 'Network protocol not supported, use (1,2).'));
      if (!parsed) throw new LocalReply(reply(501, 'Syntax: EPRT |proto|address|port|'));
      named = parsed;
    }
    const decision = decideActiveTarget(named, this.clientAddress, this.config.active);
    if (!decision.ok) {
      this.log.warn({ target: named.host, port: named.port }, `refused active connection to ${decision.why}`);
      throw new LocalReply(reply(504, decision.message));
    }
    return decision.target;
  }

  private activeClientLeg(target: HostPort): DataChannel {
    return new ActiveDataChannel({
      host: target.host,
      port: target.port,
      localAddress: this.localAddress,
      localPort: activeSourcePort(this.config.active.sourcePort, this.localPort),
      connectTimeoutMs: this.config.active.connectTimeout * 1000,
      onRefused: () => this.ctx.metrics.dataFailure('active_connect_refused'),
    });
  }

  /** Data connections come from the control connection's TCP peer (the gateway reads no PROXY header on them). */
  private async passiveClientLeg(): Promise<PassiveDataChannel> {
    const { metrics } = this.ctx;
    return this.leasePassive(this.localAddress, this.config.passive.requireSameAddress ? this.tcpPeer : null, (address) => {
      this.log.warn({ from: address }, 'refused data connection from another address');
      metrics.dataFailure('peer_mismatch');
      this.ctx.defender.record(address, 'foreignDataConnection');
    });
  }

  private async leasePassive(bindAddress: string, expectedPeer: string | null, onForeignPeer: (a: string) => void): Promise<PassiveDataChannel> {
    const { metrics, passivePorts } = this.ctx;
    try {
      return await PassiveDataChannel.create({
        pool: passivePorts,
        bindAddress,
        expectedPeer,
        acceptTimeoutMs: this.config.passive.acceptTimeout * 1000,
        onForeignPeer,
        onTimeout: () => metrics.dataFailure('accept_timeout'),
      });
    } catch (err) {
      if (!(err instanceof PassivePortsExhaustedError)) throw err;
      this.log.warn({ range: `${passivePorts.min}-${passivePorts.max}` }, 'passive ports exhausted');
      metrics.dataFailure('port_exhaustion');
      throw new LocalReply(reply(425, err.message));
    }
  }

  /**
   * The backend's leg. Passive: EPSV (PASV when the backend lacks it), and we
   * connect to the port it names on the address we reached it at. Active: we
   * listen and send PORT/EPRT with our address toward it.
   */
  private async backendLeg(mode: DataMode): Promise<DataChannel> {
    const control = this.control!;
    const backendAddress = control.remoteAddress;
    const connectTimeoutMs = this.config.backendTimeout * 1000;
    if (mode === 'passive') {
      let r: Reply | null = null;
      let port: number | null = null;
      if (!this.backendLacksEpsv) {
        r = await this.ask('EPSV');
        port = r.code === 229 ? parseEpsvReply(r.lines.join(' ')) : null;
        if (r.code >= 500) this.backendLacksEpsv = true;
      }
      if (port === null && (r === null || r.code >= 500) && isIPv4(backendAddress)) {
        r = await this.ask('PASV');
        port = r.code === 227 ? (parsePasvReply(r.lines.join(' '))?.port ?? null) : null;
      }
      if (port === null) throw new LocalReply(backendDataReply(r));
      return new ActiveDataChannel({
        host: backendAddress,
        port,
        connectTimeoutMs,
        onRefused: () => this.ctx.metrics.dataFailure('backend_connect_refused'),
      });
    }
    const leg = await this.leasePassive(control.localAddress, backendAddress, (address) => {
      this.log.warn({ from: address }, 'refused backend data connection from another address');
    });
    const ours = this.backend!.config.activeAddress ?? control.localAddress;
    try {
      const r = await this.ask(isIPv4(ours) ? `PORT ${formatPasvArg({ host: ours, port: leg.port })}` : `EPRT |2|${ours}|${leg.port}|`);
      if (r.code !== 200) throw new LocalReply(backendDataReply(r));
      return leg;
    } catch (err) {
      leg.close();
      throw err;
    }
  }

  /* ---------- transfers ---------- */

  private async runTransfer(verb: string, line: string): Promise<void> {
    const legs = this.data;
    this.data = null;
    if (!legs) throw new LocalReply(reply(425, 'Use PORT, EPRT, PASV or EPSV first.'));
    if (!this.protectData && this.config.tls.policy === 'data') {
      legs.client.close();
      legs.backend.close();
      throw new LocalReply(reply(521, 'Data connections must be encrypted: use PROT P.'));
    }
    const direction = TRANSFER_VERBS[verb]!;
    let finish!: () => void;
    const t: RunningTransfer = { relay: null, aborted: false, legs, finished: new Promise((r) => (finish = r)) };
    this.transfer = t;
    const started = Date.now();
    let outcome: { result: 'ok' | 'aborted' | 'failed'; up: number; down: number } = { result: 'failed', up: 0, down: 0 };
    try {
      outcome = await this.relayTransfer(line, t);
    } finally {
      legs.client.close();
      legs.backend.close();
      this.transfer = null;
      finish();
      const bytes = direction === 'upload' ? outcome.up : outcome.down;
      this.log.info({ command: verb, direction, clientMode: legs.client.mode, backendMode: legs.backendMode, bytes, seconds: (Date.now() - started) / 1000, result: outcome.result }, 'transfer');
      this.ctx.metrics.transfer(direction, legs.client.mode, outcome.result, bytes);
      this.client.touch();
    }
  }

  private async relayTransfer(line: string, t: RunningTransfer): Promise<{ result: 'ok' | 'aborted' | 'failed'; up: number; down: number }> {
    const control = this.control!;
    const { legs } = t;
    const failed = { result: 'failed' as const, up: 0, down: 0 };
    // Toward a passive backend we connect before the command, as a client would.
    const backendSocket = legs.backend.open();
    backendSocket.catch(() => {});
    if (legs.backendMode === 'passive') {
      try {
        await backendSocket;
      } catch (err) {
        this.send(reply(425, `Can't open data connection to the server: ${(err as Error).message}`));
        return failed;
      }
    }
    let onFirst!: (r: Reply) => void;
    const firstPreliminary = new Promise<Reply>((r) => (onFirst = r));
    let seenPreliminary = false;
    const final = control.command(line, (r) => {
      if (seenPreliminary) return this.send(r);
      seenPreliminary = true;
      onFirst(r);
    });
    final.catch(() => {});
    const first = await Promise.race([firstPreliminary, final]);
    if (!isPreliminary(first)) {
      void backendSocket.then((s) => s.destroy(), () => {});
      this.send(first);
      return failed;
    }
    this.send(first);
    let relay: DataRelay;
    try {
      let clientSocket: Socket = await legs.client.open();
      if (this.protectData) clientSocket = await this.secureClientData(clientSocket);
      let toBackend: Socket = await backendSocket;
      if (control.secure) toBackend = await startTls(toBackend, { ...backendTlsOptions(this.backend!.config), session: control.tlsSession }, this.config.backendTimeout * 1000);
      relay = new DataRelay(clientSocket, toBackend, this.config.limits.dataTimeout * 1000);
    } catch (err) {
      // The backend learns of it when its data connection goes: its final reply follows.
      void backendSocket.then((s) => s.destroy(), () => {});
      legs.backend.close();
      this.log.info({ err: (err as Error).message }, 'data connection failed');
      const r = await withTimeout(final, this.config.backendTimeout * 1000, 'no final reply').catch(() => null);
      this.send(err instanceof LocalReply ? err.reply : reply(425, `Can't open data connection: ${(err as Error).message}`));
      if (r === null && !this.closed) this.backendLost('no reply after a failed data connection');
      return failed;
    }
    t.relay = relay;
    if (t.aborted) relay.abort();
    const moved = await relay.done;
    // A download's 226 goes out only after its last byte reached the client.
    const r = await withTimeout(final, this.config.backendTimeout * 1000, 'no final reply after the transfer');
    this.send(r);
    const result = t.aborted ? 'aborted' : r.code === 226 || r.code === 250 ? (moved.complete ? 'ok' : 'aborted') : 'failed';
    return { result, up: moved.up, down: moved.down };
  }

  private async secureClientData(socket: Socket): Promise<TLSSocket> {
    let secure: TLSSocket;
    try {
      secure = await acceptTls(socket, this.tlsContext!, this.config.tls.handshakeTimeout * 1000);
    } catch (err) {
      throw new LocalReply(reply(522, `TLS negotiation on the data connection failed: ${(err as Error).message}.`));
    }
    if (this.config.tls.requireSessionReuse && !secure.isSessionReused()) {
      secure.destroy();
      this.log.warn('data connection did not reuse the control TLS session; refused');
      this.ctx.metrics.dataFailure('tls_reuse_refused');
      throw new LocalReply(reply(522, 'TLS session reuse required on the data connection.'));
    }
    secure.on('error', () => {});
    return secure;
  }

  /** ABOR during a transfer: cut both data connections; the backend's 426 and then its ABOR reply follow. */
  private async abortTransfer(): Promise<void> {
    const t = this.transfer!;
    t.aborted = true;
    t.relay?.abort();
    t.legs.client.close();
    t.legs.backend.close();
    try {
      const r = await this.ask('ABOR');
      await t.finished;
      this.send(r);
    } catch (err) {
      if (err instanceof BackendGoneError) this.backendLost(err.message);
    }
  }
}

function backendDataReply(r: Reply | null): Reply {
  if (r && r.code >= 400) return reply(425, `The server behind this gateway refused a data connection (${r.code} ${r.lines.join(' ')}).`);
  return reply(425, 'The server behind this gateway gave no usable data port.');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendGoneError(`${what} within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

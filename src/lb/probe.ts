/**
 * `ftpfleet probe`: checks an FTP service from the client's side, as a device
 * would meet it. Logs in, asks STAT which node answered, then for each of
 * PASV, EPSV, PORT and EPRT uploads a random file, downloads it, compares
 * sha256 and deletes it, and says in one line what is likely wrong when a
 * mode fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { formatEprtArg, formatPasvArg, parseEpsvReply, parsePasvReply } from '../protocol/hostPort.js';
import type { Reply } from '../protocol/replies.js';
import { ActiveListener, connectData, ControlConnection, NetError, receiveAll, sendAll } from './probeClient.js';
import {
  activeSourceNote,
  activeTimeoutCause,
  commandRefusedCause,
  DATA_MODES,
  passiveConnectCause,
  transferReplyCause,
  type DataMode,
  type ProbeTarget,
} from './probeDiagnosis.js';
import { nodeFromStat, replyText } from './probeReply.js';

export interface ProbeOptions {
  /** Seconds each step (connect, reply, data connection) may take. */
  timeoutSeconds: number;
  /** Bytes uploaded and downloaded per mode. */
  size?: number;
  modes?: readonly DataMode[];
}

export interface ControlResult {
  ok: boolean;
  /** The address the control connection reached. */
  address: string | null;
  greeting: string | null;
  loggedIn: boolean;
  /** Node id from the STAT reply (ftpfleet says "Node <id>"), null when the server names none. */
  node: string | null;
  error?: string;
  cause?: string;
}

export interface ModeResult {
  mode: DataMode;
  ok: boolean;
  /** The node of the session that ran this mode. */
  node: string | null;
  /** PASV: the address:port of the 227 reply; EPSV: the port (on the control address); PORT/EPRT: what the client sent. */
  advertised: string | null;
  /** PORT/EPRT: where the server's data connection came from. */
  connectedFrom: string | null;
  bytes: number;
  error?: string;
  cause?: string;
  notes: string[];
}

export interface ProbeReport {
  target: string;
  control: ControlResult;
  modes: ModeResult[];
  ok: boolean;
}

/** A failed step: what happened, and the likely cause. */
class StepFailure extends Error {
  constructor(
    readonly error: string,
    readonly why: string,
  ) {
    super(error);
  }
}

const pretty = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

interface Session {
  ctl: ControlConnection;
  node: string | null;
}

function connectCause(err: NetError, target: ProbeTarget): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `nothing listens on ${pretty(target.host, target.port)}: is the node (or the balancer's control port) up?`;
    case 'ETIMEDOUT':
      return `no answer from ${pretty(target.host, target.port)}: a firewall drops the control port, or the balancer has no healthy node`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name ${target.host} does not resolve`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${target.host}`;
    default:
      return `cannot reach ${pretty(target.host, target.port)} (${err.code})`;
  }
}

async function expect(ctl: ControlConnection, line: string, ok: (code: number) => boolean, t: number, cause: (r: Reply) => string): Promise<Reply> {
  const r = await ctl.command(line, t);
  if (!ok(r.code)) throw new StepFailure(`${line.split(' ')[0]}: ${replyText(r)}`, cause(r));
  return r;
}

/** Connects, reads the greeting, logs in, TYPE I, CWD, STAT. */
async function openSession(target: ProbeTarget, t: number, result?: ControlResult): Promise<Session> {
  let ctl: ControlConnection;
  try {
    ctl = await ControlConnection.open(target.host, target.port, t);
  } catch (err) {
    const e = err as NetError;
    throw new StepFailure(e.message, connectCause(e, target));
  }
  if (result) result.address = ctl.remoteAddress;
  try {
    let greeting: Reply;
    try {
      do greeting = await ctl.next(t);
      while (greeting.code >= 100 && greeting.code < 200);
    } catch (err) {
      const e = err as NetError;
      throw new StepFailure(
        `no greeting: ${e.message}`,
        e.code === 'ETIMEDOUT'
          ? 'the server accepted the connection but never greeted: a node that waits for a PROXY header (proxyProtocol.control: required) reached directly, or a stuck balancer'
          : 'the connection closed before the greeting: no healthy node behind the balancer, a node that refuses this address (ban, deny list, untrusted PROXY peer), or a PROXY header mismatch',
      );
    }
    if (result) result.greeting = replyText(greeting);
    if (greeting.code !== 220) {
      throw new StepFailure(`greeting: ${replyText(greeting)}`, `the server refused the session (limits, ban or shutdown): "${replyText(greeting)}"`);
    }
    const loginCause = (r: Reply) =>
      /TLS|SSL|AUTH/i.test(r.lines.join(' '))
        ? `the server requires TLS before login: "${replyText(r)}"`
        : `login failed for user "${target.user}": "${replyText(r)}" — check the user name and password in the URL`;
    const user = await expect(ctl, `USER ${target.user}`, (c) => c === 230 || c === 331, t, loginCause);
    if (user.code === 331) await expect(ctl, `PASS ${target.password}`, (c) => c === 230 || c === 202, t, loginCause);
    if (result) result.loggedIn = true;
    await expect(ctl, 'TYPE I', (c) => c === 200, t, (r) => `the server refused binary mode: "${replyText(r)}"`);
    if (target.dir) {
      await expect(ctl, `CWD ${target.dir}`, (c) => c === 250, t, (r) => `cannot change to directory "${target.dir}": "${replyText(r)}"`);
    }
    const stat = await ctl.command('STAT', t);
    const node = stat.code >= 200 && stat.code < 300 ? nodeFromStat(stat) : null;
    if (result) result.node = node;
    return { ctl, node };
  } catch (err) {
    ctl.destroy();
    if (err instanceof NetError) throw new StepFailure(err.message, 'the server dropped the session during login');
    throw err;
  }
}

interface DataPlan {
  advertised: string;
  /** Passive: the connected socket. Active: the listener to wait on. */
  socket?: Socket;
  listener?: ActiveListener;
}

/** PASV/EPSV/PORT/EPRT and, for passive modes, the data connection. */
async function prepareData(ctl: ControlConnection, mode: DataMode, t: number, notes: string[]): Promise<DataPlan> {
  const controlPeer = ctl.remoteAddress;
  if (mode === 'PASV' || mode === 'EPSV') {
    const r = await ctl.command(mode, t);
    const wanted = mode === 'PASV' ? 227 : 229;
    if (r.code !== wanted) throw new StepFailure(`${mode}: ${replyText(r)}`, commandRefusedCause(mode, r));
    let host: string;
    let port: number;
    if (mode === 'PASV') {
      const hp = parsePasvReply(r.lines.join(' '));
      if (!hp) throw new StepFailure(`PASV: ${replyText(r)}`, 'the 227 reply carries no address h1,h2,h3,h4,p1,p2 this client can read');
      ({ host, port } = hp);
      if (host === '0.0.0.0') {
        notes.push(`PASV advertised 0.0.0.0: connected to the control address ${controlPeer} instead`);
        host = controlPeer;
      }
    } else {
      const p = parseEpsvReply(r.lines.join(' '));
      if (p === null) throw new StepFailure(`EPSV: ${replyText(r)}`, 'the 229 reply carries no (|||port|) this client can read');
      host = controlPeer;
      port = p;
    }
    const advertised = mode === 'PASV' ? pretty(host, port) : `port ${port} (on ${controlPeer})`;
    try {
      const socket = await connectData(host, port, t);
      return { advertised, socket };
    } catch (err) {
      const e = err as NetError;
      throw Object.assign(new StepFailure(e.message, passiveConnectCause({ mode, host, port, controlPeer, code: e.code })), { advertised });
    }
  }
  const local = ctl.localAddress;
  if (mode === 'PORT' && ctl.family === 6) {
    throw new StepFailure(`PORT: this control connection uses IPv6 (${local})`, 'PORT carries only IPv4 addresses: probe over IPv4 to test PORT (devices on IPv6 need EPRT)');
  }
  let listener: ActiveListener;
  try {
    listener = await ActiveListener.open(local);
  } catch (err) {
    throw new StepFailure((err as Error).message, 'this client cannot listen for the active data connection');
  }
  const arg = mode === 'PORT' ? formatPasvArg({ host: local, port: listener.port }) : formatEprtArg({ family: ctl.family, host: local, port: listener.port });
  const advertised = pretty(local, listener.port);
  const r = await ctl.command(`${mode} ${arg}`, t);
  if (r.code !== 200) {
    listener.close();
    throw Object.assign(new StepFailure(`${mode}: ${replyText(r)}`, commandRefusedCause(mode, r, local)), { advertised });
  }
  return { advertised, listener };
}

/** STOR or RETR over a data plan; returns the downloaded bytes for RETR. */
async function transfer(ctl: ControlConnection, mode: DataMode, plan: DataPlan, command: string, body: Buffer | null, t: number): Promise<{ data: Buffer | null; from: string | null }> {
  let socket = plan.socket ?? null;
  let from: string | null = null;
  try {
    ctl.send(command);
    const replyP = ctl.next(t);
    replyP.catch(() => {});
    let first: Reply | null = null;
    if (plan.listener) {
      const acceptP = plan.listener.accept(t);
      acceptP.catch(() => {});
      const winner = await Promise.race([replyP.then((r) => ({ r })), acceptP.then((s) => ({ s }))]).catch((err: NetError) => ({ err }));
      if ('err' in winner) {
        if (winner.err.code === 'ETIMEDOUT') throw new StepFailure(`${command.split(' ')[0]}: ${winner.err.message}`, activeTimeoutCause(mode as 'PORT' | 'EPRT'));
        throw new StepFailure(winner.err.message, 'the control connection broke during the transfer');
      }
      if ('r' in winner) {
        first = winner.r;
        if (first.code >= 300) throw new StepFailure(`${command.split(' ')[0]}: ${replyText(first)}`, transferReplyCause(mode, first, false));
        try {
          socket = await acceptP;
        } catch (err) {
          const e = err as NetError;
          // The server may have given up first and said so.
          const late = await ctl.next(Math.min(t, 2000)).catch(() => null);
          if (late && late.code >= 400) throw new StepFailure(`${command.split(' ')[0]}: ${replyText(late)}`, transferReplyCause(mode, late, false));
          throw new StepFailure(`${command.split(' ')[0]}: ${e.message}`, activeTimeoutCause(mode as 'PORT' | 'EPRT'));
        }
      } else {
        socket = winner.s;
      }
      from = pretty((socket.remoteAddress ?? '').replace(/^::ffff:/i, ''), socket.remotePort ?? 0);
    }
    if (!first) first = await replyP;
    if (first.code >= 300) throw new StepFailure(`${command.split(' ')[0]}: ${replyText(first)}`, transferReplyCause(mode, first, true));
    let data: Buffer | null = null;
    if (body) await sendAll(socket!, body, t);
    else data = await receiveAll(socket!, t);
    const done = await ctl.next(t);
    if (done.code !== 226 && done.code !== 250) throw new StepFailure(`${command.split(' ')[0]}: ${replyText(done)}`, transferReplyCause(mode, done, true));
    return { data, from };
  } catch (err) {
    if (err instanceof StepFailure) throw err;
    const e = err as NetError;
    throw new StepFailure(`${command.split(' ')[0]}: ${e.message}`, e.code === 'ETIMEDOUT' ? 'the transfer stalled: the balancer or a firewall cuts the data connection' : 'the connection broke during the transfer');
  } finally {
    socket?.destroy();
    plan.listener?.close();
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function runMode(session: Session, mode: DataMode, name: string, payload: Buffer, t: number, result: ModeResult): Promise<{ uploaded: boolean }> {
  const { ctl } = session;
  let uploaded = false;
  try {
    const up = await prepareData(ctl, mode, t, result.notes);
    result.advertised = up.advertised;
    const sent = await transfer(ctl, mode, up, `STOR ${name}`, payload, t);
    uploaded = true;
    result.connectedFrom = sent.from;
    const down = await prepareData(ctl, mode, t, result.notes);
    const got = await transfer(ctl, mode, down, `RETR ${name}`, null, t);
    const data = got.data!;
    if (sha256(data) !== sha256(payload)) {
      throw new StepFailure(
        `RETR: got ${data.length} bytes with sha256 ${sha256(data).slice(0, 16)}…, sent ${payload.length} with ${sha256(payload).slice(0, 16)}…`,
        'the file came back changed: a proxy in the data path alters or truncates it',
      );
    }
    result.bytes = payload.length;
    const del = await ctl.command(`DELE ${name}`, t);
    uploaded = false;
    if (del.code !== 250) result.notes.push(`could not delete ${name}: ${replyText(del)}`);
    if (sent.from) {
      const note = activeSourceNote(sent.from.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'), ctl.remoteAddress);
      if (note) result.notes.push(note);
    }
    result.ok = true;
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    result.error = err.error;
    result.cause = err.why;
    const adv = (err as StepFailure & { advertised?: string }).advertised;
    if (adv && !result.advertised) result.advertised = adv;
  }
  return { uploaded };
}

/** Runs the whole probe; never throws for network trouble (it is in the report). */
export async function runProbe(target: ProbeTarget, options: ProbeOptions): Promise<ProbeReport> {
  const t = Math.max(0.1, options.timeoutSeconds) * 1000;
  const size = options.size ?? 64 * 1024;
  const modes = options.modes ?? DATA_MODES;
  const control: ControlResult = { ok: false, address: null, greeting: null, loggedIn: false, node: null };
  const report: ProbeReport = { target: target.display, control, modes: [], ok: false };
  let session: Session | null;
  try {
    session = await openSession(target, t, control);
    control.ok = true;
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    control.error = err.error;
    control.cause = err.why;
    for (const mode of modes) {
      report.modes.push({ mode, ok: false, node: null, advertised: null, connectedFrom: null, bytes: 0, error: 'not run: no session', notes: [] });
    }
    return report;
  }
  const tag = randomBytes(4).toString('hex');
  let leftover: string | null = null;
  for (const mode of modes) {
    const result: ModeResult = { mode, ok: false, node: null, advertised: null, connectedFrom: null, bytes: 0, notes: [] };
    report.modes.push(result);
    if (!session) {
      // the previous mode left the session in an unknown state: start a fresh one
      try {
        session = await openSession(target, t);
      } catch (err) {
        if (!(err instanceof StepFailure)) throw err;
        result.error = `new session: ${err.error}`;
        result.cause = err.why;
        continue;
      }
      if (leftover) {
        await session.ctl.command(`DELE ${leftover}`, t).catch(() => null);
        leftover = null;
      }
    }
    result.node = session.node;
    const name = `ftpfleet-probe-${tag}-${mode.toLowerCase()}.bin`;
    const { uploaded } = await runMode(session, mode, name, randomBytes(size), t, result);
    if (!result.ok) {
      if (uploaded) leftover = name;
      session.ctl.destroy();
      session = null;
    }
  }
  if (session) {
    if (leftover) await session.ctl.command(`DELE ${leftover}`, t).catch(() => null);
    await session.ctl.quit(Math.min(t, 2000));
  } else if (leftover) {
    try {
      const s = await openSession(target, t);
      await s.ctl.command(`DELE ${leftover}`, t).catch(() => null);
      await s.ctl.quit(Math.min(t, 2000));
    } catch {
      report.modes[report.modes.length - 1]!.notes.push(`could not delete ${leftover}`);
    }
  }
  report.ok = report.modes.length > 0 && report.modes.every((m) => m.ok);
  return report;
}

/** The report as text for a terminal. */
export function formatProbeReport(report: ProbeReport): string {
  const c = report.control;
  const lines = [`ftpfleet probe ${report.target}`];
  if (c.address) lines.push(`  connected  ${c.address}`);
  if (c.greeting) lines.push(`  greeting   ${c.greeting}`);
  if (c.ok) {
    lines.push('  login      ok');
    lines.push(`  node       ${c.node ?? 'unknown (the STAT reply names no node: not ftpfleet?)'}`);
  } else {
    lines.push(`  session    FAILED: ${c.error}`, `             cause: ${c.cause}`);
  }
  for (const m of report.modes) {
    const label = m.mode.padEnd(10);
    const adv = m.advertised ? (m.mode === 'PORT' || m.mode === 'EPRT' ? `sent ${m.advertised}` : `advertised ${m.advertised}`) : '';
    const node = m.node && m.node !== c.node ? ` (node ${m.node})` : '';
    if (m.ok) {
      const from = m.connectedFrom ? `, server connected from ${m.connectedFrom}` : '';
      lines.push(`  ${label} ok      ${adv}${from}; ${m.bytes / 1024} KiB up and down, sha256 match${node}`);
    } else {
      lines.push(`  ${label} FAILED  ${adv}${node}`.trimEnd());
      if (m.error) lines.push(`             error: ${m.error}`);
      if (m.cause) lines.push(`             cause: ${m.cause}`);
    }
    for (const n of m.notes) lines.push(`             note: ${n}`);
  }
  const okCount = report.modes.filter((m) => m.ok).length;
  lines.push(`result: ${okCount} of ${report.modes.length} data modes work${report.ok ? '' : ' — FAILED'}`);
  return lines.join('\n') + '\n';
}

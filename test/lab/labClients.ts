/**
 * Real FTP clients (curl, lftp, `ftpfleet probe`) run inside the lab's
 * client namespaces, made strict the way ../shared/lab/selftest.sh does it:
 * no silent fallback to another data mode, no fixing of PASV addresses, and
 * the transcript checked for the data command and its 2xx reply.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Lab, type RunResult, VIP } from './lab.js';

export type DataMode = 'PASV' | 'EPSV' | 'PORT' | 'EPRT';
export const DATA_MODES: DataMode[] = ['PASV', 'EPSV', 'PORT', 'EPRT'];
export type ClientNode = 'client' | 'natclient';

export interface ClientContext {
  lab: Lab;
  user: string;
  password: string;
  /** The local file every upload sends, and its sha256. */
  payload: string;
  payloadSha: string;
  /** Where downloads and transcripts go. */
  workDir: string;
  /** The ftpfleet CLI (for `ftpfleet probe`). */
  cli: string;
}

export interface CellResult {
  result: 'ok' | 'FAIL' | 'n/a';
  reason: string;
  /** The node whose banner greeted the session ("ftpfleet lab sN ready"). */
  node: string | null;
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export const CURL_MODE_ARGS: Record<DataMode, string[]> = {
  PASV: ['--ftp-pasv', '--disable-epsv', '--no-ftp-skip-pasv-ip'],
  EPSV: ['--ftp-pasv'],
  PORT: ['-P', '-', '--disable-eprt'],
  EPRT: ['-P', '-'],
};

export interface CurlTransfer {
  run: RunResult;
  /** curl's -v transcript, CR stripped. */
  log: string;
  node: string | null;
  /** The server said 150 (the transfer started) / 226 (it completed). */
  saw150: boolean;
  saw226: boolean;
}

/** One curl session: upload `local` as `remote`, or download `remote` to `local`. */
export async function curlTransfer(
  ctx: ClientContext,
  opts: { client: ClientNode; dmode: DataMode; direction: 'up' | 'down'; remote: string; local: string; source?: string; extra?: string[]; maxTimeS?: number },
): Promise<CurlTransfer> {
  const maxTime = opts.maxTimeS ?? 15;
  const args = [
    'curl', '-sS', '-v', '--connect-timeout', '5', '--max-time', String(maxTime),
    '-u', `${ctx.user}:${ctx.password}`,
    ...CURL_MODE_ARGS[opts.dmode],
    ...(opts.source ? ['--interface', opts.source] : []),
    ...(opts.extra ?? []),
    ...(opts.direction === 'up' ? ['-T', opts.local] : ['-o', opts.local]),
    `ftp://${VIP}/${opts.remote}`,
  ];
  const run = await ctx.lab.exec(opts.client, args, (maxTime + 15) * 1000);
  const log = (run.stderr + run.stdout).replace(/\r/g, '');
  return {
    run,
    log,
    node: /^< 220 ftpfleet lab (s\d+)/m.exec(log)?.[1] ?? null,
    saw150: /^< 150 /m.test(log),
    saw226: /^< 226 /m.test(log),
  };
}

/** The data port of the last 227 or 229 reply in a curl transcript. */
export function advertisedPort(log: string): number | null {
  const pasv = [...log.matchAll(/^< 227 .*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/gm)].at(-1);
  const epsv = [...log.matchAll(/^< 229 .*\(\|\|\|(\d+)\|\)/gm)].at(-1);
  if (pasv) return Number(pasv[5]) * 256 + Number(pasv[6]);
  return epsv ? Number(epsv[1]) : null;
}

/** The first reply after the last time `cmd` was sent (curl "> "/"< " or lftp "---> "/"<--- " transcripts). */
export function replyAfter(log: string, cmd: string): string | null {
  const lines = log.split('\n');
  let want = false;
  let found: string | null = null;
  for (const line of lines) {
    if (new RegExp(`^(> |---> )${cmd}( |$)`).test(line)) {
      want = true;
      found = null;
      continue;
    }
    const m = /^(?:< |<--- )(\d{3}[ -].*)$/.exec(line);
    if (want && m) {
      found = m[1]!;
      want = false;
    }
  }
  return found;
}

function lastErrorReply(log: string): string | null {
  const all = [...log.matchAll(/^(?:< |<--- )([45]\d\d .*)$/gm)];
  return all.at(-1)?.[1] ?? null;
}

/** Checks that `cmd` was sent and answered 2xx; a reason when not. */
export function checkDataCommand(log: string, cmd: DataMode): string {
  if (!new RegExp(`^(> |---> )${cmd}( |$)`, 'm').test(log)) return `client never sent ${cmd}`;
  const r = replyAfter(log, cmd);
  return r?.startsWith('2') ? '' : `${cmd} -> ${r ?? 'no reply'}`;
}

function curlReason(t: CurlTransfer): string {
  const err = lastErrorReply(t.log);
  if (err) return `server: ${err}`;
  if (t.run.timedOut) return 'client timed out';
  const curlErr = /^curl: \(\d+\) (.*)$/m.exec(t.log)?.[1];
  return curlErr ? `curl exit ${t.run.code}: ${curlErr}` : `curl exit ${t.run.code}`;
}

/** One matrix cell with curl: upload, download, sha256 compared. */
export async function curlCell(ctx: ClientContext, client: ClientNode, dmode: DataMode, tag: string): Promise<CellResult> {
  const remote = `${tag}.curl.bin`;
  const local = join(ctx.workDir, `${tag}.curl.dl`);
  const up = await curlTransfer(ctx, { client, dmode, direction: 'up', remote, local: ctx.payload });
  writeFileSync(join(ctx.workDir, `${tag}.curl.up.log`), up.log);
  const node = up.node;
  if (up.run.code !== 0) return { result: 'FAIL', reason: `upload: ${curlReason(up)}`, node };
  let why = checkDataCommand(up.log, dmode);
  if (why) return { result: 'FAIL', reason: `upload: ${why}`, node };
  const down = await curlTransfer(ctx, { client, dmode, direction: 'down', remote, local });
  writeFileSync(join(ctx.workDir, `${tag}.curl.down.log`), down.log);
  if (down.run.code !== 0) return { result: 'FAIL', reason: `download: ${curlReason(down)}`, node };
  why = checkDataCommand(down.log, dmode);
  if (why) return { result: 'FAIL', reason: `download: ${why}`, node };
  const ok = existsSync(local) && sha256(local) === ctx.payloadSha;
  rmSync(local, { force: true });
  return ok ? { result: 'ok', reason: '', node } : { result: 'FAIL', reason: 'sha256 mismatch', node };
}

/** One matrix cell with lftp (strict settings from selftest.sh); EPRT is n/a (lftp sends it only over IPv6). */
export async function lftpCell(ctx: ClientContext, client: ClientNode, dmode: DataMode, tag: string): Promise<CellResult> {
  if (dmode === 'EPRT') return { result: 'n/a', reason: 'lftp sends EPRT only over IPv6', node: null };
  const passive = dmode === 'PORT' ? 'off' : 'on';
  const epsv = dmode === 'EPSV' ? 'yes' : 'no';
  const debugLog = join(ctx.workDir, `${tag}.lftp.log`);
  const local = join(ctx.workDir, `${tag}.lftp.dl`);
  rmSync(debugLog, { force: true });
  const script = [
    'set cmd:fail-exit yes; set net:timeout 4; set net:max-retries 1;',
    'set net:reconnect-interval-base 1; set ftp:ssl-allow no;',
    'set ftp:auto-passive-mode no; set ftp:fix-pasv-address no;',
    `set ftp:passive-mode ${passive}; set ftp:prefer-epsv ${epsv}; set xfer:clobber on;`,
    `debug -o ${debugLog} 9;`,
    `open -u ${ctx.user},${ctx.password} ftp://${VIP};`,
    `put ${ctx.payload} -o ${tag}.lftp.bin;`,
    `get ${tag}.lftp.bin -o ${local};`,
    'bye',
  ].join('\n');
  const run = await ctx.lab.exec(client, ['lftp', '-c', script], 45_000);
  const log = existsSync(debugLog) ? readFileSync(debugLog, 'utf8').replace(/\r/g, '') : '';
  const node = /^<--- 220 ftpfleet lab (s\d+)/m.exec(log)?.[1] ?? null;
  if (run.code !== 0) {
    const err = lastErrorReply(log);
    const out = (run.stdout + run.stderr).trim().split('\n').at(-1) ?? '';
    return { result: 'FAIL', reason: `lftp: ${err ?? (run.timedOut ? 'timed out' : out || `exit ${run.code}`)}`, node };
  }
  const why = checkDataCommand(log, dmode);
  if (why) return { result: 'FAIL', reason: why, node };
  const ok = existsSync(local) && sha256(local) === ctx.payloadSha;
  rmSync(local, { force: true });
  return ok ? { result: 'ok', reason: '', node } : { result: 'FAIL', reason: 'sha256 mismatch', node };
}

/**
 * A session from `source` that asks STAT which node answers ("Node <id>") and
 * then lists the directory over `dmode`; `error` says what failed, if anything.
 */
export async function statNode(
  ctx: ClientContext,
  client: ClientNode,
  dmode: DataMode,
  source?: string,
): Promise<{ node: string | null; connectedFrom: string | null; error: string; log: string }> {
  const run = await ctx.lab.exec(
    client,
    ['curl', '-sS', '-v', '--connect-timeout', '5', '--max-time', '10', '-u', `${ctx.user}:${ctx.password}`,
      ...CURL_MODE_ARGS[dmode], ...(source ? ['--interface', source] : []), '-Q', 'STAT', '-l', `ftp://${VIP}/`],
    25_000,
  );
  const log = (run.stderr + run.stdout).replace(/\r/g, '');
  const error = run.code !== 0 ? `curl exit ${run.code}: ${lastErrorReply(log) ?? /^curl: (.*)$/m.exec(log)?.[1] ?? ''}` : checkDataCommand(log, dmode);
  return {
    node: /^< Node (\S+)/m.exec(log)?.[1] ?? null,
    connectedFrom: /^< Connected from (\S+)/m.exec(log)?.[1] ?? null,
    error,
    log,
  };
}

export interface ProbeModeJson {
  mode: DataMode;
  ok: boolean;
  node: string | null;
  advertised: string | null;
  connectedFrom: string | null;
  error?: string;
  cause?: string;
}
export interface ProbeJson {
  ok: boolean;
  control: { ok: boolean; node: string | null; greeting: string | null; error?: string; cause?: string };
  modes: ProbeModeJson[];
}

/** `ftpfleet probe --json` from a client namespace; the report and the exit code. */
export async function probe(ctx: ClientContext, client: ClientNode, timeoutS = 5): Promise<{ report: ProbeJson; code: number | null; text: string }> {
  const url = `ftp://${encodeURIComponent(ctx.user)}:${encodeURIComponent(ctx.password)}@${VIP}:21/`;
  const run = await ctx.lab.exec(client, [process.execPath, ctx.cli, 'probe', url, '--json', '--timeout', String(timeoutS)], (timeoutS * 12 + 20) * 1000);
  let report: ProbeJson;
  try {
    report = JSON.parse(run.stdout) as ProbeJson;
  } catch {
    throw new Error(`probe printed no JSON report (exit ${run.code}${run.timedOut ? ', timed out' : ''}):\n${run.stdout}\n${run.stderr}`);
  }
  return { report, code: run.code, text: run.stdout };
}

/**
 * A child process whose stdout is JSON log lines (pino): the lines parsed so
 * far, and a wait for the first line that matches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface LoggedProcess {
  proc: ChildProcess;
  logs: Array<Record<string, any>>;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Signals the process once (later calls only wait), waits for its exit code, then removes `dir`. */
  stopAndRemove(dir: string, signal?: NodeJS.Signals): Promise<number | null>;
  waitForLog(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
}

/** Spawns `node args…` and waits for the log line `started` (killing the process if it never comes). */
export async function spawnLogged(args: string[], started: string, env: Record<string, string> = {}): Promise<LoggedProcess> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const logs: Array<Record<string, any>> = [];
  const waiters: Array<{ pred: (l: any) => boolean; resolve: (l: any) => void }> = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let entry: Record<string, any>;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    logs.push(entry);
    for (const w of [...waiters]) {
      if (w.pred(entry)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const waitForLog = (pred: (l: Record<string, any>) => boolean, ms = 10000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, any>>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no matching log line within ${ms}ms; stderr: ${stderr}`)), ms);
      waiters.push({ pred, resolve: (l) => (clearTimeout(t), res(l)) });
      void exited.then((code) => rej(new Error(`process exited (${code}): ${stderr}`)));
    });
  };
  try {
    await waitForLog((l) => l.msg === started, 30_000);
  } catch (err) {
    // A process that did not start in time must not outlive the test (it would keep the test process alive).
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw err;
  }
  let signalled = false;
  const stopAndRemove = async (dir: string, signal: NodeJS.Signals = 'SIGTERM') => {
    if (!signalled && proc.exitCode === null) proc.kill(signal);
    signalled = true;
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  return { proc, logs, stderr: () => stderr, exited, stopAndRemove, waitForLog };
}

/** Runs real FTP client programs and small file helpers for interop tests. */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a time limit (a hung client fails the test, never hangs it). */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its input must not crash the test with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes `size` random bytes to `path` (in 1 MiB blocks, never all in memory). */
export function makeRandomFile(path: string, size: number): void {
  if (size <= 1 << 20) {
    writeFileSync(path, randomBytes(size));
    return;
  }
  const fd = openSync(path, 'w');
  const block = randomBytes(1 << 20);
  try {
    for (let left = size; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(left, block.length));
  } finally {
    closeSync(fd);
  }
}

/** Waits (up to `ms`) until `fn` returns a value; log lines arrive a little after the replies. */
export async function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v || undefined;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs a Python script (written to `file`) with `argv`; it must exit 0 and
 * print one JSON object as its last stdout line, which is returned.
 */
export async function runPythonJson(file: string, script: string, argv: string[], timeoutMs = 90_000): Promise<any> {
  writeFileSync(file, script);
  const r = await run('python3', [file, ...argv], { timeoutMs });
  if (r.code !== 0) throw new Error(`python3 exited ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

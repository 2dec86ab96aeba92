/**
 * Starts a real `ftpfleet gateway` process for a test, on loopback, in front
 * of the given backends. reload() rewrites its config and sends SIGHUP.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnLogged } from './loggedProcess.js';
import { stringify } from 'yaml';
import { ALICE, CLI, merge, type TestUser } from './server.js';

export interface GatewayBackend {
  name: string;
  host?: string;
  port: number;
  [key: string]: unknown;
}

export interface TestGateway {
  port: number;
  opsPort: number;
  pasv: { min: number; max: number };
  proc: ChildProcess;
  logs: Array<Record<string, any>>;
  config: Record<string, any>;
  url(user?: TestUser, host?: string): string;
  waitForLog(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  /** Rewrites the config with `patch` merged in (backends replaced whole) and sends SIGHUP. */
  reload(patch: Record<string, any>): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startGateway(backends: GatewayBackend[], extra: Record<string, any> = {}, pasvSize = 100): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'ftpfleet-gw-'));
  const min = 60000 + Math.floor(Math.random() * 50) * 100;
  const pasv = { min, max: min + pasvSize - 1 };
  let config = merge(
    {
      nodeId: 'test-gateway',
      listen: { addresses: ['127.0.0.1'], port: 0 },
      passive: { portRange: `${pasv.min}-${pasv.max}` },
      ops: { port: 0 },
      health: { interval: 0.5, timeout: 2, rise: 2, fall: 2 },
      shutdown: { grace: 5 },
      log: { level: 'debug' },
      backends: backends.map((b) => ({ host: '127.0.0.1', ...b })),
    },
    extra,
  );
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(config));
  const { proc, logs, stopAndRemove, waitForLog } = await spawnLogged([CLI, 'gateway', '--config', file], 'ftpfleet gateway started');
  const port = logs.find((l) => l.msg === 'gateway listening')!.port as number;
  const opsPort = (logs.find((l) => l.msg === 'ops listening')?.port as number) ?? 0;
  const gw: TestGateway = {
    port,
    opsPort,
    pasv,
    proc,
    logs,
    config,
    url: (user = ALICE, host = '127.0.0.1') => `ftp://${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@${host}:${port}`,
    waitForLog,
    async reload(patch) {
      config = { ...merge(config, { ...patch, backends: undefined }), backends: patch.backends ?? config.backends };
      gw.config = config;
      writeFileSync(file, stringify(config));
      const seen = logs.length;
      proc.kill('SIGHUP');
      await waitForLog((l) => logs.indexOf(l) >= seen && (l.msg === 'backends reloaded' || l.msg.startsWith('config reload failed')));
    },
    stop: (signal = 'SIGTERM') => stopAndRemove(dir, signal),
  };
  return gw;
}

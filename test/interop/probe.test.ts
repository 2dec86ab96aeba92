/**
 * Interop: `ftpfleet probe` against a real ftpfleet process (and, for the
 * cases a healthy server cannot produce, a tiny scripted server). Loopback
 * only: 127.0.0.0/8 and ::1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { runProbe, type ProbeReport } from '../../src/lb/probe.js';
import { parseProbeUrl } from '../../src/lb/probeDiagnosis.js';
import { ALICE, startServer, type TestServer } from '../helpers/server.js';

const CLI = resolve(import.meta.dirname, '../../src/cli/main.js');

/** Runs the CLI without blocking the event loop (the server under test may live in this process's tests). */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => res({ status, stdout, stderr }));
  });
}

const mode = (r: ProbeReport, m: string) => {
  const found = r.modes.find((x) => x.mode === m);
  assert.ok(found, `no result for ${m}`);
  return found;
};

const inRange = (port: number, srv: TestServer) => port >= srv.pasv.min && port <= srv.pasv.max;

describe('probe: a healthy node', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ config: { nodeId: 'probe-node-7' } });
  });
  after(async () => {
    await srv.stop();
  });

  it('all four modes work; reports the node, what PASV advertised and where active data came from', async () => {
    const report = await runProbe(parseProbeUrl(srv.url(ALICE)), { timeoutSeconds: 10 });
    assert.equal(report.ok, true, JSON.stringify(report, null, 2));
    assert.equal(report.control.node, 'probe-node-7');
    assert.match(report.control.greeting ?? '', /^220 /);
    assert.deepEqual(
      report.modes.map((m) => [m.mode, m.ok, m.bytes]),
      [
        ['PASV', true, 65536],
        ['EPSV', true, 65536],
        ['PORT', true, 65536],
        ['EPRT', true, 65536],
      ],
    );
    const pasv = /^127\.0\.0\.1:(\d+)$/.exec(mode(report, 'PASV').advertised ?? '');
    assert.ok(pasv && inRange(Number(pasv[1]), srv), `PASV advertised ${mode(report, 'PASV').advertised}`);
    const epsv = /^port (\d+) \(on 127\.0\.0\.1\)$/.exec(mode(report, 'EPSV').advertised ?? '');
    assert.ok(epsv && inRange(Number(epsv[1]), srv), `EPSV advertised ${mode(report, 'EPSV').advertised}`);
    for (const m of ['PORT', 'EPRT']) {
      assert.match(mode(report, m).advertised ?? '', /^127\.0\.0\.1:\d+$/);
      assert.match(mode(report, m).connectedFrom ?? '', /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(mode(report, m).notes, []);
    }
    assert.deepEqual(readdirSync(srv.dataDir), [], 'the probe deletes its files');
  });

  it('over IPv6 (::1): EPSV and EPRT work; PASV and PORT cannot carry the address, and it says so', async () => {
    const report = await runProbe(parseProbeUrl(srv.url(ALICE, '::1')), { timeoutSeconds: 10 });
    assert.equal(mode(report, 'EPSV').ok, true, JSON.stringify(report, null, 2));
    assert.equal(mode(report, 'EPRT').ok, true, JSON.stringify(report, null, 2));
    assert.match(mode(report, 'EPRT').connectedFrom ?? '', /^\[::1\]:\d+$/);
    assert.equal(mode(report, 'PORT').ok, false);
    assert.match(mode(report, 'PORT').cause ?? '', /PORT carries only IPv4 addresses/);
    assert.equal(mode(report, 'PASV').ok, false);
    assert.match(mode(report, 'PASV').cause ?? '', /PASV cannot carry an IPv6 address/);
    assert.equal(report.ok, false);
    assert.deepEqual(readdirSync(srv.dataDir), []);
  });

  it('the CLI exits 0 and prints the report as JSON', async () => {
    const r = await cli('probe', srv.url(ALICE), '--json', '--timeout', '10');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as ProbeReport;
    assert.equal(report.ok, true);
    assert.equal(report.control.node, 'probe-node-7');
    assert.ok(!r.stdout.includes(ALICE.password), 'the password is not in the report');
  });

  it('the CLI prints a readable report', async () => {
    const r = await cli('probe', srv.url(ALICE));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}node {7}probe-node-7$/m);
    assert.match(r.stdout, /^ {2}PASV {7}ok {6}advertised 127\.0\.0\.1:\d+; 64 KiB up and down, sha256 match$/m);
    assert.match(r.stdout, /^result: 4 of 4 data modes work$/m);
  });

  it('a wrong password fails the session with the cause, exit 1', async () => {
    const r = await cli('probe', srv.url({ name: 'alice', password: 'wrong' }), '--json');
    assert.equal(r.status, 1);
    const report = JSON.parse(r.stdout) as ProbeReport;
    assert.equal(report.control.ok, false);
    assert.equal(report.control.loggedIn, false);
    assert.match(report.control.cause ?? '', /^login failed for user "alice": "530 /);
    assert.ok(report.modes.every((m) => !m.ok));
  });

  it('a bad URL exits 2', async () => {
    const r = await cli('probe', 'http://127.0.0.1/');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unsupported scheme "http:"/);
  });
});

describe('probe: a node that advertises an address nothing listens on', () => {
  let srv: TestServer;
  before(async () => {
    // 127.0.0.9 is loopback, but the node's passive listeners bind the control address 127.0.0.1
    srv = await startServer({ config: { passive: { address: '127.0.0.9' } } });
  });
  after(async () => {
    await srv.stop();
  });

  it('PASV fails with the cause named; EPSV, PORT and EPRT work; exit 1', async () => {
    const r = await cli('probe', srv.url(ALICE), '--json', '--timeout', '10');
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as ProbeReport;
    const pasv = mode(report, 'PASV');
    assert.equal(pasv.ok, false);
    assert.match(pasv.advertised ?? '', /^127\.0\.0\.9:\d+$/);
    assert.match(pasv.cause ?? '', /^PASV advertised 127\.0\.0\.9, not the address this client connects to \(127\.0\.0\.1\)/);
    assert.match(pasv.cause ?? '', /set passive\.address to the address clients connect to \(127\.0\.0\.1\)/);
    assert.equal(mode(report, 'EPSV').ok, true, JSON.stringify(report, null, 2));
    assert.equal(mode(report, 'PORT').ok, true);
    assert.equal(mode(report, 'EPRT').ok, true);
    assert.deepEqual(readdirSync(srv.dataDir), []);
  });

  it('the text report shows the cause under PASV', async () => {
    const r = await cli('probe', srv.url(ALICE), '--modes', 'pasv');
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^ {2}PASV {7}FAILED {2}advertised 127\.0\.0\.9:\d+$/m);
    assert.match(r.stdout, /^ {13}cause: PASV advertised 127\.0\.0\.9/m);
    assert.match(r.stdout, /^result: 0 of 1 data modes work — FAILED$/m);
  });
});

describe('probe: a node with active mode off', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ config: { active: { enabled: false } } });
  });
  after(async () => {
    await srv.stop();
  });

  it('PORT and EPRT fail quoting the server; PASV and EPSV work', async () => {
    const report = await runProbe(parseProbeUrl(srv.url(ALICE)), { timeoutSeconds: 10 });
    assert.equal(report.ok, false);
    assert.equal(mode(report, 'PASV').ok, true, JSON.stringify(report, null, 2));
    assert.equal(mode(report, 'EPSV').ok, true, JSON.stringify(report, null, 2));
    for (const m of ['PORT', 'EPRT']) {
      const r = mode(report, m);
      assert.equal(r.ok, false);
      assert.match(r.error ?? '', new RegExp(`^${m}: 504 Active mode is disabled`));
      assert.match(r.cause ?? '', /^active mode is disabled on the server \(active\.enabled\): "504 Active mode is disabled; use PASV or EPSV\."$/);
    }
    assert.deepEqual(readdirSync(srv.dataDir), []);
  });
});

/**
 * A scripted FTP server for what a healthy ftpfleet never does: it answers
 * PORT/EPRT with 200 and STOR with 150, then never connects.
 */
function silentActiveServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.setEncoding('utf8');
    s.write('220 scripted\r\n');
    let buf = '';
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const cmd = line.split(' ')[0]!.toUpperCase();
        const answers: Record<string, string> = {
          USER: '331 Password required',
          PASS: '230 Logged in',
          TYPE: '200 Type set to I',
          STAT: '211-status:\r\n Node scripted-1\r\n211 End of status.',
          PORT: '200 PORT command successful.',
          EPRT: '200 EPRT command successful.',
          STOR: '150 Opening data connection.',
          DELE: '250 Deleted.',
          QUIT: '221 Bye.',
        };
        s.write(`${answers[cmd] ?? '502 Not implemented.'}\r\n`);
      }
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as AddressInfo).port, sockets })));
}

describe('probe: a server that never connects back', () => {
  it('PORT: names the port-20 / blocked active connections cause', async () => {
    const fake = await silentActiveServer();
    try {
      const report = await runProbe(parseProbeUrl(`ftp://u:p@127.0.0.1:${fake.port}/`), { timeoutSeconds: 1, modes: ['PORT'] });
      assert.equal(report.control.node, 'scripted-1');
      const r = mode(report, 'PORT');
      assert.equal(r.ok, false);
      assert.match(r.cause ?? '', /^the server never connected back for PORT: active connections are blocked or not NATed \(port 20 rule\)/);
    } finally {
      for (const s of fake.sockets) s.destroy();
      fake.server.close();
    }
  });
});

describe('probe: nothing listening', () => {
  it('names the address and says nothing listens there', async () => {
    const s = createServer();
    const port = await new Promise<number>((res) => s.listen(0, '127.0.0.1', () => res((s.address() as AddressInfo).port)));
    await new Promise((res) => s.close(res));
    const report = await runProbe(parseProbeUrl(`ftp://u:p@127.0.0.1:${port}/`), { timeoutSeconds: 5 });
    assert.equal(report.ok, false);
    assert.equal(report.control.ok, false);
    assert.match(report.control.cause ?? '', new RegExp(`^nothing listens on 127\\.0\\.0\\.1:${port}`));
    assert.ok(report.modes.every((m) => !m.ok && m.error === 'not run: no session'));
  });
});

/**
 * End to end in the network-namespace lab (../shared/lab): ftpfleet nodes on
 * the lab's backends behind a real layer-4 balancer (HAProxy, HAProxy with
 * PROXY v2, netfilter DNAT, DNAT + the kernel FTP helper), driven by curl,
 * lftp and `ftpfleet probe` from an internet client (17 source addresses)
 * and from a device behind a home NAT router with an FTP ALG.
 *
 * - every balancer mode × client × PASV/EPSV/PORT/EPRT × curl/lftp: upload
 *   and download of a 1 MiB file, sha256 compared (all must work with the
 *   settings the lab README gives for the mode);
 * - sessions from the 17 client addresses spread over the nodes (STAT's
 *   "Node <id>" line);
 *   (also with PROXY headers on the data connections: haproxy-pp2 --pp-data);
 * - `ftpfleet probe` through each mode, and on a misconfigured fleet;
 * - draining a node (SIGTERM) under load from 20 clients;
 * - passive.sharePorts: 17 concurrent clients on a range of 4 ports per node,
 *   under nat and under haproxy-pp2 --pp-data;
 * - three nodes (nat with active.sourcePort control-1, haproxy-pp2), and a
 *   drain through the admin API.
 *
 * Needs root and network namespaces (skipped otherwise). There is one lab per
 * machine: everything here runs sequentially, and the lab is taken down at
 * the end whatever happens. The matrix observed is printed as diagnostics.
 */
import { after, before, describe, it, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  acquireLabLock,
  ADMIN_TOKEN,
  alive,
  CLIENT_ADDRESSES,
  Fleet,
  Lab,
  LabRun,
  labWorkDir,
  labSkipReason,
  requireTools,
  sleep,
  snapshotBuild,
  type LbMode,
} from './lab.js';
import {
  advertisedPort,
  curlCell,
  curlTransfer,
  DATA_MODES,
  lftpCell,
  probe,
  sha256,
  statNode,
  type CellResult,
  type ClientContext,
  type ClientNode,
  type DataMode,
} from './labClients.js';

interface Scenario {
  name: string;
  mode: LbMode;
  /** Extra `lab.sh lb` options. */
  lbArgs?: string[];
  /** Node settings beyond the mode's own (lab.ts modeSettings). */
  overrides?: Record<string, any>;
}

/** The four balancer modes with the README's settings, plus PROXY headers on data connections too. */
const SCENARIOS: Scenario[] = [
  { name: 'haproxy', mode: 'haproxy' },
  { name: 'haproxy-pp2', mode: 'haproxy-pp2' },
  // what `ftpfleet lb-config` generates for HAProxy with PROXY: headers on the passive
  // ports as well, so data connections are checked against the real client address
  { name: 'haproxy-pp2 --pp-data', mode: 'haproxy-pp2', lbArgs: ['--pp-data'], overrides: { proxyProtocol: { data: 'required' } } },
  { name: 'nat', mode: 'nat' },
  { name: 'nat-helper', mode: 'nat-helper' },
];
const CLIENTS: ClientNode[] = ['client', 'natclient'];
const USER = 'labuser';
const PASSWORD = 'lab-pass-7Qx2';
const PAYLOAD_SIZE = 1024 * 1024 + 12345; // 1 MiB and an odd tail, so truncation cannot hide

// One lab per machine: a second run of this file (another `npm test`) waits for the first.
const skip = labSkipReason();
const releaseLock = skip === null ? await acquireLabLock(20 * 60) : () => {};

/** What the README says about a cell: with the right server settings, every one of these must work. */
function expectedResult(_mode: string, _client: ClientNode, dmode: DataMode, tool: 'curl' | 'lftp'): 'ok' | 'n/a' {
  return tool === 'lftp' && dmode === 'EPRT' ? 'n/a' : 'ok';
}

interface Row {
  scenario: string;
  client: ClientNode;
  dmode: DataMode;
  curl: CellResult;
  lftp: CellResult;
}
const rows: Row[] = [];
const spreads: string[] = [];
const probes: string[] = [];
const drainNotes: string[] = [];
const labRun = new LabRun();
const tracked = labRun.tracked.bind(labRun);

const SUITE = 'network lab: ftpfleet behind L4 balancers';

if (skip !== null) {
  const reason = skip;
  test(SUITE, (t) => t.skip(reason));
} else describe(SUITE, { timeout: 15 * 60_000 }, () => {
  const lab = new Lab();
  let work: string;
  let fleet: Fleet;
  let ctx: ClientContext;

  /** Copies the lab's logs (node logs, HAProxy's) to the work directory before `down` deletes them. */
  function saveLabLogs(): void {
    if (work && lab.env.FL_STATE_DIR && existsSync(join(lab.stateDir, 'logs'))) {
      cpSync(join(lab.stateDir, 'logs'), join(work, 'lab-logs'), { recursive: true });
    }
  }

  before(tracked(async () => {
    requireTools(['curl', 'lftp']);
    labRun.trapSignals();
    const dir = await labWorkDir('ftpfleet-lab-', USER, PASSWORD, PAYLOAD_SIZE);
    const { storage, usersFile, payload } = dir;
    work = dir.work;
    const cli = await snapshotBuild(join(work, 'app'));
    // A lab left over from an earlier run (or a reference vsftpd on port 21) must not get in the way.
    await lab.sh(['down'], 180_000).catch(() => {});
    await lab.up(2);
    fleet = new Fleet(lab, work, storage, usersFile, cli);
    ctx = { lab, user: USER, password: PASSWORD, payload, payloadSha: sha256(payload), workDir: work, cli };
  }));

  after(async () => {
    try {
      if (fleet) await fleet.stopAll();
      saveLabLogs();
    } catch (err) {
      process.stderr.write(`lab test: stopping the nodes or saving the logs failed: ${(err as Error).message}\n`);
    }
    try {
      await lab.down();
    } finally {
      releaseLock();
      labRun.releaseSignals();
      if (work) {
        if (labRun.keep) process.stderr.write(`lab test: node configs, transcripts and lab logs kept in ${work}\n`);
        else rmSync(work, { recursive: true, force: true });
      }
    }
  });

  /** Runs every cell for `clients` and returns the unexpected ones. */
  async function matrix(t: TestContext, scenario: string, clients: ClientNode[]): Promise<string[]> {
    const bad: string[] = [];
    let ok = 0;
    let total = 0;
    for (const client of clients) {
      for (const dmode of DATA_MODES) {
        const tag = `${scenario}-${client}-${dmode}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
        const curl = await curlCell(ctx, client, dmode, tag);
        const lftp = await lftpCell(ctx, client, dmode, tag);
        rows.push({ scenario, client, dmode, curl, lftp });
        for (const [tool, cell] of [['curl', curl], ['lftp', lftp]] as const) {
          if (cell.result === 'n/a') continue;
          total++;
          if (cell.result === expectedResult(scenario, client, dmode, tool)) ok++;
          else bad.push(`${scenario} ${client} ${dmode} ${tool}: ${cell.result} (${cell.reason})`);
        }
      }
    }
    t.diagnostic(`${scenario}: ${ok} of ${total} cells as expected`);
    return bad;
  }

  /**
   * Sessions from the 17 client addresses and 4 from natclient: which node says
   * "Node <id>" in STAT; each session then lists the directory, the data mode
   * rotating through PASV, EPSV, PORT and EPRT, so every node serves every mode.
   */
  async function spread(t: TestContext, scenario: string, nodes: string[], realAddresses: boolean): Promise<Map<string, string>> {
    const perNode = new Map<string, number>();
    const bySource = new Map<string, string>();
    const errors: string[] = [];
    for (const [i, source] of CLIENT_ADDRESSES.entries()) {
      const dmode = DATA_MODES[i % DATA_MODES.length]!;
      const s = await statNode(ctx, 'client', dmode, source);
      assert.ok(s.node, `no "Node <id>" line in STAT for a session from ${source}:\n${s.log}`);
      perNode.set(s.node, (perNode.get(s.node) ?? 0) + 1);
      bySource.set(source, s.node);
      if (s.error) errors.push(`${source} ${dmode} on ${s.node}: ${s.error}`);
      // With PROXY v2 or DNAT the node sees the real client; behind plain HAProxy, the balancer.
      if (realAddresses) assert.equal(s.connectedFrom, source, `STAT "Connected from" for ${source}`);
    }
    const natNodes = new Set<string>();
    for (const dmode of DATA_MODES) {
      const s = await statNode(ctx, 'natclient', dmode);
      assert.ok(s.node, `no "Node <id>" line in STAT from natclient:\n${s.log}`);
      natNodes.add(s.node);
      if (s.error) errors.push(`natclient ${dmode} on ${s.node}: ${s.error}`);
      if (realAddresses) assert.equal(s.connectedFrom, '198.18.1.200', 'natclient is seen as its NAT router');
    }
    const line = `${scenario}: client ${[...perNode].sort().map(([n, c]) => `${n}:${c}`).join(' ')}; natclient ${[...natNodes].join(' ')} (4 sessions)`;
    spreads.push(line);
    t.diagnostic(`spread ${line}`);
    assert.deepEqual([...perNode.keys()].sort(), [...nodes].sort(), 'sessions from the 17 client addresses land on every node');
    assert.equal(natNodes.size, 1, 'source hashing keeps one NATed site on one node');
    assert.deepEqual(errors, [], 'every session lists the directory in its data mode');
    return bySource;
  }

  async function probeOk(t: TestContext, scenario: string, clients: ClientNode[]): Promise<void> {
    for (const client of clients) {
      const { report, code, text } = await probe(ctx, client);
      const summary = report.modes.map((m) => `${m.mode} ${m.ok ? 'ok' : 'FAILED'}`).join(', ');
      probes.push(`${scenario} from ${client}: ${report.ok ? 'ok' : 'FAILED'} (node ${report.control.node}; ${summary})`);
      t.diagnostic(`probe ${scenario} from ${client}: ${summary}`);
      assert.equal(report.ok, true, `probe from ${client}:\n${text}`);
      assert.equal(code, 0);
      assert.match(report.control.node ?? '', /^s\d$/);
      assert.deepEqual(report.modes.map((m) => m.mode), DATA_MODES);
    }
  }

  for (const sc of SCENARIOS) {
    describe(`${sc.name}, 2 nodes`, () => {
      before(tracked(async () => {
        await fleet.start(sc.mode, { overrides: sc.overrides, lbArgs: sc.lbArgs, tag: sc.name });
      }));

      it('curl and lftp from client and natclient: PASV, EPSV, PORT, EPRT, 1 MiB up and down, sha256', tracked(async (t) => {
        assert.deepEqual(await matrix(t, sc.name, CLIENTS), []);
      }));

      it('sessions from the 17 client addresses land on both nodes, in every data mode', tracked(async (t) => {
        await spread(t, sc.name, ['s1', 's2'], sc.mode !== 'haproxy');
      }));

      it('ftpfleet probe reports every data mode ok', tracked(async (t) => {
        await probeOk(t, sc.name, CLIENTS);
      }));
    });
  }

  describe('a misconfigured fleet: nat with passive.address left "auto"', () => {
    before(tracked(async () => {
      await fleet.start('nat', { overrides: { passive: { address: 'auto' } }, tag: 'nat-pasv-auto' });
    }));

    it('the probe reports the PASV failure and its cause; the other modes work', tracked(async (t) => {
      const { report, code, text } = await probe(ctx, 'client', 4);
      const pasvLine = report.modes.find((m) => m.mode === 'PASV');
      t.diagnostic(`probe, nat with passive.address auto: PASV advertised ${pasvLine?.advertised}; error: ${pasvLine?.error}; cause: ${pasvLine?.cause}`);
      probes.push(`nat with passive.address auto: ${report.modes.map((m) => `${m.mode} ${m.ok ? 'ok' : 'FAILED'}`).join(', ')}`);
      assert.equal(report.ok, false, text);
      assert.equal(code, 1, 'exit code 1 when a mode fails');
      const pasv = report.modes.find((m) => m.mode === 'PASV')!;
      assert.equal(pasv.ok, false, text);
      assert.match(pasv.advertised ?? '', /^198\.18\.2\.1[12]:1[01]\d{3}$/, 'PASV advertised the node\'s own address');
      assert.match(pasv.cause ?? '', /PASV advertised 198\.18\.2\.1[12]/, text);
      assert.match(pasv.cause ?? '', /set passive\.address to the address clients connect to \(198\.18\.1\.100\)/, text);
      for (const m of report.modes.filter((x) => x.mode !== 'PASV')) assert.equal(m.ok, true, `${m.mode}:\n${text}`);
    }));
  });

  describe('drain under load: haproxy-pp2, 2 nodes, 20 clients', () => {
    before(tracked(async () => {
      await fleet.start('haproxy-pp2', { tag: 'drain' });
    }));

    it('SIGTERM to s1 mid-run: no started transfer fails; retries and new sessions go to s2', tracked(async (t) => {
      interface Attempt {
        worker: number;
        op: 'up' | 'down';
        start: number;
        end: number;
        node: string | null;
        ok: boolean;
        saw150: boolean;
        why: string;
      }
      const attempts: Attempt[] = [];
      const gaveUp: string[] = [];
      let stop = false;
      const s1 = fleet.node('s1');

      async function attempt(k: number, dmode: DataMode, op: 'up' | 'down', remote: string, local: string): Promise<Attempt> {
        const r = await curlTransfer(ctx, {
          client: 'client', dmode, direction: op, remote, local,
          source: CLIENT_ADDRESSES[k % CLIENT_ADDRESSES.length],
          // about two seconds per transfer, so that several are running when the drain starts
          extra: ['--limit-rate', '512K'], maxTimeS: 40,
        });
        let ok = r.run.code === 0 && r.saw226;
        let why = ok ? '' : (/^< ([45]\d\d .*)$/m.exec(r.log)?.[1] ?? /^curl: (.*)$/m.exec(r.log)?.[1] ?? `exit ${r.run.code}`);
        if (ok && op === 'down' && sha256(local) !== ctx.payloadSha) {
          ok = false;
          why = 'sha256 mismatch';
        }
        const a = { worker: k, op, start: r.run.started, end: r.run.ended, node: r.node, ok, saw150: r.saw150, why };
        attempts.push(a);
        return a;
      }

      /** Retries an operation that failed before its transfer started (421, refused, no greeting). */
      async function withRetry(k: number, dmode: DataMode, op: 'up' | 'down', remote: string, local: string): Promise<boolean> {
        for (let i = 0; i < 60; i++) {
          const a = await attempt(k, dmode, op, remote, local);
          if (a.ok) return true;
          if (a.saw150) return false; // a started transfer failed: counted below, not retried
          await sleep(250);
        }
        gaveUp.push(`worker ${k} ${op} ${remote}`);
        return false;
      }

      async function worker(k: number): Promise<void> {
        const dmode = DATA_MODES[k % DATA_MODES.length]!;
        const local = join(work, `drain-w${k}.dl`);
        for (let n = 0; !stop; n++) {
          const remote = `drain-w${k}-${n}.bin`;
          if (!(await withRetry(k, dmode, 'up', remote, ctx.payload))) return;
          if (!(await withRetry(k, dmode, 'down', remote, local))) return;
          rmSync(join(fleet.storageDir, remote), { force: true });
        }
      }

      const workers = Array.from({ length: 20 }, (_, k) => worker(k));
      await sleep(4000);
      const tSig = Date.now();
      process.kill(s1.pid, 'SIGTERM');
      let tDown = 0;
      while (Date.now() - tSig < 20_000) {
        if (await lab.outOfRotation('s1')) {
          tDown = Date.now();
          break;
        }
        await sleep(250);
      }
      await sleep(4000);
      stop = true;
      await Promise.all(workers);
      const exitDeadline = Date.now() + 40_000;
      while (alive(s1.pid) && Date.now() < exitDeadline) await sleep(200);

      const hard = attempts.filter((a) => !a.ok && a.saw150);
      const failedBefore150 = attempts.filter((a) => !a.ok && !a.saw150);
      const okAttempts = attempts.filter((a) => a.ok);
      const inflight = okAttempts.filter((a) => a.node === 's1' && a.start < tSig && a.end > tSig);
      const later = attempts.filter((a) => a.start > tSig + 500 && a.node !== null);
      const s1Lines = fleet.logLines(s1);
      const stopAt = s1Lines.findIndex((l) => l.msg === 'stopping');
      const drainedTransfers = stopAt < 0 ? [] : s1Lines.slice(stopAt).filter((l) => l.msg === 'transfer');
      const badServerTransfers = fleet.nodes.flatMap((n) => fleet.logLines(n).filter((l) => l.msg === 'transfer' && l.result !== 'ok'));
      const perNode = (list: Attempt[]) => ['s1', 's2'].map((n) => `${n}:${list.filter((a) => a.node === n).length}`).join(' ');
      const notes = [
        `${okAttempts.length} transfers ok (${perNode(okAttempts)}), ${hard.length} started transfers failed, ` +
          `${failedBefore150.length} sessions refused before a transfer and retried`,
        `s1 marked DOWN by HAProxy ${tDown ? `${((tDown - tSig) / 1000).toFixed(1)} s` : 'never'} after SIGTERM; ` +
          `${inflight.length} transfers running on s1 at SIGTERM completed; s1 finished ${drainedTransfers.length} transfers while draining`,
        `sessions started > 0.5 s after SIGTERM: ${perNode(later)}; s1 ${alive(s1.pid) ? 'still running' : 'exited'}`,
      ];
      drainNotes.push(...notes);
      for (const n of notes) t.diagnostic(n);

      assert.deepEqual(hard.map((a) => `worker ${a.worker} ${a.op} on ${a.node}: ${a.why}`), [], 'transfers that had started must complete');
      assert.deepEqual(gaveUp, [], 'every refused session succeeds on retry');
      assert.deepEqual(badServerTransfers.map((l) => `${l.node} ${l.path}: ${l.result} ${l.err ?? ''}`), [], 'no failed or aborted transfer in the nodes\' logs');
      assert.ok(tDown > 0, 'HAProxy marks the drained node down');
      assert.ok(inflight.length > 0, 'some transfers were running on s1 when it got SIGTERM (and completed)');
      assert.ok(drainedTransfers.length > 0 && drainedTransfers.every((l) => l.result === 'ok'), 's1 finished its running transfers while draining');
      assert.ok(later.length > 0, 'sessions started after the drain');
      assert.deepEqual(later.filter((a) => a.node !== 's2').map((a) => `worker ${a.worker} ${a.op} on ${a.node}`), [], 'new sessions go to s2');
      // every session refused during the drain was retried and then served by s2
      for (const f of failedBefore150) {
        const next = attempts.find((a) => a.worker === f.worker && a.start > f.start && a.ok);
        assert.ok(next, `worker ${f.worker}: no successful retry after "${f.why}"`);
        assert.equal(next.node, 's2', `worker ${f.worker}: the retry after "${f.why}" went to ${next.node}`);
      }
      assert.equal(alive(s1.pid), false, 's1 exits after draining');
      assert.ok(s1Lines.some((l) => l.msg === 'stopped'), 's1 logged "stopped"');
    }));
  });

  // Each node has a range of 4 ports, as behind a balancer that forwards only a handful; with
  // PROXY headers on data connections (haproxy-pp2 --pp-data) the node learns each data
  // connection's client from the header, under NAT from the packets.
  const sharing: Scenario[] = [
    { name: 'nat', mode: 'nat' },
    { name: 'haproxy-pp2 --pp-data', mode: 'haproxy-pp2', lbArgs: ['--pp-data'], overrides: { proxyProtocol: { data: 'required' } } },
  ];
  for (const sc of sharing) describe(`${sc.name}, passive.sharePorts with a range of 4 ports per node: 17 clients at once`, () => {
    const slice = (i: number) => {
      const min = Number(lab.pasvRange(i).split('-')[0]);
      return { min, max: min + 3 };
    };
    before(tracked(async () => {
      await fleet.start(sc.mode, {
        tag: `${sc.mode}-share`,
        lbArgs: sc.lbArgs,
        overrides: (i) => ({ ...sc.overrides, passive: { sharePorts: true, portRange: `${slice(i).min}-${slice(i).max}` } }),
      });
    }));

    it('concurrent PASV and EPSV uploads and downloads share each node\'s four ports', tracked(async (t) => {
      const results: string[] = [];
      const used = new Map<string, Set<number>>();
      const sessions = new Map<string, number>();
      const one = async (k: number, direction: 'up' | 'down') => {
        const dmode: DataMode = k % 2 ? 'EPSV' : 'PASV';
        const local = direction === 'up' ? ctx.payload : join(work, `share-${k}.dl`);
        const r = await curlTransfer(ctx, {
          client: 'client', dmode, direction, remote: `share-${k}.bin`, local,
          source: CLIENT_ADDRESSES[k], extra: ['--limit-rate', '4M'],
        });
        const port = advertisedPort(r.log);
        const node = r.node ?? '?';
        sessions.set(node, (sessions.get(node) ?? 0) + 1);
        if (port !== null) used.set(node, (used.get(node) ?? new Set()).add(port));
        const ok = r.run.code === 0 && r.saw226 && (direction === 'up' || sha256(local) === ctx.payloadSha);
        if (!ok) results.push(`${CLIENT_ADDRESSES[k]} ${dmode} ${direction} on ${node}: ${/^< ([45]\d\d .*)$/m.exec(r.log)?.[1] ?? /^curl: (.*)$/m.exec(r.log)?.[1] ?? `exit ${r.run.code}`}`);
        const n = Number(node.slice(1));
        if (port !== null && n > 0 && (port < slice(n).min || port > slice(n).max)) results.push(`${node} advertised port ${port}, outside its slice`);
      };
      const all = CLIENT_ADDRESSES.map((_, k) => k);
      await Promise.all(all.map((k) => one(k, 'up')));
      await Promise.all(all.map((k) => one(k, 'down')));
      const summary = [...used].sort().map(([n, ports]) => `${n}: ${sessions.get(n)} sessions on ports ${[...ports].sort().join(',')}`).join('; ');
      t.diagnostic(`sharePorts: ${summary}`);
      spreads.push(`${sc.name}, sharePorts on 4-port ranges, 17 uploads then 17 downloads at once: ${summary}`);
      assert.deepEqual(results, []);
      for (const [node, n] of sessions) assert.ok(n > 4, `${node} served more sessions (${n}) than it has ports`);
    }));
  });

  describe('3 nodes', () => {
    before(tracked(async () => {
      await fleet.stopAll();
      saveLabLogs();
      await lab.down();
      await lab.up(3);
    }));

    const three: Scenario[] = [
      // "control-1": port 20 from the address the client reached, as LVS's ip_vs_ftp expects
      { name: 'nat (3 nodes, active.sourcePort control-1)', mode: 'nat', overrides: { active: { sourcePort: 'control-1' } } },
      { name: 'haproxy-pp2 (3 nodes)', mode: 'haproxy-pp2' },
    ];
    let bySource = new Map<string, string>();
    for (const sc of three) {
      it(`${sc.name}: every cell works, sessions land on all three nodes, the probe reports ok`, tracked(async (t) => {
        await fleet.start(sc.mode, { count: 3, overrides: sc.overrides, tag: `${sc.mode}-3` });
        assert.deepEqual(await matrix(t, sc.name, CLIENTS), []);
        bySource = await spread(t, sc.name, ['s1', 's2', 's3'], true);
        await probeOk(t, sc.name, ['client']);
      }));
    }

    it('haproxy-pp2 (3 nodes): drain s3 through the admin API during an upload; /readyz says 503; the next session goes elsewhere', tracked(async (t) => {
      const s3 = fleet.node('s3');
      const source = [...bySource].find(([, node]) => node === 's3')?.[0];
      assert.ok(source, 'a client address that lands on s3');
      const ops = (args: string[]) =>
        lab.exec('s3', ['curl', '-sS', '--max-time', '5', '-H', `Authorization: Bearer ${ADMIN_TOKEN}`, ...args], 20_000);
      // an upload throttled by the client to about four seconds: still running when the drain
      // starts (a download would not do: the node hands 1 MiB to socket buffers at once)
      const remote = 'admin-drain.bin';
      const slow = curlTransfer(ctx, {
        client: 'client', dmode: 'PASV', direction: 'up', remote, local: ctx.payload, source, extra: ['--limit-rate', '256K'], maxTimeS: 40,
      });
      await sleep(1500);
      const unauthorized = await lab.exec('s3', ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', 'http://127.0.0.1:9121/admin/drain'], 20_000);
      assert.equal(unauthorized.stdout.trim(), '401', 'the admin API wants the token');
      const drain = await ops(['-w', '\n%{http_code}', '-X', 'POST', 'http://127.0.0.1:9121/admin/drain']);
      assert.equal(drain.stdout.trim().split('\n').at(-1), '202', drain.stdout + drain.stderr);
      const ready = await ops(['-w', '\n%{http_code}', 'http://127.0.0.1:9121/readyz']);
      const readyCode = ready.stdout.trim().split('\n').at(-1);
      t.diagnostic(`admin drain of s3: POST /admin/drain -> 202; /readyz while draining -> ${readyCode}`);
      assert.equal(readyCode, '503', `readyz while draining: ${ready.stdout}`);
      assert.match(ready.stdout, /draining/);
      let down = false;
      for (let i = 0; i < 40 && !down; i++) {
        down = await lab.outOfRotation('s3');
        if (!down) await sleep(250);
      }
      assert.ok(down, 'HAProxy marks s3 down');
      const next = await statNode(ctx, 'client', 'EPSV', source);
      assert.equal(next.error, '', next.log);
      assert.ok(next.node && next.node !== 's3', `the next session from ${source} went to ${next.node}`);
      const r = await slow;
      assert.equal(r.node, 's3');
      assert.ok(r.run.code === 0 && r.saw226, `the upload running during the drain completes:\n${r.log}`);
      assert.equal(sha256(join(fleet.storageDir, remote)), ctx.payloadSha, 'the upload is stored whole');
      for (let i = 0; i < 100 && alive(s3.pid); i++) await sleep(200);
      assert.equal(alive(s3.pid), false, 's3 exits once its last session is done');
      drainNotes.push(`admin API drain of s3 (haproxy-pp2, 3 nodes): 202, /readyz 503 while draining, running upload completed, next session from ${source} on ${next.node}`);
    }));
  });

  it('observed matrix (mode × client × data mode × curl/lftp)', (t) => {
    const nodeOf = (r: Row) => (r.curl.node && r.lftp.node && r.curl.node !== r.lftp.node ? `${r.curl.node}/${r.lftp.node}` : r.curl.node ?? r.lftp.node ?? '?');
    const note = (r: Row) => [r.curl.result === 'FAIL' ? `curl: ${r.curl.reason}` : '', r.lftp.result === 'FAIL' ? `lftp: ${r.lftp.reason}` : ''].filter(Boolean).join('; ');
    t.diagnostic('| mode | client | data mode | curl | lftp | node | note |');
    t.diagnostic('|---|---|---|---|---|---|---|');
    for (const r of rows) t.diagnostic(`| ${r.scenario} | ${r.client} | ${r.dmode} | ${r.curl.result} | ${r.lftp.result} | ${nodeOf(r)} | ${note(r)} |`);
    for (const s of spreads) t.diagnostic(`spread: ${s}`);
    for (const p of probes) t.diagnostic(`probe: ${p}`);
    for (const d of drainNotes) t.diagnostic(`drain: ${d}`);
    const cells = rows.flatMap((r) => [r.curl, r.lftp]).filter((c) => c.result !== 'n/a');
    t.diagnostic(`${cells.filter((c) => c.result === 'ok').length} of ${cells.length} cells ok`);
  });
});

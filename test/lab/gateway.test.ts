/**
 * End to end in the network-namespace lab (../shared/lab): `ftpfleet gateway`
 * runs in the balancer's namespace (fl-lb, on the VIP 198.18.1.100:21, lab LB
 * mode "none": a router with a firewall, nothing else on the VIP) in front of
 * two ftpfleet nodes on the private server network (s1, s2, one shared storage
 * directory). Clients in `client` (internet) and `natclient` (behind the home
 * NAT router and its FTP ALG) upload and download a 1 MiB file through it with
 * curl (PASV, EPSV, PORT, EPRT) and lftp (PASV, EPSV, PORT), sha256 compared:
 *
 * - backends with dataPolicy "client": the gateway's leg to the node is in the
 *   client's mode (active clients: the node connects to the gateway at 198.18.2.1);
 * - after a SIGHUP to dataPolicy "passive": active clients, passive legs to the nodes.
 *
 * The gateway balances round-robin, so each upload and its download are
 * separate sessions on different nodes (checked in the gateway's log), and
 * STAT through the gateway reaches both nodes. The gateway logs every transfer
 * with its client and backend modes; they are checked against the policy.
 *
 * Needs root and network namespaces (skipped otherwise). Takes the lab lock of
 * lab.ts for the run, and takes the lab down at the end whatever happens.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { acquireLabLock, alive, jsonLines, Lab, LabRun, labWorkDir, LB_SERVER_SIDE, labSkipReason, requireTools, sleep, snapshotBuild, tail, VIP } from './lab.js';
import { curlCell, DATA_MODES, lftpCell, sha256, statNode, type CellResult, type ClientContext, type ClientNode, type DataMode } from './labClients.js';

const USER = 'labuser';
const PASSWORD = 'lab-pass-7Qx2';
const PAYLOAD_SIZE = 1024 * 1024 + 12345;
const CLIENTS: ClientNode[] = ['client', 'natclient'];
/** The gateway's passive range on the VIP: outside the nodes' slices (10000-19999). */
const GATEWAY_PASV = '30000-30999';
const SUITE = 'network lab: ftpfleet gateway in the balancer namespace in front of two nodes';

const skip = labSkipReason();
const releaseLock = skip === null ? await acquireLabLock(20 * 60) : () => {};

interface Proc {
  name: string;
  pid: number;
  log: string;
}


if (skip !== null) {
  const reason = skip;
  test(SUITE, (t) => t.skip(reason));
} else
  describe(SUITE, { timeout: 5 * 60_000 }, () => {
    const lab = new Lab();
    let work: string;
    let cli: string;
    let ctx: ClientContext;
    let gatewayConfig: Record<string, any>;
    let gatewayConfigFile: string;
    let gateway: Proc | null = null;
    const nodes: Proc[] = [];
    const labRun = new LabRun();
    const tracked = labRun.tracked.bind(labRun);

    async function waitLog(p: Proc, msg: string, ms = 30_000): Promise<void> {
      const deadline = Date.now() + ms;
      for (;;) {
        if (jsonLines(p.log).some((l) => l.msg === msg)) return;
        if (!alive(p.pid)) throw new Error(`${p.name} exited at start:\n${tail(p.log)}`);
        if (Date.now() > deadline) throw new Error(`${p.name}: no "${msg}" within ${ms} ms:\n${tail(p.log)}`);
        await sleep(100);
      }
    }

    /** Transfer log lines of the gateway from line `from` on. */
    const gatewayTransfers = (from = 0) => jsonLines(gateway!.log).slice(from).filter((l) => l.msg === 'transfer');

    before(tracked(async () => {
      requireTools(['curl', 'lftp']);
      labRun.trapSignals();
      const dir = await labWorkDir('ftpfleet-lab-gw-', USER, PASSWORD, PAYLOAD_SIZE);
      const { storage, usersFile, payload } = dir;
      work = dir.work;
      cli = await snapshotBuild(join(work, 'app'));
      await lab.sh(['down'], 180_000).catch(() => {});
      // "up" leaves the balancer in mode "none": the lb namespace routes and filters, nothing listens on the VIP.
      await lab.up(2);
      ctx = { lab, user: USER, password: PASSWORD, payload, payloadSha: sha256(payload), workDir: work, cli };

      for (let i = 1; i <= 2; i++) {
        const config = {
          nodeId: `s${i}`,
          banner: `ftpfleet lab s${i} ready`,
          listen: { port: 21 },
          storage: { local: { root: storage, fsync: true } },
          users: { file: usersFile },
          tls: { enabled: false },
          // the gateway connects from 198.18.2.1 to the node's own address: no balancer in between
          passive: { portRange: lab.pasvRange(i) },
          shutdown: { grace: 5 },
          ops: { address: '127.0.0.1', port: 9121 },
          log: { level: 'info' },
        };
        const file = join(work, `s${i}.yaml`);
        writeFileSync(file, stringify(config));
        const name = `ftpfleet-gw-s${i}`;
        const pid = await lab.spawn(`s${i}`, name, [process.execPath, cli, 'serve', '--config', file]);
        nodes.push({ name, pid, log: lab.logPath(name) });
      }
      for (const n of nodes) await waitLog(n, 'ftpfleet started');

      gatewayConfig = {
        nodeId: 'lab-gateway',
        listen: { addresses: [VIP], port: 21 },
        backends: [1, 2].map((i) => ({ name: `s${i}`, host: `198.18.2.${10 + i}`, port: 21, dataPolicy: 'client' })),
        balance: { strategy: 'round-robin' },
        health: { interval: 1, timeout: 2, rise: 1, fall: 2 },
        tls: { enabled: false },
        passive: { portRange: GATEWAY_PASV },
        shutdown: { grace: 5 },
        ops: { address: '127.0.0.1', port: 9122 },
        log: { level: 'info' },
      };
      gatewayConfigFile = join(work, 'gateway.yaml');
      writeFileSync(gatewayConfigFile, stringify(gatewayConfig));
      const name = 'ftpfleet-gateway';
      const pid = await lab.spawn('lb', name, [process.execPath, cli, 'gateway', '--config', gatewayConfigFile]);
      gateway = { name, pid, log: lab.logPath(name) };
      await waitLog(gateway, 'ftpfleet gateway started');
    }));

    after(async () => {
      try {
        for (const p of [gateway, ...nodes]) if (p) await lab.stop(p.name).catch(() => {});
        if (work && lab.env.FL_STATE_DIR && existsSync(join(lab.stateDir, 'logs'))) cpSync(join(lab.stateDir, 'logs'), join(work, 'lab-logs'), { recursive: true });
      } catch (err) {
        process.stderr.write(`lab gateway test: stopping or saving logs failed: ${(err as Error).message}\n`);
      }
      try {
        await lab.down();
      } finally {
        releaseLock();
        labRun.releaseSignals();
        if (work) {
          if (labRun.keep) process.stderr.write(`lab gateway test: configs, transcripts and logs kept in ${work}\n`);
          else rmSync(work, { recursive: true, force: true });
        }
      }
    });

    /**
     * Every client × data mode × tool through the gateway; checks each gateway
     * transfer line against `backendMode` (the client's own mode when null).
     */
    async function matrix(tag: string, modes: DataMode[], backendMode: 'passive' | 'active' | null): Promise<void> {
      const bad: string[] = [];
      const from = jsonLines(gateway!.log).length;
      let expectedTransfers = 0;
      for (const client of CLIENTS) {
        for (const dmode of modes) {
          const cellTag = `${tag}-${client}-${dmode}`.toLowerCase();
          const cells: Array<[string, CellResult]> = [['curl', await curlCell(ctx, client, dmode, cellTag)], ['lftp', await lftpCell(ctx, client, dmode, cellTag)]];
          for (const [tool, cell] of cells) {
            if (cell.result === 'n/a') continue;
            expectedTransfers += 2;
            if (cell.result !== 'ok') bad.push(`${client} ${dmode} ${tool}: ${cell.reason}`);
          }
        }
      }
      assert.deepEqual(bad, [], `cells that failed through the gateway (transcripts in ${work}):\n${bad.join('\n')}`);
      await sleep(200);
      const transfers = gatewayTransfers(from).filter((l) => l.command === 'STOR' || l.command === 'RETR');
      assert.equal(transfers.length, expectedTransfers, JSON.stringify(transfers.slice(-4)));
      for (const t of transfers) {
        assert.equal(t.result, 'ok', JSON.stringify(t));
        assert.equal(t.bytes, PAYLOAD_SIZE, JSON.stringify(t));
        const clientMode = t.clientMode as string;
        assert.equal(t.backendMode, backendMode ?? clientMode, JSON.stringify(t));
      }
      // both nodes did some of the work (round-robin: an upload and its download are on different nodes)
      const served = new Set(transfers.map((t) => t.backend));
      assert.deepEqual([...served].sort(), ['s1', 's2'], `transfers by backend: ${[...served].join(',')}`);
    }

    it('STAT through the gateway reaches both nodes (round-robin), from both clients', tracked(async () => {
      const seen = new Set<string>();
      for (const client of CLIENTS) {
        for (let k = 0; k < 2; k++) {
          const r = await statNode(ctx, client, 'EPSV');
          assert.equal(r.error, '', r.log);
          assert.ok(r.node, r.log);
          seen.add(r.node!);
        }
      }
      assert.deepEqual([...seen].sort(), ['s1', 's2']);
    }));

    it('dataPolicy client: curl PASV/EPSV/PORT/EPRT and lftp PASV/EPSV/PORT from client and natclient, sha256', tracked(async () => {
      await matrix('gw-client', DATA_MODES, null);
      // active legs to the nodes: they connected to the gateway's server-side address
      assert.ok(gatewayTransfers().some((t) => t.backendMode === 'active'));
    }));

    it('dataPolicy passive (after SIGHUP): active clients reach the nodes over passive legs, sha256', tracked(async () => {
      gatewayConfig.backends = gatewayConfig.backends.map((b: Record<string, any>) => ({ ...b, dataPolicy: 'passive' }));
      writeFileSync(gatewayConfigFile, stringify(gatewayConfig));
      const before = jsonLines(gateway!.log).length;
      process.kill(gateway!.pid, 'SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!jsonLines(gateway!.log).slice(before).some((l) => l.msg === 'backends reloaded')) {
        assert.ok(Date.now() < deadline, `no "backends reloaded" after SIGHUP:\n${tail(gateway!.log)}`);
        await sleep(100);
      }
      await matrix('gw-passive', ['PORT', 'EPRT'], 'passive');
    }));

    it('the nodes saw only the gateway (198.18.2.1) as their peer', tracked(async () => {
      for (const n of nodes) {
        const opened = jsonLines(n.log).filter((l) => l.msg === 'session opened');
        assert.ok(opened.length > 0, `${n.name} had no sessions`);
        for (const l of opened) assert.equal(String(l.client).replace(/^::ffff:/, ''), LB_SERVER_SIDE, JSON.stringify(l));
      }
    }));
  });

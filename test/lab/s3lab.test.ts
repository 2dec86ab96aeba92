/**
 * End to end in the network lab with S3 storage: two ftpfleet nodes on the
 * lab's backends share one bucket of a real S3 server (Ceph RGW, test/helpers/s3.ts)
 * behind the lab balancer (netfilter DNAT, then HAProxy with PROXY v2).
 *
 * A file uploaded through the VIP lands on one node; fresh sessions that the
 * balancer sends to the other node list it (with its size) and download it,
 * sha256 compared — with curl in PASV, EPSV, PORT and EPRT, with lftp in PASV,
 * EPSV and PORT, and between the internet client and the device behind the home
 * NAT (natclient). The client picks the node through its source address (the
 * balancer hashes it); every session's banner says which node served it.
 * Afterwards the bucket holds exactly the uploaded objects with the uploaded
 * bytes, and no multipart upload is left.
 *
 * RGW listens on 127.0.0.1 of the host namespace, which the lab's namespaces
 * cannot reach: each node gets a forwarder on 127.0.0.1:7480 of its own
 * namespace that hands connections over a Unix socket to the test process,
 * which forwards them to RGW (s3forward.ts).
 *
 * Needs root and network namespaces (skipped otherwise, as lab.test.ts); when
 * it can run, RGW must start (under CI=true a gateway that cannot start fails
 * the test instead of skipping it). Takes the lab lock of lab.ts for the run.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { hashPassword } from '../../src/auth/passwords.js';
import { s3Fixture, s3Settings, type S3Fixture } from '../helpers/s3.js';
import { acquireLabLock, alive, CLIENT_ADDRESSES, Fleet, Lab, LabRun, labSkipReason, requireTools, ROOT, sleep, snapshotBuild, tail, VIP, type LbMode } from './lab.js';
import {
  checkDataCommand,
  curlTransfer,
  DATA_MODES,
  sha256,
  statNode,
  type ClientContext,
  type ClientNode,
  type CurlTransfer,
  type DataMode,
} from './labClients.js';
import { forward, type Forwarder } from './s3forward.js';

const USER = 'labuser';
const PASSWORD = 'lab-pass-7Qx2';
/** Above the 5 MiB part size: every upload is a two-part multipart upload. */
const PAYLOAD_SIZE = 6 * 1024 * 1024 + 12345;
const NODES = ['s1', 's2'] as const;
type NodeName = (typeof NODES)[number];
const other = (n: NodeName): NodeName => (n === 's1' ? 's2' : 's1');

interface Scenario {
  name: string;
  mode: LbMode;
  /** The key prefix of this scenario's objects in the shared bucket. */
  prefix: string;
}
const SCENARIOS: Scenario[] = [
  { name: 'nat', mode: 'nat', prefix: 'nat/' },
  { name: 'haproxy-pp2', mode: 'haproxy-pp2', prefix: 'haproxy-pp2/' },
];

const SUITE = 'network lab + S3: two nodes share one bucket behind the balancer';

// Not root (or no namespaces): skip before touching the lab or starting RGW.
let skip = labSkipReason();
// One lab per machine: wait for another lab test run (lab.test.ts takes several minutes).
const releaseLock = skip === null ? await acquireLabLock(20 * 60) : () => {};
// RGW: under CI=true s3Fixture throws when the gateway cannot start; that fails the test below.
let fx: S3Fixture | null = null;
let fxError: Error | null = null;
if (skip === null) {
  try {
    const f = await s3Fixture('lab');
    if ('skip' in f) skip = f.skip;
    else fx = f;
  } catch (err) {
    fxError = err as Error;
  }
  if (skip !== null || fxError) releaseLock();
}

if (fxError) {
  const err = fxError;
  test(SUITE, () => {
    throw err;
  });
} else if (skip !== null || !fx) {
  const reason = skip ?? 'no S3 fixture';
  test(SUITE, (t) => t.skip(reason));
} else {
  const s3 = fx;
  describe(SUITE, { timeout: 5 * 60_000 }, () => {
    const lab = new Lab();
    let work: string;
    let fleet: Fleet;
    let ctx: ClientContext;
    const labRun = new LabRun();
    const tracked = labRun.tracked.bind(labRun);
    /** Host side of each node's S3 path: a Unix socket forwarded to RGW. */
    const bridges = new Map<NodeName, Forwarder>();
    const forwarders: string[] = [];
    const endpoint = new URL(s3.env.endpoint);

    before(tracked(async () => {
      requireTools(['curl', 'lftp']);
      assert.equal(endpoint.hostname, '127.0.0.1', `the forwarders expect RGW on 127.0.0.1 (S3_ENDPOINT ${s3.env.endpoint})`);
      labRun.trapSignals();
      work = mkdtempSync(join(tmpdir(), 'ftpfleet-s3lab-'));
      const usersFile = join(work, 'users.yaml');
      writeFileSync(usersFile, stringify({ users: { [USER]: { password: await hashPassword(PASSWORD), home: '/' } } }));
      const payload = join(work, 'payload.bin');
      writeFileSync(payload, randomBytes(PAYLOAD_SIZE));
      const cli = await snapshotBuild(join(work, 'app'));
      // the forwarder runs in the namespaces from the snapshot too (it imports only node:)
      const fwdScript = join(work, 'app', 's3forward.js');
      for (let attempt = 1; ; attempt++) {
        try {
          copyFileSync(join(ROOT, 'dist/test/lab/s3forward.js'), fwdScript);
          break;
        } catch (err) {
          // dist/ being rebuilt right now (as in snapshotBuild): try again shortly
          if (attempt >= 10) throw err;
          await sleep(3000);
        }
      }
      await lab.sh(['down'], 180_000).catch(() => {});
      await lab.up(2);
      // storage.local is unused (backend s3); Fleet wants a directory anyway
      mkdirSync(join(work, 'unused-local'));
      fleet = new Fleet(lab, work, join(work, 'unused-local'), usersFile, cli);
      ctx = { lab, user: USER, password: PASSWORD, payload, payloadSha: sha256(payload), workDir: work, cli };

      for (const n of NODES) {
        const sock = join(work, `rgw-${n}.sock`);
        bridges.set(n, await forward({ path: sock }, { host: endpoint.hostname, port: Number(endpoint.port || 80) }));
        const name = `s3forward-${n}`;
        await lab.spawn(n, name, [process.execPath, fwdScript, '127.0.0.1', endpoint.port || '80', sock]);
        forwarders.push(name);
        const deadline = Date.now() + 15_000;
        while (!existsSync(lab.logPath(name)) || !readFileSync(lab.logPath(name), 'utf8').includes('listening')) {
          if (Date.now() > deadline) throw new Error(`the S3 forwarder in ${n} did not start:\n${tail(lab.logPath(name))}`);
          await sleep(50);
        }
      }
    }));

    after(async () => {
      try {
        if (fleet) await fleet.stopAll();
        for (const name of forwarders) await lab.stop(name).catch(() => {});
        if (work && lab.env.FL_STATE_DIR && existsSync(join(lab.stateDir, 'logs'))) {
          cpSync(join(lab.stateDir, 'logs'), join(work, 'lab-logs'), { recursive: true });
        }
      } catch (err) {
        process.stderr.write(`s3 lab test: stopping the nodes or saving the logs failed: ${(err as Error).message}\n`);
      }
      try {
        await lab.down();
      } finally {
        for (const b of bridges.values()) await b.close();
        await s3.close();
        releaseLock();
        labRun.releaseSignals();
        if (work) {
          if (labRun.keep) process.stderr.write(`s3 lab test: configs, transcripts and lab logs kept in ${work}\n`);
          else rmSync(work, { recursive: true, force: true });
        }
      }
    });

    /** What a transfer's transcript says went wrong, or '' when it completed with `dmode`. */
    function curlProblem(r: CurlTransfer, dmode: DataMode): string {
      if (r.run.code !== 0 || !r.saw226) {
        return `curl exit ${r.run.code}${r.run.timedOut ? ' (timed out)' : ''}: ${/^< ([45]\d\d .*)$/m.exec(r.log)?.[1] ?? /^curl: (.*)$/m.exec(r.log)?.[1] ?? 'no 226'}`;
      }
      return checkDataCommand(r.log, dmode);
    }

    /** The line of `name` in a LIST, and whether it shows the payload's size. */
    function listed(listing: string, name: string): boolean {
      return listing.split(/\r?\n/).some((l) => l.endsWith(` ${name}`) && new RegExp(`\\s${PAYLOAD_SIZE}\\s`).test(l));
    }

    interface Side {
      client: ClientNode;
      /** Source address (client only): picks the node through the balancer's hash. */
      source?: string;
      node: NodeName;
    }

    /** Upload with curl on `from`, then LIST and download with curl on `to`, each its own session. */
    async function curlAcross(dir: string, dmode: DataMode, from: Side, to: Side, name: string): Promise<string[]> {
      const bad: string[] = [];
      const where = `${from.client}@${from.node} -> ${to.client}@${to.node} ${dmode} curl`;
      const up = await curlTransfer(ctx, { client: from.client, source: from.source, dmode, direction: 'up', remote: name, local: ctx.payload });
      writeFileSync(join(dir, `${name}.up.log`), up.log);
      const upWhy = curlProblem(up, dmode);
      if (upWhy) return [`${where}: upload: ${upWhy}`];
      if (up.node !== from.node) bad.push(`${where}: the upload landed on ${up.node}`);
      const listFile = join(dir, `${name}.list`);
      const ls = await curlTransfer(ctx, { client: to.client, source: to.source, dmode, direction: 'down', remote: '', local: listFile });
      writeFileSync(join(dir, `${name}.list.log`), ls.log);
      const lsWhy = curlProblem(ls, dmode);
      if (lsWhy) bad.push(`${where}: LIST: ${lsWhy}`);
      else if (!listed(readFileSync(listFile, 'utf8'), name)) bad.push(`${where}: LIST on ${ls.node} has no "${name}" of ${PAYLOAD_SIZE} bytes:\n${readFileSync(listFile, 'utf8')}`);
      if (ls.node !== to.node) bad.push(`${where}: the LIST session landed on ${ls.node}`);
      const local = join(dir, `${name}.dl`);
      const down = await curlTransfer(ctx, { client: to.client, source: to.source, dmode, direction: 'down', remote: name, local });
      writeFileSync(join(dir, `${name}.down.log`), down.log);
      const downWhy = curlProblem(down, dmode);
      if (downWhy) bad.push(`${where}: download: ${downWhy}`);
      else if (sha256(local) !== ctx.payloadSha) bad.push(`${where}: sha256 of the download differs`);
      if (down.node !== to.node) bad.push(`${where}: the download landed on ${down.node}`);
      rmSync(local, { force: true });
      return bad;
    }

    /** One lftp session (strict settings, as labClients.ts) bound to `source`; its debug transcript and banner node. */
    async function lftpSession(dir: string, side: Side, dmode: DataMode, tag: string, commands: string[]): Promise<{ ok: boolean; why: string; log: string; out: string; node: string | null }> {
      const debugLog = join(dir, `${tag}.lftp.log`);
      rmSync(debugLog, { force: true });
      const script = [
        'set cmd:fail-exit yes; set net:timeout 4; set net:max-retries 1;',
        'set net:reconnect-interval-base 1; set ftp:ssl-allow no;',
        'set ftp:auto-passive-mode no; set ftp:fix-pasv-address no;',
        `set ftp:passive-mode ${dmode === 'PORT' ? 'off' : 'on'}; set ftp:prefer-epsv ${dmode === 'EPSV' ? 'yes' : 'no'}; set xfer:clobber on;`,
        ...(side.source ? [`set net:socket-bind-ipv4 ${side.source};`] : []),
        `debug -o ${debugLog} 9;`,
        `open -u ${USER},${PASSWORD} ftp://${VIP};`,
        ...commands.map((c) => `${c};`),
        'bye',
      ].join('\n');
      const run = await lab.exec(side.client, ['lftp', '-c', script], 45_000);
      const log = existsSync(debugLog) ? readFileSync(debugLog, 'utf8').replace(/\r/g, '') : '';
      const node = /^<--- 220 ftpfleet lab (s\d+)/m.exec(log)?.[1] ?? null;
      let why = '';
      if (run.code !== 0) {
        const err = [...log.matchAll(/^<--- ([45]\d\d .*)$/gm)].at(-1)?.[1];
        why = `lftp exit ${run.code}${run.timedOut ? ' (timed out)' : ''}: ${err ?? (run.stderr.trim().split('\n').at(-1) || '')}`;
      } else why = checkDataCommand(log, dmode);
      return { ok: why === '', why, log, out: run.stdout, node };
    }

    /** Upload with lftp on `from`, then LIST (ls) and download (get) with lftp in one session on `to`. */
    async function lftpAcross(dir: string, dmode: DataMode, from: Side, to: Side, name: string): Promise<string[]> {
      const where = `${from.client}@${from.node} -> ${to.client}@${to.node} ${dmode} lftp`;
      const up = await lftpSession(dir, from, dmode, `${name}.up`, [`put ${ctx.payload} -o ${name}`]);
      if (!up.ok) return [`${where}: upload: ${up.why}`];
      const bad: string[] = [];
      if (up.node !== from.node) bad.push(`${where}: the upload landed on ${up.node}`);
      const local = join(dir, `${name}.dl`);
      const down = await lftpSession(dir, to, dmode, `${name}.down`, ['ls', `get ${name} -o ${local}`]);
      if (!down.ok) return [...bad, `${where}: ls/get: ${down.why}`];
      if (down.node !== to.node) bad.push(`${where}: the download landed on ${down.node}`);
      if (!listed(down.out, name)) bad.push(`${where}: ls on ${down.node} has no "${name}" of ${PAYLOAD_SIZE} bytes:\n${down.out}`);
      if (!existsSync(local) || sha256(local) !== ctx.payloadSha) bad.push(`${where}: sha256 of the download differs`);
      rmSync(local, { force: true });
      return bad;
    }

    for (const sc of SCENARIOS) {
      describe(`${sc.name}, 2 nodes, one bucket`, () => {
        /** A client source address that the balancer sends to each node. */
        const sourceOf = new Map<NodeName, string>();
        let natNode: NodeName;
        const uploaded: string[] = [];
        /** This scenario's transcripts and downloads. */
        let dir: string;

        before(tracked(async () => {
          dir = join(work, sc.name);
          mkdirSync(dir);
          await fleet.start(sc.mode, {
            tag: `s3-${sc.name}`,
            overrides: { storage: { backend: 's3', s3: s3Settings(s3.env, s3.bucket, { prefix: sc.prefix }) } },
          });
          for (const source of CLIENT_ADDRESSES) {
            const s = await statNode(ctx, 'client', 'EPSV', source);
            if ((s.node === 's1' || s.node === 's2') && !sourceOf.has(s.node)) sourceOf.set(s.node, source);
            if (sourceOf.size === 2) break;
          }
          assert.equal(sourceOf.size, 2, `the 17 client addresses reach both nodes (found ${[...sourceOf.keys()].join(', ')})`);
          const n = (await statNode(ctx, 'natclient', 'EPSV')).node;
          assert.ok(n === 's1' || n === 's2', `natclient's node: ${n}`);
          natNode = n;
        }));

        it('each node reaches the bucket (its /readyz storage check is ok)', tracked(async (t) => {
          t.diagnostic(`${sc.name}: client sources ${[...sourceOf].map(([n, a]) => `${a} -> ${n}`).join(', ')}; natclient -> ${natNode}`);
          for (const n of NODES) {
            const r = await lab.exec(n, ['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9121/readyz'], 20_000);
            const body = JSON.parse(r.stdout || '{}');
            assert.equal(body.checks?.storage?.ok, true, `${n} /readyz: ${r.stdout}${r.stderr}`);
          }
        }));

        it('curl: uploaded through the VIP on one node, listed and downloaded on the other (PASV, EPSV, PORT, EPRT)', tracked(async () => {
          const bad: string[] = [];
          for (const [k, dmode] of DATA_MODES.entries()) {
            const from: NodeName = k % 2 === 0 ? 's1' : 's2';
            const to = other(from);
            const name = `curl-${dmode.toLowerCase()}-${from}-to-${to}.bin`;
            bad.push(...(await curlAcross(dir, dmode, { client: 'client', source: sourceOf.get(from), node: from }, { client: 'client', source: sourceOf.get(to), node: to }, name)));
            uploaded.push(name);
          }
          assert.deepEqual(bad, []);
        }));

        it('lftp: the same across nodes (PASV, EPSV, PORT)', tracked(async () => {
          const bad: string[] = [];
          for (const [k, dmode] of (['PASV', 'EPSV', 'PORT'] as DataMode[]).entries()) {
            const from: NodeName = k % 2 === 0 ? 's2' : 's1';
            const to = other(from);
            const name = `lftp-${dmode.toLowerCase()}-${from}-to-${to}.bin`;
            bad.push(...(await lftpAcross(dir, dmode, { client: 'client', source: sourceOf.get(from), node: from }, { client: 'client', source: sourceOf.get(to), node: to }, name)));
            uploaded.push(name);
          }
          assert.deepEqual(bad, []);
        }));

        it('client and natclient (behind the home NAT) exchange files across the two nodes, passive and active', tracked(async () => {
          const bad: string[] = [];
          const far = other(natNode);
          const client: Side = { client: 'client', source: sourceOf.get(far), node: far };
          const nat: Side = { client: 'natclient', node: natNode };
          for (const dmode of DATA_MODES) {
            // passive and active each both ways: PASV and EPRT client -> natclient, EPSV and PORT back
            const [from, to] = dmode === 'PASV' || dmode === 'EPRT' ? [client, nat] : [nat, client];
            const name = `nat-${dmode.toLowerCase()}-${from.client}-${from.node}-to-${to.client}-${to.node}.bin`;
            bad.push(...(await curlAcross(dir, dmode, from, to, name)));
            uploaded.push(name);
          }
          assert.deepEqual(bad, []);
        }));

        it('the bucket holds exactly the uploaded objects, whole; no multipart upload is left; both nodes logged their uploads', tracked(async (t) => {
          const keys = (await s3.keys(sc.prefix)).sort();
          assert.deepEqual(keys, uploaded.map((n) => sc.prefix + n).sort(), 'one object per upload, nothing else (no temporary objects)');
          for (const key of keys) {
            const obj = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
            const bytes = await obj.Body!.transformToByteArray();
            assert.equal(bytes.length, PAYLOAD_SIZE, key);
            assert.equal(createHash('sha256').update(bytes).digest('hex'), ctx.payloadSha, `${key}: the object's bytes are the uploaded file`);
          }
          assert.deepEqual(await s3.multipartUploads(), [], 'no multipart upload left in the bucket');
          for (const n of NODES) {
            const lines = fleet.logLines(fleet.node(n)).filter((l) => l.msg === 'transfer');
            const ups = lines.filter((l) => l.direction === 'upload');
            const downs = lines.filter((l) => l.direction === 'download');
            assert.ok(ups.length > 0 && downs.length > 0, `${n} served uploads (${ups.length}) and downloads (${downs.length})`);
            assert.deepEqual(lines.filter((l) => l.result !== 'ok').map((l) => `${l.path}: ${l.result} ${l.err ?? ''}`), [], `${n}: every transfer ok`);
            assert.ok(alive(fleet.node(n).pid), `${n} still runs`);
          }
          t.diagnostic(`${sc.name}: ${keys.length} objects of ${PAYLOAD_SIZE} bytes in ${s3.bucket}/${sc.prefix}; S3 through the forwarders so far: ${[...bridges].map(([n, b]) => `${n} ${b.connections} connections, ${(b.bytes / 1048576).toFixed(1)} MiB`).join('; ')}`);
          for (const [n, b] of bridges) assert.ok(b.connections > 0, `${n} reached RGW through its forwarder`);
        }));
      });
    }
  });
}

/**
 * `ftpfleet lb-config`: the fleet schema and every generator. Where the real
 * tool is installed (haproxy, nft, keepalived, iptables-restore, terraform,
 * cfn-lint), the generated text is also fed to it; otherwise that check is
 * skipped with the reason.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { FleetError, mergeRanges, parseFleet, parseFleetYaml, type Fleet, type FleetInput } from '../../src/lb/fleet.js';
import { generate, type OutputKind } from '../../src/lb/generate.js';
import { nodeEnvLines } from '../../src/lb/nodeEnv.js';

const CLI = resolve(import.meta.dirname, '../../src/cli/main.js');

let dir = '';
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ftpfleet-lb-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmpFile(name: string, text: string): string {
  const file = join(dir, `${n++}-${name}`);
  writeFileSync(file, text);
  return file;
}

const NODES2 = [
  { name: 's1', address: '198.18.2.11', passive: '10000-10999' },
  { name: 's2', address: '198.18.2.12', passive: '11000-11999' },
];
const NODES3 = [...NODES2, { name: 's3', address: '198.18.2.13', passive: '12000-12999' }];

const lvs = (extra: Partial<FleetInput> = {}, nodes = NODES2): Fleet =>
  parseFleet({ vip: '198.18.1.100', balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24' } }, nodes, ...extra });
const haproxy = (extra: Partial<FleetInput> = {}, nodes = NODES3): Fleet =>
  parseFleet({ vip: '198.18.1.100', balancer: { kind: 'haproxy' }, nodes, ...extra });
const NLB = { kind: 'nlb', nlb: { vpcId: 'vpc-0123456789abcdef0', subnetMappings: [{ subnetId: 'subnet-0123456789abcdef0', allocationId: 'eipalloc-0123456789abcdef0' }] } } as const;
const SMALL = [
  { name: 'node-a', address: '10.0.1.11', passive: '30000-30009' },
  { name: 'node-b', address: '10.0.2.12', passive: '30010-30019' },
  { name: 'node-c', address: '10.0.3.13', passive: '30020-30029' },
];
const nlb = (extra: Partial<FleetInput> = {}, nodes = SMALL): Fleet => parseFleet({ vip: '203.0.113.10', balancer: NLB, nodes, ...extra });

const text = (kind: OutputKind, fleet: Fleet) => generate(kind, fleet).text;

/** The lines of a generated config that are not comments. */
const rules = (t: string, comment = '#') => t.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith(comment));

function fleetError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FleetError, `expected a FleetError, got ${String(caught)}`);
  return caught.message;
}

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

/**
 * Runs a validator on the generated file. Skips (with the reason) when the
 * tool is missing, or when it cannot even accept a known-good input here
 * (no privileges, no netfilter in this kernel).
 */
function validate(t: TestContext, tool: string, args: (file: string) => string[], generated: string, knownGood?: string, ext = ''): void {
  if (!which(tool)) {
    t.skip(`${tool} is not installed`);
    return;
  }
  if (knownGood !== undefined) {
    const probe = spawnSync(tool, args(tmpFile('known-good', knownGood)), { encoding: 'utf8' });
    if (probe.status !== 0) {
      t.skip(`${tool} cannot check rules in this environment: ${(probe.stderr || probe.stdout).trim().split('\n')[0]}`);
      return;
    }
  }
  const file = tmpFile(`generated-${tool}${ext}`, generated);
  const r = spawnSync(tool, args(file), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${tool} rejected the generated file:\n${r.stdout}\n${r.stderr}\n--- file ---\n${generated}`);
}

describe('fleet description: validation', () => {
  it('fills in the defaults', () => {
    const f = lvs();
    assert.equal(f.controlPort, 21);
    assert.equal(f.balancer.lvs.fwmark, 21);
    assert.equal(f.balancer.lvs.lbAlgo, 'wlc');
    assert.equal(f.persistenceTimeout, 300);
    assert.equal(f.healthCheck.type, 'tcp');
    assert.equal(f.healthCheck.path, '/readyz');
    assert.deepEqual(f.proxyProtocol, { enabled: false, data: false, trustedNetworks: [] });
    assert.deepEqual(f.nodes[1]!.passive, { min: 11000, max: 11999 });
  });

  it('reads YAML; PROXY headers go on data connections too unless proxyProtocol.data says otherwise', () => {
    const yaml = (pp: string) =>
      parseFleetYaml(['vip: 198.18.1.100', 'balancer: { kind: haproxy }', `proxyProtocol: ${pp}`, 'nodes:', '  - { name: s1, address: 198.18.2.11, passive: 10000-10999 }'].join('\n'), 'fleet.yaml');
    assert.deepEqual(yaml('false').proxyProtocol, { enabled: false, data: false, trustedNetworks: [] });
    assert.deepEqual(yaml('{ enabled: true, trustedNetworks: [198.18.2.1/32] }').proxyProtocol, { enabled: true, data: true, trustedNetworks: ['198.18.2.1/32'] });
    assert.equal(yaml('{ enabled: true, data: false, trustedNetworks: [198.18.2.1/32] }').proxyProtocol.data, false);
    assert.deepEqual(yaml('false').nodes[0]!.passive, { min: 10000, max: 10999 });
  });

  it('rejects overlapping passive slices, naming both nodes and the values', () => {
    const msg = fleetError(() =>
      haproxy({}, [
        { name: 's1', address: '198.18.2.11', passive: '10000-10999' },
        { name: 's2', address: '198.18.2.12', passive: '10500-11499' },
      ]),
    );
    assert.match(msg, /invalid fleet description/);
    assert.match(msg, /key "nodes\[1\]\.passive": got "10500-11499"; overlaps the passive slice 10000-10999 of nodes\[0\] \(s1\)/);
  });

  it('rejects a slice that touches another at a single port', () => {
    const msg = fleetError(() =>
      lvs({}, [
        { name: 's1', address: '198.18.2.11', passive: '10000-10999' },
        { name: 's2', address: '198.18.2.12', passive: '10999-11999' },
      ]),
    );
    assert.match(msg, /nodes\[1\]\.passive.*overlaps/);
  });

  it('rejects a slice that contains the control port', () => {
    const msg = fleetError(() => haproxy({}, [{ name: 's1', address: '198.18.2.11', passive: '1-1000' }]));
    assert.match(msg, /key "nodes\[0\]\.passive": got "1-1000"; the passive slice of s1 contains the control port 21/);
    const other = fleetError(() => haproxy({ controlPort: 2121 }, [{ name: 's1', address: '198.18.2.11', passive: '2000-2200' }]));
    assert.match(other, /contains the control port 2121/);
  });

  it('rejects a slice that contains the ops port of an HTTP health check', () => {
    const msg = fleetError(() => haproxy({ healthCheck: { type: 'http', port: 10500 } }, NODES2));
    assert.match(msg, /nodes\[0\]\.passive.*contains the ops port 10500/);
  });

  it('names the key, the value and the allowed values of an enum', () => {
    const msg = fleetError(() => parseFleet({ vip: '198.18.1.100', balancer: { kind: 'f5' }, nodes: NODES2 }));
    assert.match(msg, /key "balancer\.kind": got "f5"/);
    assert.match(msg, /"lvs"/);
    assert.match(msg, /"haproxy"/);
    assert.match(msg, /"nlb"/);
  });

  it('rejects bad addresses, ranges, unknown keys and duplicate names', () => {
    assert.match(fleetError(() => haproxy({ vip: 'vip.example.com' })), /key "vip": got "vip.example.com"; expected an IPv4 address/);
    assert.match(fleetError(() => haproxy({}, [{ name: 's1', address: '198.18.2.11', passive: '9000-3000' }])), /nodes\[0\]\.passive": got "9000-3000"; expected 1 <= MIN <= MAX/);
    assert.match(fleetError(() => parseFleet({ vip: '198.18.1.100', balancer: { kind: 'haproxy' }, nodes: NODES2, colour: 'blue' })), /unknown key\(s\) "colour" at the top level/);
    assert.match(
      fleetError(() => haproxy({}, [NODES2[0]!, { ...NODES2[1]!, name: 's1' }])),
      /key "nodes\[1\]\.name": got "s1"; the name is already used by nodes\[0\]/,
    );
    assert.match(fleetError(() => haproxy({}, [])), /key "nodes": got \[\]; expected at least one node/);
  });

  it('asks for what each balancer kind needs', () => {
    assert.match(fleetError(() => parseFleet({ vip: '198.18.1.100', balancer: { kind: 'lvs' }, nodes: NODES2 })), /key "balancer\.lvs\.serverNetwork": got nothing; required for balancer kind "lvs"/);
    assert.match(fleetError(() => parseFleet({ vip: '203.0.113.10', balancer: { kind: 'nlb' }, nodes: SMALL })), /balancer\.nlb\.vpcId/);
    assert.match(fleetError(() => haproxy({ proxyProtocol: true })), /key "proxyProtocol\.trustedNetworks": got nothing; required when proxyProtocol is on/);
    assert.match(fleetError(() => lvs({ proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } })), /LVS forwards packets and sends no PROXY header/);
  });

  it('refuses sharePorts where data connections do not carry the client address, naming the keys', () => {
    const pp = (extra: Record<string, unknown> = {}) => ({ proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'], ...extra } });
    for (const [name, make] of [
      ['HAProxy without PROXY', () => haproxy({ sharePorts: true })],
      ['HAProxy, PROXY on control only', () => haproxy({ sharePorts: true, ...pp({ data: false }) })],
      ['NLB without PROXY', () => nlb({ sharePorts: true })],
      ['NLB, PROXY on control only', () => nlb({ sharePorts: true, ...pp({ data: false }) })],
    ] as const) {
      const msg = fleetError(make);
      assert.match(msg, /key "sharePorts": got true; a shared passive port tells sessions apart by the client address/, name);
      assert.match(msg, /set proxyProtocol\.enabled: true with proxyProtocol\.data: true/, name);
      assert.match(msg, /or sharePorts: false/, name);
    }
    assert.match(fleetError(() => nlb({ sharePorts: true })), /or balancer\.nlb\.preserveClientIp: true/);
    // Accepted where the client address reaches the node: PROXY on data, LVS-NAT, an NLB preserving it.
    assert.equal(haproxy({ sharePorts: true, ...pp() }).sharePorts, true);
    assert.equal(nlb({ sharePorts: true, ...pp({ data: true }) }).sharePorts, true);
    assert.equal(lvs({ sharePorts: true }).sharePorts, true);
    assert.equal(nlb({ sharePorts: true, balancer: { ...NLB, nlb: { ...NLB.nlb, subnetMappings: [...NLB.nlb.subnetMappings], preserveClientIp: true } } }).sharePorts, true);
  });

  it('reports YAML syntax errors and non-mappings', () => {
    assert.match(fleetError(() => parseFleetYaml('vip: [', 'f.yaml')), /f\.yaml is not valid YAML/);
    assert.match(fleetError(() => parseFleetYaml('- a', 'f.yaml')), /must hold a mapping/);
  });

  it('mergeRanges joins overlapping and adjacent ranges and keeps gaps', () => {
    assert.deepEqual(
      mergeRanges([
        { min: 11000, max: 11999 },
        { min: 10000, max: 10999 },
        { min: 13000, max: 13000 },
      ]),
      [
        { min: 10000, max: 11999 },
        { min: 13000, max: 13000 },
      ],
    );
  });

  it('refuses a --kind that belongs to another balancer kind', () => {
    const msg = fleetError(() => generate('haproxy', lvs()));
    assert.match(msg, /--kind haproxy is a config for balancer kind "haproxy", but the fleet's balancer.kind is "lvs"/);
    assert.match(msg, /use --kind keepalived, iptables, nftables, node-env/);
  });
});

describe('keepalived (LVS-NAT)', () => {
  it('balances fwmark 21 with persistence over every node (2 nodes, TCP check on the control port)', () => {
    const out = text('keepalived', lvs());
    const r = rules(out, '!').join('\n');
    assert.match(r, /^virtual_server fwmark 21 \{$/m);
    assert.match(r, /^\s+lb_kind NAT$/m);
    assert.match(r, /^\s+lb_algo wlc$/m);
    assert.match(r, /^\s+persistence_timeout 300$/m);
    // port 0: each connection keeps its destination port (21, or the passive port)
    assert.match(r, /real_server 198\.18\.2\.11 0 \{/);
    assert.match(r, /real_server 198\.18\.2\.12 0 \{/);
    assert.equal((r.match(/TCP_CHECK/g) ?? []).length, 2);
    assert.equal((r.match(/connect_port 21$/gm) ?? []).length, 2);
    assert.doesNotMatch(r, /HTTP_GET/);
  });

  it('uses HTTP_GET /readyz on the ops port for an HTTP health check (3 nodes), and the configured mark', () => {
    const out = text('keepalived', lvs({ healthCheck: { type: 'http', port: 9121 }, persistenceTimeout: 900, balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', fwmark: 80, lbAlgo: 'sh' } } }, NODES3));
    const r = rules(out, '!').join('\n');
    assert.match(r, /^virtual_server fwmark 80 \{$/m);
    assert.match(r, /lb_algo sh/);
    assert.match(r, /persistence_timeout 900/);
    assert.equal((r.match(/HTTP_GET \{/g) ?? []).length, 3);
    assert.equal((r.match(/path \/readyz/g) ?? []).length, 3);
    assert.equal((r.match(/status_code 200/g) ?? []).length, 3);
    assert.equal((r.match(/connect_port 9121/g) ?? []).length, 3);
    for (const ip of ['198.18.2.11', '198.18.2.12', '198.18.2.13']) assert.match(r, new RegExp(`real_server ${ip.replace(/\./g, '\\.')} 0`));
  });

  it('adds a VRRP instance holding the VIP when asked', () => {
    const out = text('keepalived', lvs({ balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', vrrp: { interface: 'eth0', virtualRouterId: 51, extraAddresses: ['198.18.2.1/24 dev eth1'] } } } }));
    assert.match(out, /vrrp_instance ftpfleet \{[\s\S]*interface eth0[\s\S]*virtual_router_id 51[\s\S]*198\.18\.1\.100\n\s+198\.18\.2\.1\/24 dev eth1/);
  });

  it('is accepted by keepalived --config-test', (t) => {
    validate(t, 'keepalived', (f) => ['--config-test', '-f', f], text('keepalived', lvs({ healthCheck: { type: 'http' } }, NODES3)));
  });

  it('is accepted by keepalived --config-test with a TCP check and VRRP', (t) => {
    validate(t, 'keepalived', (f) => ['--config-test', '-f', f], text('keepalived', lvs({ balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', vrrp: { interface: 'eth0', virtualRouterId: 51 } } } })));
  });
});

describe('iptables and nftables (LVS-NAT marks and the port-20 rule)', () => {
  it('iptables: marks the control port and the union of the slices with 21, masquerades port 20 (2 nodes)', () => {
    const r = rules(text('iptables', lvs()));
    assert.ok(r.includes('-A PREROUTING -d 198.18.1.100/32 -p tcp --dport 21 -j MARK --set-mark 21'), r.join('\n'));
    // adjacent slices 10000-10999 and 11000-11999 form one range
    assert.ok(r.includes('-A PREROUTING -d 198.18.1.100/32 -p tcp --dport 10000:11999 -j MARK --set-mark 21'), r.join('\n'));
    assert.ok(r.includes('-A POSTROUTING -s 198.18.2.0/24 -p tcp --sport 20 -j MASQUERADE'), r.join('\n'));
    assert.equal(r.filter((l) => l.includes('--set-mark')).length, 2);
    assert.deepEqual(
      r.filter((l) => l.startsWith('*') || l === 'COMMIT'),
      ['*mangle', 'COMMIT', '*nat', 'COMMIT'],
    );
  });

  it('iptables: one rule per separate range, with the interface when given (3 nodes with a gap)', () => {
    const nodes = [...NODES2, { name: 's3', address: '198.18.2.13', passive: '15000-15099' }];
    const f = lvs({ balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', publicInterface: 'eth0', fwmark: 7 } } }, nodes);
    const r = rules(text('iptables', f));
    assert.ok(r.includes('-A PREROUTING -i eth0 -d 198.18.1.100/32 -p tcp --dport 21 -j MARK --set-mark 7'));
    assert.ok(r.includes('-A PREROUTING -i eth0 -d 198.18.1.100/32 -p tcp --dport 10000:11999 -j MARK --set-mark 7'));
    assert.ok(r.includes('-A PREROUTING -i eth0 -d 198.18.1.100/32 -p tcp --dport 15000:15099 -j MARK --set-mark 7'));
    assert.ok(r.includes('-A POSTROUTING -o eth0 -s 198.18.2.0/24 -p tcp --sport 20 -j MASQUERADE'));
  });

  it('nftables: one set of control port and slices with the mark, and the port-20 masquerade', () => {
    const nodes = [...NODES2, { name: 's3', address: '198.18.2.13', passive: '15000-15099' }];
    const r = rules(text('nftables', lvs({}, nodes)));
    assert.ok(r.some((l) => l.trim() === 'ip daddr 198.18.1.100 tcp dport { 21, 10000-11999, 15000-15099 } meta mark set 21'), r.join('\n'));
    assert.ok(r.some((l) => l.trim() === 'ip saddr 198.18.2.0/24 tcp sport 20 masquerade'), r.join('\n'));
    assert.ok(r.includes('table ip ftpfleet'));
    assert.ok(r.includes('delete table ip ftpfleet'));
  });

  it('iptables-restore --test accepts the iptables output', (t) => {
    const good = '*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n';
    validate(t, 'iptables-restore', (f) => ['--test', f], text('iptables', lvs({ balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', publicInterface: 'eth0' } } }, NODES3)), good);
  });

  it('nft -c accepts the nftables output', (t) => {
    const good = 'table ip ftpfleet_probe {\n    chain c {\n        type filter hook prerouting priority mangle; policy accept;\n    }\n}\n';
    validate(t, 'nft', (f) => ['-c', '-f', f], text('nftables', lvs({ balancer: { kind: 'lvs', lvs: { serverNetwork: '198.18.2.0/24', publicInterface: 'eth0' } } }, NODES3)), good);
  });

  it('nft -c accepts it without an interface and with two nodes', (t) => {
    const good = 'table ip ftpfleet_probe {\n    chain c {\n        type filter hook prerouting priority mangle; policy accept;\n    }\n}\n';
    validate(t, 'nft', (f) => ['-c', '-f', f], text('nftables', lvs()), good);
  });
});

describe('HAProxy', () => {
  it('balances the control port by source over 3 nodes and binds each slice on the VIP for its node', () => {
    const r = rules(text('haproxy', haproxy())).map((l) => l.trim());
    assert.ok(r.includes('bind 198.18.1.100:21'));
    assert.ok(r.includes('balance source'));
    assert.ok(r.includes('mode tcp'));
    assert.ok(r.includes('option tcp-check'));
    assert.ok(r.includes('tcp-check expect rstring ^220'));
    assert.ok(r.includes('tcp-check send QUIT\\r\\n'));
    for (const [i, name] of ['s1', 's2', 's3'].entries()) {
      const ip = `198.18.2.1${i + 1}`;
      const min = 10000 + i * 1000;
      assert.ok(r.includes(`server ${name} ${ip}:21 check inter 5s fall 2 rise 2`), `control server ${name}`);
      assert.ok(r.includes(`frontend ftp_pasv_${name}`));
      assert.ok(r.includes(`bind 198.18.1.100:${min}-${min + 999}`));
      assert.ok(r.includes(`server ${name} ${ip} track ftp_control/${name}`));
    }
    assert.ok(!r.some((l) => l.includes('send-proxy')), 'no PROXY header unless asked');
    assert.ok(!r.some((l) => l.startsWith('unique-id-format')), 'no unique id without PROXY');
  });

  it('sends PROXY v2 with the unique-id TLV on control (checks included) and data connections when on', () => {
    const r = rules(text('haproxy', haproxy({ proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } }))).map((l) => l.trim());
    assert.ok(r.includes('server s1 198.18.2.11:21 check inter 5s fall 2 rise 2 send-proxy-v2 proxy-v2-options unique-id check-send-proxy'));
    assert.ok(r.includes('server s3 198.18.2.13 track ftp_control/s3 send-proxy-v2'));
  });

  it('gives every control connection a unique id (in the control frontend) and logs it', () => {
    const out = text('haproxy', haproxy({ proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } }));
    const control = /^frontend ftp_control\n([\s\S]*?)\n\n/m.exec(out)?.[1] ?? '';
    const lines = rules(control).map((l) => l.trim());
    assert.ok(lines.includes('unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid'), control);
    assert.ok(lines.some((l) => l.startsWith('log-format ') && l.includes('%ID')), control);
    // Sent on control connections only: the session's id is the control connection's.
    const withId = rules(out).filter((l) => l.includes('proxy-v2-options unique-id')).map((l) => l.trim().split(' ')[2]);
    assert.deepEqual(withId, ['198.18.2.11:21', '198.18.2.12:21', '198.18.2.13:21']);
  });

  it('keeps data connections without a header when proxyProtocol.data is false', () => {
    const r = rules(text('haproxy', haproxy({ proxyProtocol: { enabled: true, data: false, trustedNetworks: ['198.18.2.1/32'] } }))).map((l) => l.trim());
    assert.ok(r.includes('server s1 198.18.2.11:21 check inter 5s fall 2 rise 2 send-proxy-v2 proxy-v2-options unique-id check-send-proxy'));
    assert.ok(r.includes('server s1 198.18.2.11 track ftp_control/s1'));
  });

  it('checks GET /readyz on the ops port for an HTTP health check (no header on the check)', () => {
    const f = haproxy({ healthCheck: { type: 'http', port: 9121, interval: 2, rise: 1 }, proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } }, NODES2);
    const r = rules(text('haproxy', f)).map((l) => l.trim());
    assert.ok(r.includes('option httpchk GET /readyz'));
    assert.ok(r.includes('http-check expect status 200'));
    assert.ok(r.includes('server s2 198.18.2.12:21 check port 9121 inter 2s fall 2 rise 1 send-proxy-v2 proxy-v2-options unique-id'));
    assert.ok(!r.some((l) => l.includes('check-send-proxy')));
    assert.ok(!r.includes('option tcp-check'));
  });

  for (const [name, fleet] of [
    ['3 nodes, TCP check', () => haproxy()],
    ['3 nodes, PROXY v2 with unique ids', () => haproxy({ proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } })],
    ['2 nodes, HTTP check, PROXY v2 on control only', () => haproxy({ healthCheck: { type: 'http' }, proxyProtocol: { enabled: true, data: false, trustedNetworks: ['198.18.2.1/32'] } }, NODES2)],
    ['2 nodes, HTTP check, stats socket', () => haproxy({ healthCheck: { type: 'http' }, balancer: { kind: 'haproxy', haproxy: { statsSocket: '/run/ftpfleet-haproxy.sock' } } }, NODES2)],
  ] as const) {
    it(`haproxy -c accepts the output (${name})`, (t) => {
      validate(t, 'haproxy', (f) => ['-c', '-q', '-f', f], text('haproxy', fleet()));
    });
  }
});

describe('AWS NLB', () => {
  it('Terraform: control listener, per-port passive listeners from the slices, PROXY v2 on the target groups', () => {
    const out = text('nlb-terraform', nlb({ proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'] } }));
    assert.match(out, /resource "aws_lb" "ftpfleet" \{[\s\S]*?load_balancer_type\s+= "network"/);
    assert.match(out, /allocation_id = "eipalloc-0123456789abcdef0"/);
    assert.match(out, /"node-a" = \{ address = "10\.0\.1\.11", passive_min = 30000, passive_max = 30009 \}/);
    assert.match(out, /"node-c" = \{ address = "10\.0\.3\.13", passive_min = 30020, passive_max = 30029 \}/);
    assert.match(out, /for port in range\(node\.passive_min, node\.passive_max \+ 1\) : tostring\(port\) => name/);
    assert.match(out, /resource "aws_lb_listener" "ftpfleet_control" \{[\s\S]*?port\s+= 21\n/);
    assert.match(out, /resource "aws_lb_listener" "ftpfleet_passive" \{\n\s+for_each = local\.ftpfleet_passive_ports/);
    assert.equal((out.match(/proxy_protocol_v2\s+= true/g) ?? []).length, 2);
    assert.match(out, /target_id\s+= local\.ftpfleet_nodes\[each\.value\]\.address/);
    assert.match(out, /Listeners: 31 \(control port 21 and one per passive port\)/);
  });

  it('Terraform: no PROXY v2 when off; warns past the listener quota', () => {
    const big = nlb({}, [
      { name: 'n1', address: '10.0.1.11', passive: '30000-30099' },
      { name: 'n2', address: '10.0.1.12', passive: '30100-30199' },
    ]);
    const g = generate('nlb-terraform', big);
    assert.equal((g.text.match(/proxy_protocol_v2\s+= false/g) ?? []).length, 2);
    assert.equal(g.warnings.length, 1);
    assert.match(g.warnings[0]!, /201 NLB listeners .* 50 per NLB/);
    assert.match(g.text, /WARNING: AWS allows 50 listeners per NLB by default; this fleet needs 201/);
  });

  it('Terraform: formatted as terraform fmt wants it (and so valid HCL)', (t) => {
    validate(t, 'terraform', (f) => ['fmt', '-check', '-diff', f], text('nlb-terraform', nlb({ healthCheck: { type: 'http' }, proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'] } })), undefined, '.tf');
  });

  it('CloudFormation: one listener and target group per passive port, targeting the node that owns it', () => {
    const f = nlb({ proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'] }, healthCheck: { type: 'http', port: 9121 } });
    const template = parseYaml(text('nlb-cloudformation', f)) as { Resources: Record<string, { Type: string; Properties: any }> };
    const res = template.Resources;
    const listeners = Object.values(res).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener');
    assert.equal(listeners.length, 1 + 30);
    assert.equal(res.ControlListener!.Properties.Port, 21);
    assert.deepEqual(
      res.ControlTargetGroup!.Properties.Targets.map((t: any) => t.Id),
      ['10.0.1.11', '10.0.2.12', '10.0.3.13'],
    );
    for (const node of SMALL) {
      const [min, max] = node.passive.split('-').map(Number) as [number, number];
      for (let p = min; p <= max; p++) {
        const l = res[`PassiveListener${p}`];
        assert.ok(l, `listener for ${p}`);
        assert.equal(l.Properties.Port, p);
        const tgId = l.Properties.DefaultActions[0].TargetGroupArn.Ref as string;
        const tg = res[tgId]!.Properties;
        assert.deepEqual(tg.Targets, [{ Id: node.address, Port: p }]);
        assert.equal(tg.HealthCheckPort, '9121');
        assert.deepEqual(tg.TargetGroupAttributes.find((a: any) => a.Key === 'proxy_protocol_v2.enabled'), { Key: 'proxy_protocol_v2.enabled', Value: 'true' });
      }
    }
    assert.equal(res.LoadBalancer!.Properties.Type, 'network');
    assert.equal(res.LoadBalancer!.Properties.SubnetMappings[0].AllocationId, 'eipalloc-0123456789abcdef0');
  });

  it('CloudFormation: refuses a fleet past the 500-resource template limit with the way out', () => {
    const msg = fleetError(() => generate('nlb-cloudformation', nlb({}, [{ name: 'n1', address: '10.0.1.11', passive: '30000-30999' }])));
    assert.match(msg, /at most 500 resources, and 1000 passive ports need 2003/);
    assert.match(msg, /--kind nlb-terraform/);
  });

  it('cfn-lint accepts the CloudFormation output', (t) => {
    validate(t, 'cfn-lint', (f) => [f], text('nlb-cloudformation', nlb({ proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'] } })), undefined, '.yaml');
  });

  it('both NLB outputs tell what each node must be configured with', () => {
    for (const kind of ['nlb-terraform', 'nlb-cloudformation'] as const) {
      const out = text(kind, nlb({ sharePorts: true, proxyProtocol: { enabled: true, trustedNetworks: ['10.0.0.0/16'] } }));
      assert.match(out, /#\s+FTPFLEET_PASSIVE_PORT_RANGE=30010-30019/);
      assert.match(out, /#\s+FTPFLEET_PASSIVE_ADDRESS=203\.0\.113\.10/);
      assert.match(out, /#\s+FTPFLEET_NODE_ID=node-b/);
      assert.match(out, /#\s+FTPFLEET_PASSIVE_SHARE_PORTS=true/);
    }
  });
});

describe('node-env: the settings each node needs', () => {
  /** The node's config as `ftpfleet serve` would load it from these lines. */
  function nodeConfig(lines: string[]) {
    const env: Record<string, string> = {};
    for (const l of lines) {
      const eq = l.indexOf('=');
      env[l.slice(0, eq)] = l.slice(eq + 1);
    }
    return loadConfig({ env });
  }

  it('LVS: the node loads exactly its slice, the VIP, port 21 and active data from port 20', () => {
    const f = lvs({ healthCheck: { type: 'http', port: 9121 } });
    const c = nodeConfig(nodeEnvLines(f, f.nodes[1]!));
    assert.equal(c.nodeId, 's2');
    assert.equal(c.listen.port, 21);
    assert.deepEqual(c.passive.portRange, { min: 11000, max: 11999 });
    assert.equal(c.passive.address, '198.18.1.100');
    assert.equal(c.active.sourcePort, 20);
    assert.equal(c.active.allowForeignAddress, false);
    assert.equal(c.ops.address, '198.18.2.12');
    assert.equal(c.ops.port, 9121);
  });

  it('HAProxy with PROXY v2: headers required from the balancer only, on control and data', () => {
    const f = haproxy({ proxyProtocol: { enabled: true, trustedNetworks: ['198.18.2.1/32'] } });
    const c = nodeConfig(nodeEnvLines(f, f.nodes[2]!));
    assert.equal(c.nodeId, 's3');
    assert.deepEqual(c.passive.portRange, { min: 12000, max: 12999 });
    assert.equal(c.proxyProtocol.control, 'required');
    assert.equal(c.proxyProtocol.data, 'required');
    assert.deepEqual(c.proxyProtocol.trustedNetworks, ['198.18.2.1/32']);
    assert.equal(c.active.sourcePort, 'any');
    assert.equal(c.passive.requireSameAddress, true);
  });

  it('HAProxy without PROXY: PORT/EPRT must accept the address the client names (the peer is the balancer)', () => {
    const f = haproxy();
    const c = nodeConfig(nodeEnvLines(f, f.nodes[0]!));
    assert.equal(c.active.allowForeignAddress, true);
    assert.equal(c.proxyProtocol.control, 'off');
  });

  it('PROXY on control only: the data peer check stays on (the node expects data from the balancer, its control peer)', () => {
    const f = nlb({ proxyProtocol: { enabled: true, data: false, trustedNetworks: ['10.0.0.0/16'] } });
    const lines = nodeEnvLines(f, f.nodes[0]!);
    const c = nodeConfig(lines);
    assert.equal(c.proxyProtocol.control, 'required');
    assert.equal(c.proxyProtocol.data, 'off');
    assert.equal(c.passive.requireSameAddress, true);
    assert.deepEqual(lines.filter((l) => l.includes('REQUIRE_SAME_ADDRESS')), []);
  });

  it('prints every node, or the one asked for', () => {
    const all = text('node-env', haproxy());
    assert.equal((all.match(/^FTPFLEET_NODE_ID=/gm) ?? []).length, 3);
    assert.match(all, /^# node s2 \(198\.18\.2\.12\)\nFTPFLEET_NODE_ID=s2\nFTPFLEET_LISTEN_PORT=21\nFTPFLEET_PASSIVE_PORT_RANGE=11000-11999\nFTPFLEET_PASSIVE_ADDRESS=198\.18\.1\.100$/m);
    const one = generate('node-env', haproxy(), { node: 's3' }).text;
    assert.deepEqual(one.match(/^FTPFLEET_NODE_ID=.*$/gm), ['FTPFLEET_NODE_ID=s3']);
    assert.match(fleetError(() => generate('node-env', haproxy(), { node: 's9' })), /no node named "s9" in the fleet; nodes: s1, s2, s3/);
  });
});

describe('ftpfleet lb-config (CLI)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'lb-config', ...args], { encoding: 'utf8' });

  it('writes the config to --out and exits 0', () => {
    const fleet = tmpFile('fleet.yaml', ['vip: 198.18.1.100', 'balancer: { kind: haproxy }', 'nodes:', ...NODES2.map((x) => `  - { name: ${x.name}, address: ${x.address}, passive: ${x.passive} }`)].join('\n'));
    const out = join(dir, 'haproxy.cfg');
    const r = run('--fleet', fleet, '--kind', 'haproxy', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(readFileSync(out, 'utf8'), /bind 198\.18\.1\.100:11000-11999/);
  });

  it('prints node-env on stdout', () => {
    const fleet = tmpFile('fleet.yaml', ['vip: 198.18.1.100', 'balancer: { kind: haproxy }', 'nodes:', ...NODES2.map((x) => `  - { name: ${x.name}, address: ${x.address}, passive: ${x.passive} }`)].join('\n'));
    const r = run('--fleet', fleet, '--kind', 'node-env', '--node', 's1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^FTPFLEET_PASSIVE_PORT_RANGE=10000-10999$/m);
  });

  it('exits 2 with the key and value for an invalid fleet', () => {
    const fleet = tmpFile('bad.yaml', ['vip: 198.18.1.100', 'balancer: { kind: haproxy }', 'nodes:', '  - { name: s1, address: 198.18.2.11, passive: 10-30 }'].join('\n'));
    const r = run('--fleet', fleet, '--kind', 'haproxy');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /key "nodes\[0\]\.passive": got "10-30"; the passive slice of s1 contains the control port 21/);
  });

  it('rejects an unknown --kind with the allowed ones', () => {
    const r = run('--fleet', 'x.yaml', '--kind', 'f5');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Allowed choices are keepalived, iptables, nftables, haproxy, nlb-terraform, nlb-cloudformation, node-env/);
  });
});

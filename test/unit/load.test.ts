import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configEnvNames, envName, loadConfig, parseScalar, setPath } from '../../src/config/load.js';

let dir = '';
let n = 0;
/** Writes a YAML config into the temp dir and returns its path. */
function yamlFile(text: string): string {
  const file = join(dir, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** Asserts loadConfig throws a ConfigError and returns its message. */
function configError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  return caught.message;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ftpfleet-config-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig: defaults', () => {
  it('loads a complete config from nothing', () => {
    const c = loadConfig();
    assert.deepEqual(c.listen, { addresses: ['::'], port: 2121 });
    assert.deepEqual(c.passive.portRange, { min: 10000, max: 10999 });
    assert.equal(c.passive.address, 'auto');
    assert.equal(c.passive.enabled, true);
    assert.equal(c.active.sourcePort, 'any');
    assert.equal(c.active.allowForeignAddress, false);
    assert.equal(c.storage.backend, 'local');
    assert.equal(c.storage.local.fsync, true);
    assert.equal(c.anonymous.enabled, false);
    assert.equal(c.limits.maxLineLength, 4096);
    assert.equal(c.limits.defender.threshold, 100);
    assert.equal(c.limits.defender.scores.failedLogin, 10);
    assert.deepEqual(c.limits.defender.allow, []);
    assert.equal(c.limits.maxUnauthenticated, 500);
    assert.equal(c.limits.commandLineTimeout, 30);
    assert.equal(c.log.level, 'info');
    assert.equal(typeof c.nodeId, 'string');
    assert.ok(c.nodeId.length > 0);
  });

  it('loads defaults from an empty YAML file', () => {
    assert.deepEqual(loadConfig({ file: yamlFile('') }).listen, { addresses: ['::'], port: 2121 });
    assert.deepEqual(loadConfig({ file: yamlFile('# only a comment\n') }).passive.portRange, { min: 10000, max: 10999 });
  });

  it('does not read process.env unless it is passed in', () => {
    const saved = process.env.FTPFLEET_LISTEN_PORT;
    process.env.FTPFLEET_LISTEN_PORT = '1234';
    try {
      assert.equal(loadConfig().listen.port, 2121);
      assert.equal(loadConfig({ env: process.env }).listen.port, 1234);
    } finally {
      if (saved === undefined) delete process.env.FTPFLEET_LISTEN_PORT;
      else process.env.FTPFLEET_LISTEN_PORT = saved;
    }
  });
});

describe('loadConfig: layering', () => {
  it('applies YAML file values over the defaults, keeping other defaults', () => {
    const file = yamlFile(
      [
        'nodeId: node-a',
        'listen:',
        '  port: 2200',
        'passive:',
        '  portRange: "20000-20099"',
        '  address: 198.51.100.4',
        'limits:',
        '  defender:',
        '    allow: [10.0.0.0/8, "::1"]',
      ].join('\n'),
    );
    const c = loadConfig({ file });
    assert.equal(c.nodeId, 'node-a');
    assert.equal(c.listen.port, 2200);
    assert.deepEqual(c.listen.addresses, ['::']);
    assert.deepEqual(c.passive.portRange, { min: 20000, max: 20099 });
    assert.equal(c.passive.address, '198.51.100.4');
    assert.equal(c.passive.enabled, true);
    assert.deepEqual(c.limits.defender.allow, ['10.0.0.0/8', '::1']);
    assert.equal(c.limits.defender.threshold, 100);
  });

  it('lets FTPFLEET_PASSIVE_PORT_RANGE override the YAML file', () => {
    const file = yamlFile('passive:\n  portRange: "20000-20099"\n');
    const c = loadConfig({ file, env: { FTPFLEET_PASSIVE_PORT_RANGE: '30000-30009' } });
    assert.deepEqual(c.passive.portRange, { min: 30000, max: 30009 });
  });

  it('reads env values as YAML scalars and flow lists', () => {
    const c = loadConfig({
      env: {
        FTPFLEET_LISTEN_PORT: '2999',
        FTPFLEET_LISTEN_ADDRESSES: '[127.0.0.1, "::1"]',
        FTPFLEET_ANONYMOUS_ENABLED: 'true',
        FTPFLEET_STORAGE_LOCAL_FSYNC: 'false',
        FTPFLEET_LIMITS_MAX_SESSIONS_PER_ADDRESS: '7',
        FTPFLEET_LIMITS_DEFENDER_ALLOW: '[192.168.0.0/16]',
        FTPFLEET_LIMITS_DEFENDER_SCORES_BAD_COMMAND: '7',
        FTPFLEET_ACTIVE_SOURCE_PORT: '20',
        FTPFLEET_STORAGE_LOCAL_ROOT: '/srv/ftp',
        FTPFLEET_LOG_LEVEL: 'debug',
      },
    });
    assert.equal(c.listen.port, 2999);
    assert.deepEqual(c.listen.addresses, ['127.0.0.1', '::1']);
    assert.equal(c.anonymous.enabled, true);
    assert.equal(c.storage.local.fsync, false);
    assert.equal(c.limits.maxSessionsPerAddress, 7);
    assert.deepEqual(c.limits.defender.allow, ['192.168.0.0/16']);
    assert.equal(c.limits.defender.scores.badCommand, 7);
    assert.equal(c.active.sourcePort, 20);
    assert.equal(c.storage.local.root, '/srv/ftp');
    assert.equal(c.log.level, 'debug');
  });

  it('ignores environment variables that name no config key', () => {
    const c = loadConfig({ env: { FTPFLEET_NO_SUCH_KEY: '1', PATH: '/bin', FTPFLEET_PASSIVE: 'x' } });
    assert.equal(c.listen.port, 2121);
  });

  it('lets overrides beat both the env and the YAML file', () => {
    const file = yamlFile('listen:\n  port: 2200\npassive:\n  portRange: "20000-20099"\n');
    const c = loadConfig({
      file,
      env: { FTPFLEET_LISTEN_PORT: '2300', FTPFLEET_PASSIVE_PORT_RANGE: '30000-30009' },
      overrides: { 'listen.port': 2400, 'passive.portRange': '40000-40001' },
    });
    assert.equal(c.listen.port, 2400);
    assert.deepEqual(c.passive.portRange, { min: 40000, max: 40001 });
  });

  it('skips overrides whose value is undefined', () => {
    const c = loadConfig({ env: { FTPFLEET_LISTEN_PORT: '2300' }, overrides: { 'listen.port': undefined } });
    assert.equal(c.listen.port, 2300);
  });

  it('replaces a null section in the file when an env var sets a key under it', () => {
    const file = yamlFile('passive:\n');
    const c = loadConfig({ file, env: { FTPFLEET_PASSIVE_PORT_RANGE: '1-2' } });
    assert.deepEqual(c.passive.portRange, { min: 1, max: 2 });
  });
});

describe('loadConfig: errors', () => {
  it('names the key, the bad value, what is allowed and the source for a bad port range', () => {
    const msg = configError(() => loadConfig({ env: { FTPFLEET_PASSIVE_PORT_RANGE: '20000-10000' } }));
    assert.match(msg, /passive\.portRange/);
    assert.ok(msg.includes('"20000-10000"'), msg);
    assert.ok(msg.includes('1 <= MIN <= MAX <= 65535'), msg);
    assert.ok(msg.includes('FTPFLEET_PASSIVE_PORT_RANGE'), msg);
  });

  it('explains the expected form of a port range that is not MIN-MAX', () => {
    const msg = configError(() => loadConfig({ env: { FTPFLEET_PASSIVE_PORT_RANGE: '10000:10999' } }));
    assert.match(msg, /passive\.portRange/);
    assert.ok(msg.includes('"10000:10999"'), msg);
    assert.ok(msg.includes('MIN-MAX'), msg);
  });

  it('rejects port ranges outside 1-65535', () => {
    for (const bad of ['0-100', '65000-65536', '99999-99999']) {
      const msg = configError(() => loadConfig({ overrides: { 'passive.portRange': bad } }));
      assert.ok(msg.includes(`"${bad}"`), msg);
    }
  });

  it('names the key, value and limit for a port out of range in the YAML file', () => {
    const file = yamlFile('listen:\n  port: 70000\n');
    const msg = configError(() => loadConfig({ file }));
    assert.match(msg, /"listen\.port"/);
    assert.match(msg, /got 70000/);
    assert.match(msg, /65535/);
    assert.ok(msg.includes(file), msg);
  });

  it('lists the allowed choices for an enum', () => {
    const msg = configError(() => loadConfig({ overrides: { 'log.level': 'loud' } }));
    assert.match(msg, /"log\.level"/);
    assert.match(msg, /"loud"/);
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) assert.ok(msg.includes(level), level);
  });

  it('names the element of a list that is invalid', () => {
    const msg = configError(() => loadConfig({ env: { FTPFLEET_LIMITS_DEFENDER_DENY: '[10.0.0.0/8, 10.0.0.0/33]' } }));
    assert.match(msg, /limits\.defender\.deny\.1/);
    assert.ok(msg.includes('"10.0.0.0/33"'), msg);
    assert.match(msg, /CIDR/);
  });

  it('accepts "auto", an IPv4 address or a host name for passive.address', () => {
    assert.equal(loadConfig({ env: { FTPFLEET_PASSIVE_ADDRESS: '203.0.113.9' } }).passive.address, '203.0.113.9');
    assert.equal(loadConfig({ env: { FTPFLEET_PASSIVE_ADDRESS: 'ftp.example.com' } }).passive.address, 'ftp.example.com');
    for (const bad of ['::1', 'bad_name!', '-x.example']) {
      const msg = configError(() => loadConfig({ env: { FTPFLEET_PASSIVE_ADDRESS: bad } }));
      assert.match(msg, /"passive\.address"/);
      assert.ok(msg.includes(JSON.stringify(bad)), msg);
      assert.match(msg, /IPv4/);
    }
  });

  it('refuses a passive range that contains the control port', () => {
    const msg = configError(() => loadConfig({ overrides: { 'listen.port': 10050, 'passive.portRange': '10000-10099' } }));
    assert.match(msg, /"passive\.portRange"/);
    assert.match(msg, /listen\.port/);
  });

  it('reports a wrong type with the value that was given', () => {
    const msg = configError(() => loadConfig({ env: { FTPFLEET_STORAGE_LOCAL_FSYNC: 'sometimes' } }));
    assert.match(msg, /"storage\.local\.fsync"/);
    assert.match(msg, /"sometimes"/);
    assert.match(msg, /boolean/);
  });

  it('reports a missing value as "nothing"', () => {
    const msg = configError(() => loadConfig({ file: yamlFile('listen:\n  port: null\n') }));
    assert.match(msg, /"listen\.port"/);
    assert.match(msg, /got null|got nothing/);
  });

  it('reports every problem at once', () => {
    const msg = configError(() => loadConfig({ overrides: { 'listen.port': -1, 'limits.maxLineLength': 10 } }));
    assert.match(msg, /"listen\.port"/);
    assert.match(msg, /"limits\.maxLineLength"/);
  });

  it('rejects unknown top-level keys, naming them', () => {
    const msg = configError(() => loadConfig({ file: yamlFile('listen:\n  port: 21\nbogus: 1\nalsoBogus: 2\n') }));
    assert.match(msg, /unknown config key/);
    assert.ok(msg.includes('"bogus"') && msg.includes('"alsoBogus"'), msg);
    assert.match(msg, /top level/);
  });

  it('rejects unknown nested keys (typos) instead of ignoring them', () => {
    const msg = configError(() => loadConfig({ file: yamlFile('passive:\n  portRnage: "20000-20099"\n') }));
    assert.match(msg, /unknown config key/);
    assert.ok(msg.includes('"portRnage"'), msg);
    assert.match(msg, /under "passive"/);
    const deep = configError(() => loadConfig({ overrides: { 'limits.defender.treshold': 3 } }));
    assert.ok(deep.includes('"treshold"') && deep.includes('under "limits.defender"'), deep);
    for (const section of ['listen', 'storage', 'storage.local', 'users', 'anonymous', 'active', 'limits', 'shutdown', 'log']) {
      const m = configError(() => loadConfig({ overrides: { [`${section}.typo`]: 1 } }));
      assert.ok(m.includes(`under "${section}"`), m);
    }
  });

  it('fails clearly when the file does not exist', () => {
    const missing = join(dir, 'no-such-file.yaml');
    const msg = configError(() => loadConfig({ file: missing }));
    assert.match(msg, /cannot read config file/);
    assert.ok(msg.includes(missing));
  });

  it('fails clearly on invalid YAML', () => {
    const msg = configError(() => loadConfig({ file: yamlFile('listen: [unclosed\n') }));
    assert.match(msg, /not valid YAML/);
  });

  it('fails clearly when the file is not a mapping', () => {
    assert.match(configError(() => loadConfig({ file: yamlFile('- a\n- b\n') })), /mapping/);
    assert.match(configError(() => loadConfig({ file: yamlFile('just a string\n') })), /mapping/);
  });
});

describe('config helpers', () => {
  it('envName turns a key path into FTPFLEET_SNAKE_CASE', () => {
    assert.equal(envName(['passive', 'portRange']), 'FTPFLEET_PASSIVE_PORT_RANGE');
    assert.equal(envName(['limits', 'maxSessionsPerAddress']), 'FTPFLEET_LIMITS_MAX_SESSIONS_PER_ADDRESS');
    assert.equal(envName(['nodeId']), 'FTPFLEET_NODE_ID');
  });

  it('configEnvNames lists every leaf key once, with portRange and lists as leaves', () => {
    const names = configEnvNames();
    const byEnv = new Map(names.map((e) => [e.env, e.key]));
    assert.equal(byEnv.size, names.length, 'env names are unique');
    assert.equal(byEnv.get('FTPFLEET_PASSIVE_PORT_RANGE'), 'passive.portRange');
    assert.equal(byEnv.get('FTPFLEET_LIMITS_DEFENDER_DENY'), 'limits.defender.deny');
    assert.equal(byEnv.get('FTPFLEET_LIMITS_DEFENDER_SCORES_FAILED_LOGIN'), 'limits.defender.scores.failedLogin');
    assert.equal(byEnv.get('FTPFLEET_LISTEN_ADDRESSES'), 'listen.addresses');
    assert.equal(byEnv.get('FTPFLEET_STORAGE_LOCAL_ROOT'), 'storage.local.root');
    assert.equal(byEnv.get('FTPFLEET_NODE_ID'), 'nodeId');
    assert.ok(!byEnv.has('FTPFLEET_PASSIVE_PORT_RANGE_MIN'));
    assert.ok(!byEnv.has('FTPFLEET_PASSIVE'));
    for (const { env, key } of names) assert.equal(env, envName(key.split('.')));
  });

  it('every env name sets its key', () => {
    // Each key gets a value of the wrong kind; the error must name that key.
    for (const { env, key } of configEnvNames()) {
      const msg = configError(() => loadConfig({ env: { [env]: '{}' } }));
      assert.ok(msg.includes(`"${key}`), `${env}: ${msg}`);
    }
  });

  it('parseScalar reads YAML scalars and flow lists, falling back to the text', () => {
    assert.equal(parseScalar('2121'), 2121);
    assert.equal(parseScalar('true'), true);
    assert.equal(parseScalar('1.5'), 1.5);
    assert.deepEqual(parseScalar('[a, b]'), ['a', 'b']);
    assert.equal(parseScalar('10000-10999'), '10000-10999');
    assert.equal(parseScalar('/srv/ftp'), '/srv/ftp');
    assert.equal(parseScalar('[unclosed'), '[unclosed');
  });

  it('setPath creates intermediate objects and replaces non-objects', () => {
    const tree: Record<string, unknown> = { a: 5 };
    setPath(tree, ['a', 'b', 'c'], 1);
    setPath(tree, ['x'], 'y');
    assert.deepEqual(tree, { a: { b: { c: 1 } }, x: 'y' });
  });
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { backendSchema, gatewayConfigSchema } from '../../src/config/gatewaySchema.js';
import { BackendPool } from '../../src/gateway/backendPool.js';

const backend = (name: string, extra: Record<string, unknown> = {}) => backendSchema.parse({ name, host: '127.0.0.1', port: 2121, ...extra });
const HYST = { rise: 2, fall: 3 };

describe('BackendPool', () => {
  test('round robin cycles over usable backends; drained and down ones are skipped', () => {
    const pool = new BackendPool([backend('a'), backend('b'), backend('c', { drain: true })], { strategy: 'round-robin', users: {} }, HYST);
    const picks = Array.from({ length: 4 }, () => pool.pick({ clientAddress: '1.2.3.4', user: null })!.config.name);
    assert.deepEqual(picks.sort(), ['a', 'a', 'b', 'b']);
    pool.all().find((b) => b.config.name === 'a')!.up = false;
    assert.equal(pool.pick({ clientAddress: '1.2.3.4', user: null })!.config.name, 'b');
    assert.equal(pool.pick({ clientAddress: '1.2.3.4', user: null, exclude: new Set(['b']) }), null);
  });

  test('least connections picks the backend with the fewest sessions', () => {
    const pool = new BackendPool([backend('a'), backend('b')], { strategy: 'least-connections', users: {} }, HYST);
    const a = pool.all()[0]!;
    pool.acquire(a);
    pool.acquire(a);
    assert.equal(pool.pick({ clientAddress: 'x', user: null })!.config.name, 'b');
    pool.release(a);
    pool.release(a);
    pool.release(a);
    assert.equal(a.sessions, 0);
  });

  test('source hash is stable per address, and only the clients of a lost backend move', () => {
    const pool = new BackendPool([backend('a'), backend('b'), backend('c')], { strategy: 'source-hash', users: {} }, HYST);
    const addrs = Array.from({ length: 60 }, (_, i) => `10.0.0.${i}`);
    const before = new Map(addrs.map((a) => [a, pool.pick({ clientAddress: a, user: null })!.config.name]));
    assert.equal(new Set(before.values()).size, 3);
    for (const a of addrs) assert.equal(pool.pick({ clientAddress: a, user: null })!.config.name, before.get(a));
    pool.all().find((b) => b.config.name === 'c')!.up = false;
    for (const a of addrs) {
      const now = pool.pick({ clientAddress: a, user: null })!.config.name;
      if (before.get(a) !== 'c') assert.equal(now, before.get(a));
    }
  });

  test('by user: pinned users reach their group, others the default group', () => {
    const pool = new BackendPool([backend('a'), backend('b', { group: 'lab' })], { strategy: 'user', users: { cam1: 'lab' } }, HYST);
    assert.equal(pool.choosesByUser, true);
    assert.equal(pool.pick({ clientAddress: 'x', user: 'cam1' })!.config.name, 'b');
    assert.equal(pool.pick({ clientAddress: 'x', user: 'someone' })!.config.name, 'a');
  });

  test('health hysteresis: ejected after `fall` failures in a row, re-admitted after `rise` successes', () => {
    const pool = new BackendPool([backend('a')], { strategy: 'round-robin', users: {} }, HYST);
    const a = pool.all()[0]!;
    assert.equal(pool.record(a, false, 'refused'), null);
    assert.equal(pool.record(a, true, null), null); // a good check resets the streak
    assert.equal(pool.record(a, false, 'refused'), null);
    assert.equal(pool.record(a, false, 'refused'), null);
    assert.equal(pool.record(a, false, 'refused'), 'down');
    assert.equal(a.lastError, 'refused');
    assert.equal(pool.record(a, true, null), null);
    assert.equal(pool.record(a, true, null), 'up');
  });

  test('update keeps state of backends that stay; removed ones linger while they have sessions', () => {
    const pool = new BackendPool([backend('a'), backend('b')], { strategy: 'round-robin', users: {} }, HYST);
    const b = pool.all()[1]!;
    pool.acquire(b);
    pool.update([backend('a', { drain: true })], { strategy: 'round-robin', users: {} });
    assert.deepEqual(pool.all().map((x) => x.config.name), ['a', 'b']);
    assert.equal(b.removed, true);
    assert.equal(pool.pick({ clientAddress: 'x', user: null }), null);
    pool.release(b);
    assert.deepEqual(pool.all().map((x) => x.config.name), ['a']);
  });
});

describe('gateway config', () => {
  test('duplicate backend names, unknown user groups and readyz without url are named errors', () => {
    const r = gatewayConfigSchema.safeParse({
      backends: [
        { name: 'a', host: 'h' },
        { name: 'a', host: 'h', health: { check: 'readyz' } },
      ],
      balance: { strategy: 'user', users: { cam: 'nowhere' } },
    });
    assert.equal(r.success, false);
    const messages = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    assert.match(messages, /backends\.1\.name: backend name "a" is used twice/);
    assert.match(messages, /balance\.users\.cam: no backend is in group "nowhere"/);
    assert.match(messages, /backends\.1\.health\.url: health.check "readyz" needs health.url/);
  });

  test('the passive range may not hold the listen port', () => {
    const r = gatewayConfigSchema.safeParse({ listen: { port: 30005 }, passive: { portRange: '30000-30999' }, backends: [{ name: 'a', host: 'h' }] });
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /contains listen.port/);
  });
});

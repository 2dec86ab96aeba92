import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { FileUserStore } from '../../src/auth/fileUserStore.js';
import { hashPassword } from '../../src/auth/passwords.js';

describe('FileUserStore', () => {
  let dir = '';
  let store: FileUserStore;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ftpfleet-users-test-'));
    const file = join(dir, 'users.yaml');
    writeFileSync(file, stringify({ users: { alice: { password: await hashPassword('alice-secret') } } }));
    store = new FileUserStore(file, { enabled: false, home: '/pub', writable: false }, 0);
    await store.load();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** How many argon2 verifications `fn` runs. */
  async function verifications(fn: () => Promise<unknown>): Promise<number> {
    const verify = argon2.verify;
    let calls = 0;
    argon2.verify = ((...args: Parameters<typeof verify>) => {
      calls++;
      return verify.apply(argon2, args);
    }) as typeof verify;
    try {
      await fn();
    } finally {
      argon2.verify = verify;
    }
    return calls;
  }

  it('logs in a known user with the right password only', async () => {
    assert.equal((await store.authenticate('alice', 'alice-secret'))?.name, 'alice');
    assert.equal(await store.authenticate('alice', 'wrong'), null);
  });

  it('an unknown name costs a hash verification like a wrong password does (timing tells no names)', async () => {
    assert.equal(await verifications(() => store.authenticate('alice', 'wrong')), 1);
    let result: unknown;
    assert.equal(await verifications(async () => (result = await store.authenticate('mallory', 'wrong'))), 1);
    assert.equal(result, null);
    // Anonymous names are unknown names while anonymous access is off.
    assert.equal(await verifications(async () => (result = await store.authenticate('anonymous', 'me@example.com'))), 1);
    assert.equal(result, null);
  });
});

/** The storage.s3 config keys, the per-user storage override, and the store factory. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { userSchema } from '../../src/config/schema.js';
import { StorageSet } from '../../src/storage/factory.js';
import { S3Storage } from '../../src/storage/s3/s3Storage.js';
import { LocalStorage } from '../../src/storage/local/localStorage.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('storage.s3 config', () => {
  it('defaults: local backend; s3 settings with SDK defaults and 8 MiB parts', () => {
    const c = loadConfig({});
    assert.equal(c.storage.backend, 'local');
    assert.deepEqual(
      { ...c.storage.s3 },
      {
        bucket: null,
        prefix: '',
        region: null,
        endpoint: null,
        forcePathStyle: false,
        accessKeyId: null,
        secretAccessKey: null,
        sessionToken: null,
        requestChecksumCalculation: 'WHEN_SUPPORTED',
        responseChecksumValidation: 'WHEN_SUPPORTED',
        partSize: 8 * 1024 * 1024,
        queueSize: 4,
        maxAttempts: 3,
        retryMode: 'standard',
        maxSockets: 500,
        connectTimeout: 10,
        listMetadata: true,
        listConcurrency: 32,
        renameDirMaxObjects: 1000,
        copyPartSize: 5 * 1024 * 1024 * 1024,
      },
    );
  });

  it('backend s3 needs a bucket, and says so', () => {
    const msg = configError(() => loadConfig({ env: { FTPFLEET_STORAGE_BACKEND: 's3' } }));
    assert.match(msg, /storage\.s3\.bucket/);
  });

  it('is set from the environment like every key (a numeric-looking bucket stays text)', () => {
    const c = loadConfig({
      env: {
        FTPFLEET_STORAGE_BACKEND: 's3',
        FTPFLEET_STORAGE_S3_BUCKET: '123',
        FTPFLEET_STORAGE_S3_ENDPOINT: 'http://127.0.0.1:7480',
        FTPFLEET_STORAGE_S3_FORCE_PATH_STYLE: 'true',
        FTPFLEET_STORAGE_S3_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        FTPFLEET_STORAGE_S3_PART_SIZE: '16777216',
      },
    });
    assert.equal(c.storage.s3.bucket, '123');
    assert.equal(c.storage.s3.endpoint, 'http://127.0.0.1:7480');
    assert.equal(c.storage.s3.forcePathStyle, true);
    assert.equal(c.storage.s3.requestChecksumCalculation, 'WHEN_REQUIRED');
    assert.equal(c.storage.s3.partSize, 16 * 1024 * 1024);
  });

  it('refuses parts under 5 MiB, bad bucket names, ".." in prefixes, unknown checksum modes', () => {
    assert.match(configError(() => loadConfig({ env: { FTPFLEET_STORAGE_S3_PART_SIZE: '1048576' } })), /storage\.s3\.partSize/);
    assert.match(configError(() => loadConfig({ env: { FTPFLEET_STORAGE_S3_BUCKET: 'Bad_Bucket' } })), /storage\.s3\.bucket/);
    assert.match(configError(() => loadConfig({ env: { FTPFLEET_STORAGE_S3_PREFIX: 'a/../b' } })), /storage\.s3\.prefix/);
    assert.match(configError(() => loadConfig({ env: { FTPFLEET_STORAGE_S3_RESPONSE_CHECKSUM_VALIDATION: 'NEVER' } })), /responseChecksumValidation/);
  });

  it('a user may override backend, bucket, prefix or root', () => {
    const u = userSchema.parse({ password: '$argon2id$v=19$m=19456,t=2,p=1$x$y', storage: { bucket: 'other-bucket', prefix: 'tenants/b/' } });
    assert.deepEqual(u.storage, { bucket: 'other-bucket', prefix: 'tenants/b/' });
    assert.throws(() => userSchema.parse({ password: '$argon2id$x', storage: { backend: 'ftp' } }));
    assert.throws(() => userSchema.parse({ password: '$argon2id$x', storage: { region: 'x' } }), 'only backend, bucket, prefix, root');
  });
});

describe('StorageSet', () => {
  const s3 = loadConfig({
    env: { FTPFLEET_STORAGE_BACKEND: 's3', FTPFLEET_STORAGE_S3_BUCKET: 'main-bucket', FTPFLEET_STORAGE_S3_PREFIX: '/ftp', FTPFLEET_STORAGE_S3_REGION: 'us-east-1' },
  }).storage;

  it('builds the main store from the backend setting', async () => {
    assert.ok((await StorageSet.open(loadConfig({}).storage)).main instanceof LocalStorage);
    const set = await StorageSet.open(s3);
    assert.ok(set.main instanceof S3Storage);
    assert.equal((set.main as S3Storage).keyPrefix, 'ftp/');
    assert.equal(set.describe(), 's3://main-bucket/ftp');
  });

  it('one store per distinct user override, sharing one S3 client; none without an override', async () => {
    const set = await StorageSet.open(s3);
    assert.equal(await set.forUser(undefined), set.main);
    assert.equal(await set.forUser({}), set.main);
    const a = (await set.forUser({ prefix: 'tenants/a/' })) as S3Storage;
    assert.equal(a.keyPrefix, 'tenants/a/');
    assert.equal(a.bucket, 'main-bucket');
    assert.equal(await set.forUser({ prefix: 'tenants/a/' }), a, 'cached');
    const b = (await set.forUser({ bucket: 'other' })) as S3Storage;
    assert.equal(b.bucket, 'other');
    assert.equal(b.keyPrefix, 'ftp/');
    assert.ok((await set.forUser({ backend: 'local', root: '/tmp' })) instanceof LocalStorage);
    set.s3Client().destroy();
  });
});

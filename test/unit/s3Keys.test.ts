/** Pure parts of the S3 backend: key mapping, listing pages to FileStats, mtime metadata, copy ranges, error mapping. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_KEY_BYTES,
  NO_TIME,
  baseNameOf,
  copyRanges,
  directoryPrefix,
  entryToStat,
  formatMtimeMetadata,
  isRoot,
  normalizePrefix,
  objectId,
  objectKey,
  pageEntries,
  parentPath,
  parseMtimeMetadata,
} from '../../src/storage/s3/keys.js';
import { translateS3Error, isNotFound } from '../../src/storage/s3/errors.js';
import { abortIncompleteUploadsRule, parseAge } from '../../src/storage/s3/lifecycle.js';
import {
  AccessDeniedError,
  InsufficientStorageError,
  InvalidNameError,
  NotFoundError,
  StorageError,
  TransientStorageError,
  storageErrorCause,
} from '../../src/storage/errors.js';
import { replyForError } from '../../src/server/errors.js';

const MiB = 1024 * 1024;

/** An error shaped like the AWS SDK's S3ServiceException. */
function s3Error(name: string, status: number, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error(''), { name, $metadata: { httpStatusCode: status, requestId: 'tx00000abc', attempts: 3 }, $fault: 'client', ...extra });
}

describe('S3 key mapping', () => {
  it('normalizes prefixes to "" or "a/b/"', () => {
    assert.equal(normalizePrefix(''), '');
    assert.equal(normalizePrefix('/'), '');
    assert.equal(normalizePrefix('ftp'), 'ftp/');
    assert.equal(normalizePrefix('/ftp//in/'), 'ftp/in/');
    assert.throws(() => normalizePrefix('a/../b'), InvalidNameError);
  });

  it('maps files to keys and directories to key prefixes under the store prefix', () => {
    assert.equal(objectKey('', '/a.txt'), 'a.txt');
    assert.equal(objectKey('ftp/', '/dir/sub/a.txt'), 'ftp/dir/sub/a.txt');
    assert.equal(objectKey('ftp/', '//dir///a.txt'), 'ftp/dir/a.txt');
    assert.equal(directoryPrefix('ftp/', '/'), 'ftp/');
    assert.equal(directoryPrefix('', '/'), '');
    assert.equal(directoryPrefix('ftp/', '/dir/sub'), 'ftp/dir/sub/');
    assert.equal(objectKey('p/', '/unicodé file.txt'), 'p/unicodé file.txt');
  });

  it('refuses the root as a file, "." and ".." segments, NUL, and keys over 1024 bytes', () => {
    assert.throws(() => objectKey('', '/'), InvalidNameError);
    assert.throws(() => objectKey('', '/a/../b'), InvalidNameError);
    assert.throws(() => objectKey('', '/a/./b'), InvalidNameError);
    assert.throws(() => objectKey('', '/a\0b'), InvalidNameError);
    assert.equal(objectKey('', '/' + 'x'.repeat(MAX_KEY_BYTES)).length, MAX_KEY_BYTES);
    assert.throws(() => objectKey('p/', '/' + 'x'.repeat(MAX_KEY_BYTES)), /too long/);
    assert.throws(() => objectKey('', '/' + 'é'.repeat(513)), InvalidNameError, 'counted in UTF-8 bytes');
  });

  it('parent, base name, root', () => {
    assert.equal(parentPath('/a/b/c'), '/a/b');
    assert.equal(parentPath('/a'), '/');
    assert.equal(parentPath('/'), '/');
    assert.equal(baseNameOf('/a/b.txt'), 'b.txt');
    assert.equal(baseNameOf('/'), '/');
    assert.ok(isRoot('/') && isRoot('//') && !isRoot('/a'));
  });

  it('a scoped view is the same mapping with a longer prefix', () => {
    const home = directoryPrefix('ftp/', '/devices/dev01');
    assert.equal(home, 'ftp/devices/dev01/');
    assert.equal(objectKey(home, '/in/x.csv'), 'ftp/devices/dev01/in/x.csv');
    assert.equal(directoryPrefix(home, '/'), home);
  });
});

describe('listing page -> FileStat', () => {
  const t1 = new Date('2024-05-06T07:08:09Z');
  const page = {
    Contents: [
      { Key: 'p/dir/', Size: 0, LastModified: t1 }, // the directory's own marker
      { Key: 'p/dir/b.txt', Size: 10, LastModified: t1 },
      { Key: 'p/dir/a.txt', Size: 5, LastModified: t1 },
      { Key: 'p/dir/é.txt', Size: 1, LastModified: t1 },
      { Key: 'p/dir/..', Size: 1, LastModified: t1 },
    ],
    CommonPrefixes: [{ Prefix: 'p/dir/sub/' }, { Prefix: 'p/dir//' }, { Prefix: 'p/dir/c/' }],
  };

  it('files from Contents, directories from CommonPrefixes, in S3 key order; marker and unreachable names left out', () => {
    const entries = pageEntries(page, 'p/dir/');
    assert.deepEqual(
      entries.map((e) => [e.name, e.isDirectory, e.size]),
      [
        ['a.txt', false, 5],
        ['b.txt', false, 10],
        ['c', true, 0],
        ['sub', true, 0],
        ['é.txt', false, 1],
      ],
    );
    assert.equal(entries[2]!.key, 'p/dir/c/');
  });

  it('an empty page has no entries', () => {
    assert.deepEqual(pageEntries({}, 'x/'), []);
    assert.deepEqual(pageEntries({ Contents: [{ Key: 'x/', Size: 0 }] }, 'x/'), []);
  });

  it('FileStat: size and LastModified, x-amz-meta-mtime wins; directories have size 0; ids are stable and fact-safe', () => {
    const [a, , c] = pageEntries(page, 'p/dir/');
    const st = entryToStat('bkt', a!);
    assert.deepEqual(st, { name: 'a.txt', isDirectory: false, size: 5, mtime: t1, id: objectId('bkt', 'p/dir/a.txt') });
    assert.match(st.id, /^[0-9a-f]{16}$/);
    assert.notEqual(objectId('bkt', 'p/dir/a.txt'), objectId('other', 'p/dir/a.txt'));
    const mt = new Date('2001-02-03T04:05:06Z');
    assert.deepEqual(entryToStat('bkt', a!, mt).mtime, mt);
    const dir = entryToStat('bkt', c!);
    assert.equal(dir.isDirectory, true);
    assert.equal(dir.size, 0);
    assert.equal(dir.mtime, NO_TIME);
  });
});

describe('x-amz-meta-mtime', () => {
  it('reads seconds since the epoch (rclone and s3fs write it so), with a fraction', () => {
    assert.deepEqual(parseMtimeMetadata('981173106'), new Date('2001-02-03T04:05:06Z'));
    assert.deepEqual(parseMtimeMetadata('981173106.5'), new Date('2001-02-03T04:05:06.500Z'));
    assert.deepEqual(parseMtimeMetadata(' 0 '), new Date(0));
    for (const bad of [undefined, '', 'yesterday', '-5', '1e9', '2001-02-03T04:05:06Z']) assert.equal(parseMtimeMetadata(bad), null, String(bad));
  });

  it('writes whole seconds plainly, otherwise milliseconds', () => {
    assert.equal(formatMtimeMetadata(new Date('2001-02-03T04:05:06Z')), '981173106');
    assert.equal(formatMtimeMetadata(new Date('2001-02-03T04:05:06.250Z')), '981173106.250');
    const d = new Date('2030-01-01T00:00:00.123Z');
    assert.deepEqual(parseMtimeMetadata(formatMtimeMetadata(d)), d);
  });
});

describe('copy ranges (UploadPartCopy)', () => {
  const check = (length: number, part: number) => {
    const r = copyRanges(length, part);
    assert.equal(r[0]![0], 0);
    assert.equal(r.at(-1)![1], length - 1);
    for (let i = 1; i < r.length; i++) assert.equal(r[i]![0], r[i - 1]![1] + 1, 'contiguous');
    for (const [s, e] of r) {
      if (length >= 5 * MiB) assert.ok(e - s + 1 >= 5 * MiB, `part of ${e - s + 1} bytes under 5 MiB`);
      assert.ok(e - s + 1 <= Math.max(part, 10 * MiB), 'at most about the part size');
    }
    return r;
  };

  it('covers the bytes in parts of at least 5 MiB and about the part size', () => {
    assert.deepEqual(copyRanges(0, 5 * MiB), []);
    assert.deepEqual(copyRanges(7 * MiB, 5 * MiB), [[0, 7 * MiB - 1]]);
    assert.equal(check(12 * MiB, 5 * MiB).length, 2);
    assert.equal(check(6 * 1024 * MiB, 5 * 1024 * MiB).length, 2);
    check(5 * MiB, 5 * MiB);
    check(50 * MiB + 3, 8 * MiB);
    check(3 * MiB, 5 * MiB);
  });
});

describe('S3 errors -> storage errors -> FTP replies', () => {
  const cases: Array<[unknown, new (...a: any[]) => StorageError, number]> = [
    [s3Error('NoSuchKey', 404), NotFoundError, 550],
    [s3Error('NotFound', 404), NotFoundError, 550],
    [s3Error('NoSuchBucket', 404), StorageError, 451],
    [s3Error('AccessDenied', 403), AccessDeniedError, 550],
    [s3Error('InvalidAccessKeyId', 403), AccessDeniedError, 550],
    [s3Error('QuotaExceeded', 403), InsufficientStorageError, 552],
    [s3Error('EntityTooLarge', 400), InsufficientStorageError, 552],
    [s3Error('SlowDown', 503), TransientStorageError, 451],
    [s3Error('InternalError', 500), TransientStorageError, 451],
    [s3Error('ServiceUnavailable', 503), TransientStorageError, 451],
    [s3Error('PreconditionFailed', 412), TransientStorageError, 451],
    [s3Error('KeyTooLongError', 400), InvalidNameError, 553],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), TransientStorageError, 451],
    [s3Error('SomethingNew', 400), StorageError, 451],
  ];
  for (const [err, cls, code] of cases) {
    const name = (err as Error).name === 'Error' ? (err as { code: string }).code : (err as Error).name;
    it(`${name} -> ${cls.name} -> ${code}`, () => {
      const se = translateS3Error(err, '/x.bin', 'bkt');
      assert.ok(se instanceof cls, `${se.constructor.name}`);
      if (cls === StorageError) assert.ok(!(se instanceof NotFoundError || se instanceof TransientStorageError));
      assert.equal(se.cause, err);
      assert.equal(replyForError(se)!.code, code);
    });
  }

  it('messages name the S3 error and status (RGW sends empty messages); a missing bucket is named', () => {
    assert.match(translateS3Error(s3Error('SlowDown', 503), '/a', 'b').message, /^\/a: .*\(SlowDown, HTTP 503\)/);
    assert.match(translateS3Error(s3Error('NoSuchBucket', 404), '/a', 'bkt').message, /bucket "bkt" does not exist/);
  });

  it('the log line gets name, status, request id and attempts of the cause', () => {
    const se = translateS3Error(s3Error('SlowDown', 503), '/a', 'b');
    assert.deepEqual(storageErrorCause(se), { name: 'SlowDown', status: 503, requestId: 'tx00000abc', attempts: 3 });
    assert.equal(storageErrorCause(new Error('x')), undefined);
    assert.equal(storageErrorCause(new NotFoundError('no cause')), undefined);
  });

  it('isNotFound: missing keys, not missing buckets or uploads', () => {
    assert.ok(isNotFound(s3Error('NoSuchKey', 404)));
    assert.ok(isNotFound(s3Error('NotFound', 404)));
    assert.ok(!isNotFound(s3Error('NoSuchBucket', 404)));
    assert.ok(!isNotFound(s3Error('NoSuchUpload', 404)));
    assert.ok(!isNotFound(s3Error('AccessDenied', 403)));
  });
});

describe('cleanup helpers', () => {
  it('parses ages', () => {
    assert.equal(parseAge('90s'), 90_000);
    assert.equal(parseAge('30m'), 1_800_000);
    assert.equal(parseAge('12h'), 43_200_000);
    assert.equal(parseAge('2d'), 172_800_000);
    assert.equal(parseAge('15'), 15_000);
    assert.equal(parseAge('0s'), 0);
    assert.equal(parseAge('soon'), null);
    assert.equal(parseAge('-1h'), null);
  });

  it('the lifecycle rule', () => {
    assert.deepEqual(abortIncompleteUploadsRule('ftp/', 1), {
      Rules: [{ ID: 'ftpfleet-abort-incomplete-multipart-uploads', Status: 'Enabled', Filter: { Prefix: 'ftp/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }],
    });
  });
});

/** `ftpfleet s3 cleanup|lifecycle`: housekeeping of the S3 bucket a fleet writes to. */
// The AWS SDK is imported only when an s3 command runs: every other command (serve with local
// storage above all) stays without its ~20 MiB of modules.
import { Command, InvalidArgumentError as CliArgError } from 'commander';
import { loadConfig } from '../config/load.js';
import { StorageSet } from '../storage/factory.js';
import { normalizePrefix } from '../storage/s3/keys.js';
import { abortIncompleteUploadsRule, parseAge } from '../storage/s3/lifecycle.js';

interface S3Options {
  config?: string;
  bucket?: string;
  prefix?: string;
}

/** The S3 settings of the config (file and FTPFLEET_* environment), with the bucket and prefix flags applied. */
async function s3Target(opts: S3Options) {
  const config = loadConfig({ file: opts.config, env: process.env });
  const bucket = opts.bucket ?? config.storage.s3.bucket;
  if (!bucket) throw new Error('no bucket: set storage.s3.bucket in the config or pass --bucket');
  const storages = await StorageSet.open({ ...config.storage, backend: 's3', s3: { ...config.storage.s3, bucket } });
  const { translateS3Error } = await import('../storage/s3/errors.js');
  return { client: storages.s3Client(), bucket, prefix: normalizePrefix(opts.prefix ?? config.storage.s3.prefix), translateS3Error };
}

function age(value: string): number {
  const ms = parseAge(value);
  if (ms === null) throw new CliArgError('expected an age such as 90s, 30m, 12h or 2d');
  return ms;
}

function days(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliArgError('expected a whole number of days >= 1');
  return n;
}

function withTarget(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (its storage.s3 settings are used)')
    .option('--bucket <name>', 'bucket (default: storage.s3.bucket)')
    .option('--prefix <prefix>', 'key prefix (default: storage.s3.prefix)');
}

export function s3Command(): Command {
  const s3 = new Command('s3').description('housekeeping of the S3 bucket (storage.backend s3)');

  withTarget(s3.command('cleanup'))
    .description('abort multipart uploads left by nodes that died mid-upload (older than --older-than)')
    .option('--older-than <age>', 'only uploads started longer ago than this (s, m, h, d); longer than your longest upload', age, 24 * 3600 * 1000)
    .option('--dry-run', 'only list them')
    .action(async (opts: S3Options & { olderThan: number; dryRun?: boolean }) => {
      const { client, bucket, prefix, translateS3Error } = await s3Target(opts);
      const { abortStaleUploads } = await import('../storage/s3/cleanup.js');
      const before = new Date(Date.now() - opts.olderThan);
      const found = await abortStaleUploads(client, bucket, prefix, before, {
        dryRun: opts.dryRun,
        onUpload: (u) => process.stdout.write(`${opts.dryRun ? 'stale' : 'aborted'} ${u.key} (upload ${u.uploadId}, started ${u.initiated.toISOString()})\n`),
      }).catch((err) => {
        throw new Error(translateS3Error(err, `s3://${bucket}/${prefix}`, bucket).message);
      });
      process.stdout.write(
        `${found.length} multipart upload(s) under s3://${bucket}/${prefix} started before ${before.toISOString()} ${opts.dryRun ? 'found' : 'aborted'}\n`,
      );
    });

  withTarget(s3.command('lifecycle'))
    .description('print (or --apply) the bucket lifecycle rule that aborts incomplete multipart uploads')
    .option('--days <n>', 'days after an upload started', days, 1)
    .option('--apply', 'set it on the bucket (replaces the bucket\'s lifecycle configuration)')
    .action(async (opts: S3Options & { days: number; apply?: boolean }) => {
      if (!opts.apply) {
        const prefix = opts.prefix !== undefined ? normalizePrefix(opts.prefix) : '';
        process.stdout.write(JSON.stringify(abortIncompleteUploadsRule(prefix, opts.days), null, 2) + '\n');
        return;
      }
      const { client, bucket, prefix, translateS3Error } = await s3Target(opts);
      const { PutBucketLifecycleConfigurationCommand } = await import('@aws-sdk/client-s3');
      const rule = abortIncompleteUploadsRule(prefix, opts.days);
      await client.send(
        new PutBucketLifecycleConfigurationCommand({
          ChecksumAlgorithm: undefined,
          Bucket: bucket,
          LifecycleConfiguration: {
            Rules: rule.Rules.map((r) => ({ ...r, Status: 'Enabled' as const })),
          },
        }),
      ).catch((err) => {
        throw new Error(translateS3Error(err, `s3://${bucket}`, bucket).message);
      });
      process.stdout.write(`lifecycle rule set on s3://${bucket}: abort multipart uploads under "${prefix}" ${opts.days} day(s) after they start\n`);
    });

  return s3;
}

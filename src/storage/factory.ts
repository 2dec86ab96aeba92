/**
 * Builds a node's stores from its storage settings: the server's own, and
 * (on demand, one per distinct override) those users' entries point at
 * (another backend, bucket, key prefix or root).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { LocalStorage } from './local/localStorage.js';
import type { S3ClientSettings } from './s3/client.js';
import type { Storage } from './storage.js';

/**
 * The S3 backend's modules, imported when a store needs them: a node on local
 * storage does without the AWS SDK's ~20 MiB (less to start, and less heap for
 * the garbage collector to walk).
 */
async function loadS3() {
  const [{ createS3Client }, { S3Storage }] = await Promise.all([import('./s3/client.js'), import('./s3/s3Storage.js')]);
  return { createS3Client, S3Storage };
}
type S3Modules = Awaited<ReturnType<typeof loadS3>>;

export interface S3Settings extends S3ClientSettings {
  bucket: string | null;
  prefix: string;
  partSize: number;
  queueSize: number;
  listMetadata: boolean;
  listConcurrency: number;
  renameDirMaxObjects: number;
  copyPartSize: number;
}

export interface StorageSettings {
  backend: 'local' | 's3';
  local: { root: string; fsync: boolean };
  s3: S3Settings;
}

export interface StorageOverride {
  backend?: 'local' | 's3';
  bucket?: string;
  prefix?: string;
  root?: string;
}

export class StorageSet {
  private client: S3Client | null = null;
  private readonly byOverride = new Map<string, Promise<Storage>>();
  /** The server's store. */
  readonly main: Storage;

  static async open(settings: StorageSettings): Promise<StorageSet> {
    return new StorageSet(settings, settings.backend === 's3' ? await loadS3() : null);
  }

  private constructor(
    private readonly settings: StorageSettings,
    private s3: S3Modules | null,
  ) {
    this.main = this.build({});
  }

  /** A human-readable name of the main store, for the start-up log line. */
  describe(): string {
    const { backend, local, s3 } = this.settings;
    return backend === 'local' ? local.root : `s3://${s3.bucket}/${s3.prefix.replace(/^\/+/, '')}`;
  }

  /** The S3 client shared by every S3 store of this node (built on first use). */
  s3Client(): S3Client {
    if (!this.s3) throw new Error('the S3 modules are not loaded');
    this.client ??= this.s3.createS3Client(this.settings.s3);
    return this.client;
  }

  private build(o: StorageOverride): Storage {
    const backend = o.backend ?? this.settings.backend;
    if (backend === 'local') {
      return new LocalStorage({ root: o.root ?? this.settings.local.root, fsync: this.settings.local.fsync });
    }
    const s3 = this.settings.s3;
    const bucket = o.bucket ?? s3.bucket;
    if (!bucket) throw new Error('storage.s3.bucket is not set');
    if (!this.s3) throw new Error('the S3 modules are not loaded');
    return new this.s3.S3Storage({
      client: this.s3Client(),
      bucket,
      prefix: o.prefix ?? s3.prefix,
      partSize: s3.partSize,
      queueSize: s3.queueSize,
      copyPartSize: s3.copyPartSize,
      listMetadata: s3.listMetadata,
      listConcurrency: s3.listConcurrency,
      renameDirMaxObjects: s3.renameDirMaxObjects,
    });
  }

  /** The store for a user's override (the main one without), initialised once. */
  forUser(override: StorageOverride | undefined): Promise<Storage> {
    if (!override || Object.keys(override).length === 0) return Promise.resolve(this.main);
    const key = JSON.stringify([override.backend ?? null, override.bucket ?? null, override.prefix ?? null, override.root ?? null]);
    let found = this.byOverride.get(key);
    if (!found) {
      found = (async () => {
        if ((override.backend ?? this.settings.backend) === 's3') this.s3 ??= await loadS3();
        const storage = this.build(override);
        await storage.init();
        return storage;
      })();
      found.catch(() => this.byOverride.delete(key));
      this.byOverride.set(key, found);
    }
    return found;
  }
}

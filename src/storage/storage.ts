/**
 * The storage a node keeps files in. Paths are absolute, "/"-separated and
 * already confined to the backend's root by the caller; a backend must still
 * refuse anything (a symlink, say) that would lead out of its root.
 * Backends know nothing of FTP.
 */
import type { Readable, Writable } from 'node:stream';

export interface FileStat {
  name: string;
  isDirectory: boolean;
  size: number;
  mtime: Date;
  /** Stable identifier of the object while it exists. */
  id: string;
}

export interface ReadOptions {
  /** First byte to read. */
  start?: number;
}

export interface RmdirOptions {
  /**
   * Hidden temporary uploads older than this many milliseconds are leftovers of
   * an upload that can no longer finish: when they are all the directory holds,
   * they are removed with it rather than keeping it "not empty".
   */
  staleUploadAgeMs?: number;
}

export interface UploadOptions {
  /**
   * Keep the first `offset` bytes of the existing file and write after them
   * (REST + STOR). `append` keeps the whole existing file (APPE).
   */
  offset?: number;
  append?: boolean;
}

/**
 * An upload in progress. Bytes written to `stream` become visible under the
 * real name only when `commit` resolves; `abort` discards them. Exactly one of
 * the two is called. When `signal` (the client went away) fires before the
 * upload reaches the point where it becomes visible, commit discards it and
 * rejects instead.
 */
export interface Upload {
  readonly stream: Writable;
  commit(signal?: AbortSignal): Promise<void>;
  abort(): Promise<void>;
}

export interface Storage {
  stat(path: string): Promise<FileStat>;
  /** Entries of a directory, streamed; hidden temporary uploads never appear. */
  list(path: string): AsyncIterable<FileStat>;
  openRead(path: string, options?: ReadOptions): Promise<Readable>;
  createUpload(path: string, options?: UploadOptions): Promise<Upload>;
  mkdir(path: string): Promise<void>;
  rmdir(path: string, options?: RmdirOptions): Promise<void>;
  delete(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  setModifiedTime(path: string, mtime: Date): Promise<void>;
  /** Ensures the root exists; throws when the store is unusable. */
  init(): Promise<void>;
  /**
   * Throws when the store cannot serve requests now (root gone, bucket
   * missing or unreachable); for readiness checks.
   */
  check(): Promise<void>;
  /**
   * A view of this store whose root is the existing directory `home`;
   * nothing outside it (by path or symlink) is reachable through the view.
   */
  scoped(home: string): Promise<Storage>;
}

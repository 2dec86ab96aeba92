/**
 * Pure mapping between storage paths and S3 keys, and from ListObjectsV2
 * pages to directory entries. No I/O.
 *
 *   prefix "ftp/", path "/a/b.txt"  -> object key "ftp/a/b.txt"
 *   prefix "ftp/", directory "/a"   -> key prefix "ftp/a/", marker object "ftp/a/"
 *   prefix "ftp/", directory "/"    -> key prefix "ftp/" (the root always exists)
 */
import { createHash } from 'node:crypto';
import { InvalidNameError } from '../errors.js';
import type { FileStat } from '../storage.js';

/** S3's limit on a key's length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** "", "ftp" or "/ftp/" -> "" or "ftp/": no leading slash, one trailing slash, no empty segments. */
export function normalizePrefix(prefix: string): string {
  const segments = prefix.split('/').filter((s) => s.length > 0);
  for (const s of segments) {
    if (s === '.' || s === '..' || s.includes('\0')) throw new InvalidNameError(`${prefix}: invalid key prefix`);
  }
  return segments.length === 0 ? '' : segments.join('/') + '/';
}

/** The segments of an absolute storage path; refuses ".", ".." and NUL. */
export function pathSegments(path: string): string[] {
  const segments = path.split('/').filter((s) => s.length > 0);
  for (const s of segments) {
    if (s === '.' || s === '..' || s.includes('\0')) throw new InvalidNameError(`${path}: invalid name`);
  }
  return segments;
}

export function isRoot(path: string): boolean {
  return pathSegments(path).length === 0;
}

function checkLength(key: string, path: string): string {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new InvalidNameError(`${path}: name too long for S3 (keys are at most ${MAX_KEY_BYTES} bytes)`);
  return key;
}

/** The object key of a file; the root has none. */
export function objectKey(prefix: string, path: string): string {
  const segments = pathSegments(path);
  if (segments.length === 0) throw new InvalidNameError(`${path}: the root is a directory`);
  return checkLength(prefix + segments.join('/'), path);
}

/** The key prefix of a directory's contents, which is also its marker object's key (except for the root). */
export function directoryPrefix(prefix: string, path: string): string {
  const segments = pathSegments(path);
  return segments.length === 0 ? prefix : checkLength(prefix + segments.join('/') + '/', path);
}

/** The path of the directory that holds `path` ("/" for top-level names and the root). */
export function parentPath(path: string): string {
  const segments = pathSegments(path);
  return '/' + segments.slice(0, -1).join('/');
}

export function baseNameOf(path: string): string {
  return pathSegments(path).at(-1) ?? '/';
}

/** A stable, fact-safe id for the MLSx "unique" fact: a hash of bucket and key. */
export function objectId(bucket: string, key: string): string {
  return createHash('sha1').update(`${bucket}\0${key}`).digest('hex').slice(0, 16);
}

/** The epoch: the time reported for a directory that has no marker object. */
export const NO_TIME = new Date(0);

/**
 * x-amz-meta-mtime as written by ftpfleet, rclone and s3fs: seconds since the
 * epoch, possibly with a fraction. Anything else is ignored.
 */
export function parseMtimeMetadata(value: string | undefined): Date | null {
  if (value === undefined || !/^\d{1,12}(\.\d{1,9})?$/.test(value.trim())) return null;
  const ms = Math.round(Number(value.trim()) * 1000);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

export function formatMtimeMetadata(date: Date): string {
  const ms = date.getTime();
  return ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(3);
}

/** The user-metadata key for the modification time (sent as x-amz-meta-mtime). */
export const MTIME_METADATA = 'mtime';

/** A directory entry taken from a listing page, before its metadata is read. */
export interface ListedEntry {
  name: string;
  /** Full object key (files) or key prefix with trailing "/" (directories). */
  key: string;
  isDirectory: boolean;
  size: number;
  lastModified: Date | null;
}

export interface ListPage {
  Contents?: Array<{ Key?: string; Size?: number; LastModified?: Date }>;
  CommonPrefixes?: Array<{ Prefix?: string }>;
}

/** A name a listing can show: non-empty, one segment, not "." or "..". */
function listable(name: string): boolean {
  return name.length > 0 && !name.includes('/') && name !== '.' && name !== '..' && !name.includes('\0');
}

/**
 * The entries of one ListObjectsV2 page (listed with Delimiter "/" under
 * `dirPrefix`), in key order: objects are files, common prefixes are
 * directories. The directory's own marker and names no path can reach
 * ("a//b", "a/./b") are left out.
 */
export function pageEntries(page: ListPage, dirPrefix: string): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (const o of page.Contents ?? []) {
    if (!o.Key?.startsWith(dirPrefix)) continue;
    const name = o.Key.slice(dirPrefix.length);
    if (!listable(name)) continue;
    out.push({ name, key: o.Key, isDirectory: false, size: o.Size ?? 0, lastModified: o.LastModified ?? null });
  }
  for (const p of page.CommonPrefixes ?? []) {
    if (!p.Prefix?.startsWith(dirPrefix) || !p.Prefix.endsWith('/')) continue;
    const name = p.Prefix.slice(dirPrefix.length, -1);
    if (!listable(name)) continue;
    out.push({ name, key: p.Prefix, isDirectory: true, size: 0, lastModified: null });
  }
  // S3 orders keys by their UTF-8 bytes; keep that order across both kinds.
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8')));
}

/** A listed entry as a FileStat; `mtime` (from x-amz-meta-mtime or the marker) wins over LastModified. */
export function entryToStat(bucket: string, entry: ListedEntry, mtime?: Date | null): FileStat {
  return {
    name: entry.name,
    isDirectory: entry.isDirectory,
    size: entry.isDirectory ? 0 : entry.size,
    mtime: mtime ?? entry.lastModified ?? NO_TIME,
    id: objectId(bucket, entry.key),
  };
}

/**
 * Byte ranges [start, end] (inclusive) that cover the first `length` bytes of
 * an object in nearly equal parts of at most about `partSize`, none under
 * `minPart` (S3: 5 MiB) unless `length` itself is smaller.
 */
export function copyRanges(length: number, partSize: number, minPart = 5 * 1024 * 1024): Array<[number, number]> {
  if (length <= 0) return [];
  const n = Math.max(1, Math.min(Math.ceil(length / partSize), Math.floor(length / minPart)));
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((length * i) / n);
    const end = Math.floor((length * (i + 1)) / n);
    ranges.push([start, end - 1]);
  }
  return ranges;
}

/**
 * Users kept in a YAML file (see README "Users"), re-read when it changes so
 * `ftpfleet user add` takes effect without a restart.
 *
 * Successful verifications are cached for a short time, keyed by a keyed
 * digest of name and password, so a device that logs in every few seconds
 * costs one argon2 run per TTL rather than one per session.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatIssues } from '../config/load.js';
import { usersFileSchema, type Permission, type TlsPolicy, type UserRecord, type UsersFile } from '../config/schema.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { User, UserStore } from './user.js';

export interface AnonymousPolicy {
  enabled: boolean;
  home: string;
  writable: boolean;
}

const ANONYMOUS_NAMES = new Set(['anonymous', 'ftp']);
const RELOAD_CHECK_MS = 1000;

export class UsersFileError extends Error {}

export async function readUsersFile(path: string): Promise<UsersFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
    throw new UsersFileError(`cannot read users file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new UsersFileError(`users file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  const result = usersFileSchema.safeParse(raw);
  if (!result.success) throw new UsersFileError(formatIssues(result.error.issues, raw, path).replace('invalid configuration', 'invalid users file'));
  return result.data;
}

/** Writes atomically (temp + rename) with owner-only permissions. */
export async function writeUsersFile(path: string, file: UsersFile): Promise<void> {
  const temp = join(dirname(path), `.${Date.now()}.${randomBytes(4).toString('hex')}.tmp`);
  const header = '# ftpfleet users: manage with `ftpfleet user add|passwd|del|list`\n';
  await writeFile(temp, header + stringifyYaml(file), { mode: 0o600 });
  await rename(temp, path);
}

export function toUser(name: string, r: UserRecord): User {
  return {
    name,
    home: r.home,
    permissions: new Set(r.permissions),
    allowedNetworks: r.allowedNetworks,
    maxSessions: r.maxSessions,
    anonymous: false,
    ...(r.storage ? { storage: r.storage } : {}),
  };
}

export class FileUserStore implements UserStore {
  private users: UsersFile['users'] = {};
  private mtimeMs = -1;
  private lastCheck = 0;
  private readonly cache = new Map<string, number>();
  private readonly verifying = new Map<string, Promise<boolean>>();
  private readonly cacheKey = randomBytes(32);
  /** No one's password: an unknown name costs the same verification as a known one, so timing tells no names. */
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly path: string,
    private readonly anonymous: AnonymousPolicy,
    private readonly cacheTtlMs: number,
  ) {}

  async load(): Promise<void> {
    this.users = (await readUsersFile(this.path)).users;
    this.mtimeMs = existsSync(this.path) ? (await stat(this.path)).mtimeMs : -1;
    this.lastCheck = Date.now();
    this.cache.clear();
  }

  get size(): number {
    return Object.keys(this.users).length;
  }

  private async reloadIfChanged(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCheck < RELOAD_CHECK_MS) return;
    this.lastCheck = now;
    const mtime = await stat(this.path).then((s) => s.mtimeMs, () => -1);
    if (mtime !== this.mtimeMs) {
      // A broken edit keeps the previous users; the error is for the operator's CLI.
      await this.load().catch(() => {});
    }
  }

  tlsPolicyOf(name: string): TlsPolicy | undefined {
    return Object.hasOwn(this.users, name) ? this.users[name]!.tls : undefined;
  }

  isAnonymousName(name: string): boolean {
    return this.anonymous.enabled && ANONYMOUS_NAMES.has(name.toLowerCase());
  }

  async authenticate(name: string, password: string): Promise<User | null> {
    if (this.isAnonymousName(name)) {
      const permissions = new Set<Permission>(['list', 'read']);
      if (this.anonymous.writable) for (const p of ['write', 'mkdir'] as const) permissions.add(p);
      return { name: 'anonymous', home: this.anonymous.home, permissions, allowedNetworks: [], anonymous: true };
    }
    await this.reloadIfChanged();
    const record = Object.hasOwn(this.users, name) ? this.users[name] : undefined;
    if (!record) {
      this.dummyHash ??= hashPassword(randomBytes(24).toString('base64'));
      await verifyPassword(await this.dummyHash, password);
      return null;
    }
    const key = createHmac('sha256', this.cacheKey).update(record.password).update('\0').update(password).digest('base64');
    const expires = this.cache.get(key);
    if (expires !== undefined && expires > Date.now()) return toUser(name, record);
    // Concurrent logins with the same credentials share one verification: a burst
    // of sessions (a fleet reconnecting) costs one argon2 run (and its 19 MiB), not one each.
    let pending = this.verifying.get(key);
    if (!pending) {
      pending = verifyPassword(record.password, password).finally(() => this.verifying.delete(key));
      this.verifying.set(key, pending);
    }
    if (!(await pending)) return null;
    if (this.cacheTtlMs > 0) {
      if (this.cache.size > 10000) this.cache.clear();
      this.cache.set(key, Date.now() + this.cacheTtlMs);
    }
    return toUser(name, record);
  }
}

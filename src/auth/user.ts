import type { Permission, TlsPolicy } from '../config/schema.js';

/** A user as the server sees it after login. */
export interface User {
  name: string;
  /** Storage path that is "/" for this user. */
  home: string;
  permissions: ReadonlySet<Permission>;
  /** CIDRs the user may log in from; empty means anywhere. */
  allowedNetworks: readonly string[];
  maxSessions?: number;
  anonymous: boolean;
  /** The user's own storage (backend, bucket, key prefix or root) instead of the server's. */
  storage?: { backend?: 'local' | 's3'; bucket?: string; prefix?: string; root?: string };
}

export interface UserStore {
  /** Whether the name exists (anonymous included); used to shape the reply to USER. */
  isAnonymousName(name: string): boolean;
  /** The user's own TLS policy, if any (asked before the password, at USER). */
  tlsPolicyOf(name: string): TlsPolicy | undefined;
  /** The user when the password is right; null otherwise. */
  authenticate(name: string, password: string): Promise<User | null>;
}

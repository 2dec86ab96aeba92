/**
 * Password hashing. argon2 runs in libuv's thread pool, so verification never
 * blocks the event loop; bcrypt hashes written by other tools are accepted too.
 */
import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { randomInt } from 'node:crypto';

export async function hashPassword(password: string): Promise<string> {
  // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
  return argon2.hash(password, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (hash.startsWith('$argon2')) {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }
  if (/^\$2[aby]\$/.test(hash)) {
    return bcrypt.compare(password, hash);
  }
  return false;
}

/** A random password of 20 characters from an unambiguous alphabet. */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return Array.from({ length: 20 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

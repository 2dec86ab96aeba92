/**
 * The one configuration schema of a node. Every key has a default, so an
 * empty config is a working embedded server (see README "Quick start").
 * Durations are in seconds.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const seconds = z.number().min(0);

export const PERMISSIONS = ['list', 'read', 'write', 'delete', 'rename', 'mkdir'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'expected a port range "MIN-MAX", e.g. "10000-10999"')
  .transform((text, ctx) => {
    const [min, max] = text.split('-').map(Number) as [number, number];
    if (min < 1 || max > 65535 || min > max) {
      ctx.addIssue({ code: 'custom', message: 'expected 1 <= MIN <= MAX <= 65535' });
      return z.NEVER;
    }
    return { min, max };
  });

/** Free text: a value the environment or YAML read as a number ("FTPFLEET_NODE_ID=7") is still text. */
const text = (schema: z.ZodString) =>
  z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v), schema);

const ipAddress = z.string().refine((s) => isIP(s) !== 0, 'expected an IPv4 or IPv6 address');

const cidr = z.string().refine((s) => {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}, 'expected an address or network in CIDR form, e.g. "10.0.0.0/8"');

export const configSchema = z
  .object({
    nodeId: text(z.string().min(1)).default(hostname()),
    listen: z
      .object({
        /** Addresses to listen on; "::" is IPv4 and IPv6 on all interfaces. */
        addresses: z.array(ipAddress).min(1).default(['::']),
        port: port.default(2121),
      })
      .strict()
      .prefault({}),
    banner: text(z.string().max(200)).default('ftpfleet ready'),
    storage: z
      .object({
        backend: z.enum(['local']).default('local'),
        local: z
          .object({
            root: text(z.string().min(1)).default('./data'),
            /** fsync the file and its directory before 226. */
            fsync: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    users: z
      .object({
        file: text(z.string().min(1)).default('./ftpfleet-users.yaml'),
        /** How long a successful password check is remembered. */
        cacheTtl: seconds.default(60),
      })
      .strict()
      .prefault({}),
    anonymous: z
      .object({
        enabled: z.boolean().default(false),
        home: z.string().startsWith('/').default('/pub'),
        writable: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    passive: z
      .object({
        enabled: z.boolean().default(true),
        portRange: portRange.default({ min: 10000, max: 10999 }),
        /** IPv4 address put in 227 replies; "auto" is the control connection's local address. */
        address: z.string().refine((s) => s === 'auto' || isIP(s) === 4, 'expected "auto" or an IPv4 address').default('auto'),
        /** Accept data connections only from the control connection's client address. */
        requireSameAddress: z.boolean().default(true),
        acceptTimeout: seconds.default(30),
      })
      .strict()
      .prefault({}),
    active: z
      .object({
        enabled: z.boolean().default(true),
        /** Local port of outgoing data connections: "any", or e.g. 20 (needs CAP_NET_BIND_SERVICE). */
        sourcePort: z.union([z.literal('any'), port.min(1)]).default('any'),
        /** Allow PORT/EPRT to an address other than the client's (FTP bounce). */
        allowForeignAddress: z.boolean().default(false),
        allowPrivilegedPorts: z.boolean().default(false),
        connectTimeout: seconds.default(10),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxSessions: z.number().int().min(1).default(2000),
        maxSessionsPerAddress: z.number().int().min(1).default(50),
        maxLineLength: z.number().int().min(64).max(65536).default(4096),
        loginTimeout: seconds.default(60),
        idleTimeout: seconds.default(900),
        /** A data connection with no progress for this long is aborted. */
        dataTimeout: seconds.default(120),
        failedLoginDelay: seconds.default(1),
        ban: z
          .object({
            enabled: z.boolean().default(true),
            /** Failed logins from one address within `window` that trigger a ban. */
            failures: z.number().int().min(1).default(10),
            window: seconds.default(300),
            duration: seconds.default(900),
            /** Networks never banned. */
            neverBan: z.array(cidr).default([]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    shutdown: z.object({ grace: seconds.default(30) }).strict().prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

export const userSchema = z
  .object({
    /** argon2id or bcrypt hash, as written by `ftpfleet user add`. */
    password: z.string().regex(/^\$(argon2(id|i|d)|2[aby])\$/, 'expected an argon2 or bcrypt hash'),
    home: z.string().startsWith('/').default('/'),
    permissions: z.array(z.enum(PERMISSIONS)).default([...PERMISSIONS]),
    allowedNetworks: z.array(cidr).default([]),
    maxSessions: z.number().int().min(1).optional(),
  })
  .strict();

export const usersFileSchema = z
  .object({ users: z.record(z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'expected a user name of letters, digits and ._@-'), userSchema).default({}) })
  .strict();

export type UserRecord = z.infer<typeof userSchema>;
export type UsersFile = z.infer<typeof usersFileSchema>;

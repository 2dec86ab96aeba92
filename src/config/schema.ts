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

export const TLS_POLICIES = ['optional', 'login', 'data'] as const;
export type TlsPolicy = (typeof TLS_POLICIES)[number];

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

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const ipAddress = z.string().refine((s) => isIP(s) !== 0, 'expected an IPv4 or IPv6 address');

/** An address or a network in CIDR form (also used by the fleet description of lb-config). */
export const cidr = z.string().refine((s) => {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}, 'expected an address or network in CIDR form, e.g. "10.0.0.0/8"');

export const STORAGE_BACKENDS = ['local', 's3'] as const;

const MiB = 1024 * 1024;

/** S3 bucket names (3-63 lower-case letters, digits, dots, hyphens). */
const bucketName = text(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 lower-case letters, digits, "." and "-")'));
/** A key prefix: "" or segments like "ftp/" (a leading "/" is ignored, a trailing one added). */
const keyPrefix = text(
  z
    .string()
    .max(512)
    .refine((s) => !s.split('/').some((seg) => seg === '.' || seg === '..') && !s.includes('\0'), 'expected a key prefix such as "ftp/" (no "." or ".." segments)'),
);
const checksumMode = z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']);

const s3Schema = z
  .object({
    bucket: bucketName.nullable().default(null),
    /** Prepended to every key; each user's home is a path below it. */
    prefix: keyPrefix.default(''),
    /** null: the AWS SDK's default (AWS_REGION, ~/.aws/config). */
    region: text(z.string().min(1)).nullable().default(null),
    /** For S3-compatible servers (Ceph RGW, MinIO, R2), e.g. "http://127.0.0.1:7480"; null for AWS. */
    endpoint: z.url().nullable().default(null),
    /** Path-style URLs (endpoint/bucket/key), as RGW and MinIO need. */
    forcePathStyle: z.boolean().default(false),
    /** Static credentials; null: the AWS SDK default chain (env, profile, SSO, web identity, ECS, EC2). */
    accessKeyId: text(z.string().min(1)).nullable().default(null),
    secretAccessKey: text(z.string().min(1)).nullable().default(null),
    sessionToken: text(z.string().min(1)).nullable().default(null),
    /** RGW and older S3-compatible servers need WHEN_REQUIRED for both. */
    requestChecksumCalculation: checksumMode.default('WHEN_SUPPORTED'),
    responseChecksumValidation: checksumMode.default('WHEN_SUPPORTED'),
    /** Multipart part size in bytes (5 MiB to 5 GiB); also the largest file is 10,000 parts. */
    partSize: z.number().int().min(5 * MiB).max(5 * 1024 * MiB).default(8 * MiB),
    /** Parts of one upload sent at once; an upload buffers at most (queueSize + 1) parts. */
    queueSize: z.number().int().min(1).max(64).default(4),
    /** Attempts per S3 request (the SDK retries throttling, 5xx and network errors). */
    maxAttempts: z.number().int().min(1).max(20).default(3),
    retryMode: z.enum(['standard', 'adaptive']).default('standard'),
    /** Concurrent HTTP connections to S3 per node (a download holds one while it runs). */
    maxSockets: z.number().int().min(1).default(500),
    /** Seconds to wait for a TCP connection to S3. */
    connectTimeout: seconds.default(10),
    /** Report each file's x-amz-meta-mtime (MFMT) in listings: one HEAD request per entry. */
    listMetadata: z.boolean().default(true),
    /** HEAD requests in flight per listing page when listMetadata is on. */
    listConcurrency: z.number().int().min(1).max(256).default(32),
    /** Renaming a directory copies each object: refused above this many objects. */
    renameDirMaxObjects: z.number().int().min(0).default(1000),
    /** Server-side copies (rename, MFMT, resume) of objects above this size use multipart copy, in parts of this size. */
    copyPartSize: z.number().int().min(5 * MiB).max(5 * 1024 * MiB).default(5 * 1024 * MiB),
  })
  .strict();

export const listenSchema = z
  .object({
    /** Addresses to listen on; "::" is IPv4 and IPv6 on all interfaces. */
    addresses: z.array(ipAddress).min(1).default(['::']),
    port: port.default(2121),
  })
  .strict()
  .prefault({});

export const passiveSchema = z
  .object({
    enabled: z.boolean().default(true),
    portRange: portRange.default({ min: 10000, max: 10999 }),
    /**
     * Address put in 227 replies: "auto" (the address the client connected to: the
     * PROXY header's destination, else the control socket's local address), an IPv4
     * address (e.g. the VIP, or 0.0.0.0 to tell clients to reuse the control
     * address), or a host name resolved at start and every resolveInterval seconds.
     */
    address: z
      .string()
      .refine((s) => s === 'auto' || isIP(s) === 4 || HOSTNAME.test(s), 'expected "auto", an IPv4 address or a host name')
      .default('auto'),
    /** Client networks that get another address (first match wins), e.g. internal clients the private one. */
    addressByNetwork: z
      .array(z.object({ networks: z.array(cidr).min(1), address: z.ipv4() }).strict())
      .default([]),
    resolveInterval: seconds.min(1).default(60),
    /**
     * Let one passive port serve many sessions at once when their client addresses
     * differ, for balancers that can forward only a few ports.
     */
    sharePorts: z.boolean().default(false),
    /** Accept data connections only from the control connection's client address. */
    requireSameAddress: z.boolean().default(true),
    acceptTimeout: seconds.default(30),
  })
  .strict()
  .prefault({});

export const activeSchema = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * Local port of outgoing data connections: "any"; a port such as 20 (needs
     * CAP_NET_BIND_SERVICE); or "control-1", the control port minus one from the
     * address the client connected to, as LVS's ip_vs_ftp expects.
     */
    sourcePort: z.union([z.enum(['any', 'control-1']), port.min(1)]).default('any'),
    /**
     * PORT/EPRT naming a private address while the client connects from a public one
     * (a device behind NAT without an FTP helper): refuse, or connect to the client's
     * public address on the port it named.
     */
    privateTarget: z.enum(['refuse', 'use-client-address']).default('refuse'),
    /** What counts as private for privateTarget. */
    privateNetworks: z
      .array(cidr)
      .default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', 'fc00::/7', 'fe80::/10']),
    /** Allow PORT/EPRT to an address other than the client's (FTP bounce). */
    allowForeignAddress: z.boolean().default(false),
    allowPrivilegedPorts: z.boolean().default(false),
    connectTimeout: seconds.default(10),
  })
  .strict()
  .prefault({});

export const proxyProtocolSchema = z
  .object({
    /** PROXY v1/v2 header on control connections: off, optional (used when sent) or required. */
    control: z.enum(['off', 'optional', 'required']).default('off'),
    /** The same for passive data connections (off: a header would end up inside uploads). */
    data: z.enum(['off', 'optional', 'required']).default('off'),
    /** Only these peers (the balancers) may send headers. */
    trustedNetworks: z.array(cidr).default([]),
    /** Connections from other peers: refused, or served as direct clients. */
    untrusted: z.enum(['refuse', 'direct']).default('refuse'),
    headerTimeout: seconds.default(5),
  })
  .strict()
  .prefault({});

export const opsSchema = z
  .object({
    /** HTTP port for /healthz, /readyz, /metrics and the admin API. */
    enabled: z.boolean().default(true),
    address: ipAddress.default('127.0.0.1'),
    port: port.default(9121),
    /** Bearer token for /admin/*; unset disables the admin API. */
    adminToken: text(z.string().min(16)).nullable().default(null),
  })
  .strict()
  .prefault({});

export const limitsSchema = z
  .object({
    maxSessions: z.number().int().min(1).default(2000),
    maxSessionsPerAddress: z.number().int().min(1).default(50),
    /** Sessions not (yet) logged in; past this new connections get 421. */
    maxUnauthenticated: z.number().int().min(1).default(500),
    maxLineLength: z.number().int().min(64).max(65536).default(4096),
    /** A command line whose first bytes came this long ago without its line end: 421 and close. */
    commandLineTimeout: seconds.default(30),
    loginTimeout: seconds.default(60),
    idleTimeout: seconds.default(900),
    /** A data connection with no progress for this long is aborted. */
    dataTimeout: seconds.default(120),
    failedLoginDelay: seconds.default(1),
    defender: z
      .object({
        enabled: z.boolean().default(true),
        /** Score at which an address is banned. */
        threshold: z.number().min(1).default(100),
        /** How long each offence counts towards the score (a sliding window). */
        window: z.number().min(1).default(300),
        /** Points per offence (0 ignores it). */
        scores: z
          .object({
            failedLogin: z.number().min(0).default(10),
            /** Unknown or malformed commands and arguments (500, 501). */
            badCommand: z.number().min(0).default(4),
            /** Oversize lines, NUL bytes, commands before login past `preLoginCommands`. */
            protocolAbuse: z.number().min(0).default(10),
            /** A connection to a passive port from another address than the session's. */
            foreignDataConnection: z.number().min(0).default(25),
          })
          .strict()
          .prefault({}),
        /** Commands before login, besides USER and PASS, that are not yet abuse. */
        preLoginCommands: z.number().int().min(0).default(10),
        /** The first ban; each repeat offence doubles it, up to maxBanDuration. */
        banDuration: seconds.default(900),
        maxBanDuration: seconds.default(86400),
        /** A ban this soon after the previous one ended is a repeat offence. */
        repeatWindow: seconds.default(86400),
        /** Networks never banned (only slowed by failedLoginDelay). */
        allow: z.array(cidr).default([]),
        /** Networks always refused at connect (421). */
        deny: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const tlsSchema = z
  .object({
    /** Offer AUTH TLS (and implicit FTPS when implicitPort is set). */
    enabled: z.boolean().default(true),
    /**
     * PEM certificate (with chain) and key. When both are unset, a self-signed
     * pair is created beside the users file at first start.
     */
    cert: text(z.string().min(1)).nullable().default(null),
    key: text(z.string().min(1)).nullable().default(null),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** optional; login: AUTH TLS before USER; data: also PROT P for every transfer. */
    policy: z.enum(TLS_POLICIES).default('optional'),
    /** Data connections must resume the control connection's TLS session. */
    requireSessionReuse: z.boolean().default(true),
    handshakeTimeout: seconds.default(15),
    /** Port for implicit FTPS (TLS from the first byte), e.g. 990; null for none. */
    implicitPort: port.nullable().default(null),
  })
  .strict()
  .prefault({});

export const shutdownSchema = z.object({ grace: seconds.default(30) }).strict().prefault({});

export const logSchema = z
  .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
  .strict()
  .prefault({});

/** The sections a node and the gateway share (client-facing data connections, limits, TLS, ops). */
export const processSections = {
  passive: passiveSchema,
  active: activeSchema,
  proxyProtocol: proxyProtocolSchema,
  ops: opsSchema,
  limits: limitsSchema,
  tls: tlsSchema,
  shutdown: shutdownSchema,
  log: logSchema,
};

/** A passive range must not swallow the process's own listening ports (node or gateway). */
export function checkPassiveRange(
  c: { passive: { portRange: { min: number; max: number } }; listen: { port: number }; tls: { implicitPort: number | null }; ops: { enabled: boolean; port: number } },
  ctx: z.core.$RefinementCtx,
): void {
  const { min, max } = c.passive.portRange;
  const clash = (p: number | null, key: string) => {
    if (p !== null && p !== 0 && p >= min && p <= max) {
      ctx.addIssue({ code: 'custom', path: ['passive', 'portRange'], message: `the range ${min}-${max} contains ${key} (${p}); choose a range without it` });
    }
  };
  clash(c.listen.port, 'listen.port');
  clash(c.tls.implicitPort, 'tls.implicitPort');
  if (c.ops.enabled) clash(c.ops.port, 'ops.port');
}

export const configSchema = z
  .object({
    nodeId: text(z.string().min(1)).default(hostname()),
    /**
     * Processes serving sessions: 1 serves them in this process; more starts a
     * primary that accepts and admits connections and that many worker
     * processes, each with an equal slice of the passive range.
     */
    workers: z.number().int().min(1).max(64).default(1),
    listen: listenSchema,
    banner: text(z.string().max(200)).default('ftpfleet ready'),
    storage: z
      .object({
        backend: z.enum(STORAGE_BACKENDS).default('local'),
        local: z
          .object({
            root: text(z.string().min(1)).default('./data'),
            /** fsync the file and its directory before 226. */
            fsync: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        s3: s3Schema.prefault({}),
      })
      .strict()
      .superRefine((s, ctx) => {
        if (s.backend === 's3' && s.s3.bucket === null) {
          ctx.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'storage.backend is "s3": set storage.s3.bucket' });
        }
      })
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
    ...processSections,
  })
  .strict()
  .superRefine(checkPassiveRange)
  .superRefine((c, ctx) => {
    const { min, max } = c.passive.portRange;
    if (max - min + 1 < c.workers) {
      ctx.addIssue({ code: 'custom', path: ['workers'], message: `${c.workers} workers need at least ${c.workers} passive ports (one slice each); passive.portRange ${min}-${max} has ${max - min + 1}` });
    }
  });

export type Config = z.infer<typeof configSchema>;

export const userSchema = z
  .object({
    /** argon2id or bcrypt hash, as written by `ftpfleet user add`. */
    password: z.string().regex(/^\$(argon2(id|i|d)|2[aby])\$/, 'expected an argon2 or bcrypt hash'),
    home: z.string().startsWith('/').default('/'),
    permissions: z.array(z.enum(PERMISSIONS)).default([...PERMISSIONS]),
    allowedNetworks: z.array(cidr).default([]),
    maxSessions: z.number().int().min(1).optional(),
    /** Overrides tls.policy for this user. */
    tls: z.enum(TLS_POLICIES).optional(),
    /** Overrides the server's storage for this user (home is then a path in this store). */
    storage: z
      .object({
        backend: z.enum(STORAGE_BACKENDS).optional(),
        /** S3: another bucket (same endpoint and credentials as storage.s3). */
        bucket: bucketName.optional(),
        /** S3: key prefix replacing storage.s3.prefix. */
        prefix: keyPrefix.optional(),
        /** Local: another root directory. */
        root: text(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const usersFileSchema = z
  .object({ users: z.record(z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'expected a user name of letters, digits and ._@-'), userSchema).default({}) })
  .strict();

export type UserRecord = z.infer<typeof userSchema>;
export type UsersFile = z.infer<typeof usersFileSchema>;

/**
 * The gateway's config (`ftpfleet gateway --config gateway.yaml`). Client-side
 * settings (listen, TLS, passive and active data, PROXY from its own balancer,
 * limits, ops) are the node's own schemas; what is new is the backend pool.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { checkPassiveRange, listenSchema, processSections } from './schema.js';

const seconds = z.number().min(0);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected a name of letters, digits, ".", "_" and "-"');

export const DATA_POLICIES = ['client', 'passive', 'active'] as const;
export type DataPolicy = (typeof DATA_POLICIES)[number];
export const BALANCE_STRATEGIES = ['round-robin', 'least-connections', 'source-hash', 'user'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];

export const backendSchema = z
  .object({
    name,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(21),
    /** Backends of one group serve the users pinned to it (balance.users). */
    group: name.default('default'),
    /** Control connection to the backend: plain, explicit FTPS (AUTH TLS) or implicit FTPS. */
    tls: z.enum(['off', 'explicit', 'implicit']).default('off'),
    /** Check the backend's certificate (against `ca`, else the system's CAs). */
    tlsVerify: z.boolean().default(false),
    ca: z.string().min(1).nullable().default(null),
    /** Send a PROXY v2 header so the backend sees the real client address. */
    proxyProtocol: z.boolean().default(false),
    /**
     * How data connections to this backend are made: as the client chose
     * ("client"), always PASV/EPSV ("passive": active-only devices reach
     * passive-only services), or always PORT/EPRT ("active").
     */
    dataPolicy: z.enum(DATA_POLICIES).default('client'),
    /** Address sent in PORT/EPRT to this backend; null: the local address of the control connection to it. */
    activeAddress: z.ipv4().nullable().default(null),
    /** No new sessions; running ones go on (change it and send SIGHUP). */
    drain: z.boolean().default(false),
    health: z
      .object({
        /** "banner": connect and wait for 220; "readyz": GET this URL (the node's /readyz). */
        check: z.enum(['banner', 'readyz']).default('banner'),
        url: z.url().nullable().default(null),
      })
      .strict()
      .prefault({})
      .refine((h) => h.check !== 'readyz' || h.url !== null, { message: 'health.check "readyz" needs health.url', path: ['url'] }),
  })
  .strict();

export type BackendConfig = z.infer<typeof backendSchema>;

export const gatewayConfigSchema = z
  .object({
    nodeId: z.string().min(1).default(hostname()),
    listen: listenSchema,
    banner: z.string().max(200).default('ftpfleet gateway ready'),
    backends: z.array(backendSchema).default([]),
    balance: z
      .object({
        strategy: z.enum(BALANCE_STRATEGIES).default('least-connections'),
        /** With strategy "user": user name -> backend group (others go to group "default"). */
        users: z.record(z.string(), name).default({}),
      })
      .strict()
      .prefault({}),
    health: z
      .object({
        interval: seconds.min(0.1).default(5),
        timeout: seconds.min(0.1).default(3),
        /** Consecutive good checks that re-admit a backend. */
        rise: z.number().int().min(1).default(2),
        /** Consecutive failed checks that eject it. */
        fall: z.number().int().min(1).default(3),
      })
      .strict()
      .prefault({}),
    /** Connecting to a backend and its banner, login and TLS. */
    backendTimeout: seconds.min(0.1).default(10),
    ...processSections,
  })
  .strict()
  .superRefine((c, ctx) => {
    checkPassiveRange(c, ctx);
    if (c.proxyProtocol.data !== 'off') {
      ctx.addIssue({ code: 'custom', path: ['proxyProtocol', 'data'], message: 'the gateway reads PROXY headers on control connections only; set it to "off"' });
    }
    const seen = new Set<string>();
    c.backends.forEach((b, i) => {
      if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `backend name "${b.name}" is used twice` });
      seen.add(b.name);
    });
    const groups = new Set(c.backends.map((b) => b.group));
    for (const [user, group] of Object.entries(c.balance.users)) {
      if (!groups.has(group)) ctx.addIssue({ code: 'custom', path: ['balance', 'users', user], message: `no backend is in group "${group}"` });
    }
  });

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

// The session host's configuration, read once from the environment at start. A bad value stops
// the process with a message naming the variable.
import { z } from 'zod';
import { hostIdPattern } from './link/protocol.ts';

const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', '']).transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const schema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65_535).default(8790),
    HOST: z.string().default('127.0.0.1'),
    HOST_SECRET: z.string().min(16, 'must be at least 16 characters (a long random string shared with the edge)'),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (a long random string for the metrics scraper)').optional(),
    REDIS_URL: z.string().url().optional(),
    DATA_DIR: z.string().min(1).default('data'),
    WA_WS_URL: z
      .string()
      .regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL')
      .optional(),
    WA_ROOT_KEY: z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be a base64 X25519 public key (32 bytes)')
      .optional(),
    MEDIA_ALLOW_PRIVATE_NETWORKS: flag.default(false),
    MEDIA_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    MEDIA_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
    PUBLIC_URL: z.string().url().optional(),
    EDGE_URL: z.string().url().optional(),
    HOST_ID: z.string().regex(hostIdPattern, 'must be the id the edge gave this host (letters, digits, _ or -)').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    STORE_CHECK_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
    // Fractions allowed (0.0001 is about 9 s), so tests and benchmarks can see records expire.
    // The first webhook retry's delay (it doubles each time); longer in tests that retry by hand.
    WEBHOOK_RETRY_INITIAL_MS: z.coerce.number({ error: 'must be milliseconds' }).int().min(100).max(3_600_000).optional(),
    RETENTION_DAYS: z.coerce.number({ error: 'must be a number of days' }).positive('must be more than 0 days (fractions allowed)').max(3_650, 'must be at most 3650 days').default(7),
  })
  .refine((c) => !c.WA_ROOT_KEY || c.WA_WS_URL, { message: 'WA_ROOT_KEY is only used with WA_WS_URL', path: ['WA_ROOT_KEY'] })
  .refine((c) => !c.HOST_ID || c.EDGE_URL, { message: 'HOST_ID needs EDGE_URL: the host dials the edge there', path: ['HOST_ID'] });

export type Config = {
  port: number;
  host: string;
  hostSecret: string;
  /** A second token that reads /metrics (the host secret does too), so a scraper need not hold the secret. */
  metricsToken?: string;
  redisUrl?: string;
  dataDir: string;
  waWebSocketUrl?: string;
  waRootKey?: Buffer<ArrayBuffer>;
  mediaAllowPrivateNetworks: boolean;
  mediaMaxBytes: number;
  mediaTimeoutMs: number;
  publicUrl?: string;
  /** The edge's public base URL: links to incoming media in webhooks point there (else the edge says per device). */
  edgeUrl?: string;
  /** Set (with edgeUrl): the host dials the edge itself as this host, instead of waiting for it on /link. */
  hostId?: string;
  logLevel: string;
  /** How often the store's health and sentinel are checked (it is also checked on a Redis reconnect). */
  storeCheckMs: number;
  /** How long per-send records (outbox claims, sent messages kept for retries and receipts) live. */
  retentionMs: number;
  /** Delay before a failed webhook's first retry (default 2 s); it doubles each time, up to 1 h. */
  webhookRetryInitialMs?: number;
};

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty variables count as unset, so `FOO= npm start` behaves like leaving FOO out.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    hostSecret: c.HOST_SECRET,
    metricsToken: c.METRICS_TOKEN,
    redisUrl: c.REDIS_URL,
    dataDir: c.DATA_DIR,
    waWebSocketUrl: c.WA_WS_URL,
    waRootKey: c.WA_ROOT_KEY ? Buffer.from(c.WA_ROOT_KEY, 'base64') : undefined,
    mediaAllowPrivateNetworks: c.MEDIA_ALLOW_PRIVATE_NETWORKS,
    mediaMaxBytes: c.MEDIA_MAX_BYTES,
    mediaTimeoutMs: c.MEDIA_TIMEOUT_MS,
    publicUrl: c.PUBLIC_URL,
    edgeUrl: c.EDGE_URL,
    hostId: c.HOST_ID,
    logLevel: c.LOG_LEVEL,
    storeCheckMs: c.STORE_CHECK_MS,
    retentionMs: Math.round(c.RETENTION_DAYS * 86_400_000),
    webhookRetryInitialMs: c.WEBHOOK_RETRY_INITIAL_MS,
  };
}

import { BlockList, isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FerryError } from '@ferry/shared';
import { z } from 'zod';
import { MAX_PASSWORD_COST, MIN_PASSWORD_COST, PRODUCTION_PASSWORD_COST } from './auth/password.js';

const envSchema = z.object({
  FERRY_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  FERRY_DATA_DIR: z.string().min(1).default('./.ferry/control-plane'),
  FERRY_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  FERRY_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  FERRY_PUBLIC_URL: z.url().optional(),
  FERRY_ADMIN_EMAIL: z.email().optional(),
  FERRY_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  FERRY_KEY_FILE: z.string().min(1).optional(),
  FERRY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Set: blobs go to this S3 bucket (it must exist). Unset: FERRY_DATA_DIR/blobs. */
  FERRY_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
    .optional(),
  FERRY_S3_ENDPOINT: z.url().optional(),
  FERRY_S3_REGION: z.string().min(1).default('us-east-1'),
  FERRY_S3_FORCE_PATH_STYLE: z.enum(['true', 'false'], 'must be true or false').default('false'),
  /** An S3 request with no answer in this time fails (storage.unavailable) instead of hanging the caller. */
  FERRY_S3_TIMEOUT_SECONDS: z.coerce.number().min(0.001).max(3600).default(20),
  /** Both set: serve HTTPS with this PEM certificate chain and key (else plain HTTP behind a TLS proxy). */
  FERRY_TLS_CERT: z.string().min(1).optional(),
  FERRY_TLS_KEY: z.string().min(1).optional(),
  /** Gateways heartbeat this often over the channel; fractional values are for tests. */
  FERRY_HEARTBEAT_SECONDS: z.coerce.number().min(0.1).max(3600).default(30),
  /** Every this many seconds each replica re-sends config to channels whose applied version is stale. */
  FERRY_CONFIG_RESYNC_SECONDS: z.coerce.number().min(1).max(86_400).default(300),
  /** true: webhooks may go to loopback and private-network receivers (on-prem installs). */
  FERRY_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false'], 'must be true or false').default('false'),
  /** Alert e-mail goes out through this server: smtp://user:pass@host:port or smtps://… (?from=sender). */
  FERRY_SMTP_URL: z
    .url({ protocol: /^smtps?$/, error: 'must be a URL like smtp://user:pass@host:587 or smtps://…' })
    .optional(),
  /** Bearer token Prometheus presents at /metrics (at least 16 characters); unset: /metrics is off (404). */
  FERRY_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Comma-separated IPs and CIDRs of the TLS proxies in front of the control plane: only a request from
   * one of them has its client address taken from X-Forwarded-For (unset: the header is ignored).
   */
  FERRY_TRUSTED_PROXIES: z.string().optional(),
  /**
   * Origins (scheme://host[:port], separated by commas or spaces) of DICOMweb viewers hosted elsewhere
   * that may call /dicomweb with a bearer token (unset or empty: no CORS).
   */
  FERRY_CORS_ORIGINS: z.string().optional(),
  /**
   * log2 of scrypt's N for new password hashes: 17 (128 MiB, about a third of a second) unless tests
   * lower it; below 17 the control plane warns at start.
   */
  FERRY_PASSWORD_COST: z.coerce
    .number()
    .int()
    .min(MIN_PASSWORD_COST)
    .max(MAX_PASSWORD_COST)
    .default(PRODUCTION_PASSWORD_COST),
  /** The agent release tarball served at /downloads (default: where `npm run bundle:agent` writes it). */
  FERRY_AGENT_RELEASE: z.string().min(1).optional(),
  /** Names this replica in gateway_status and logs (default hostname-pid). */
  FERRY_REPLICA_ID: z
    .string()
    .regex(/^[\w.:-]{1,128}$/, 'must be 1-128 letters, digits or . _ : -')
    .optional(),
});

export interface Env {
  databaseUrl: string | undefined;
  dataDir: string;
  httpPort: number;
  httpHost: string;
  publicUrl: string;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  keyFile: string;
  logLevel: string;
  /** S3 settings when FERRY_S3_BUCKET is set; credentials come from the standard AWS chain. */
  s3:
    | {
        bucket: string;
        endpoint: string | undefined;
        region: string;
        forcePathStyle: boolean;
        /** FERRY_S3_TIMEOUT_SECONDS, in ms: each attempt of a request (the SDK retries a timed-out one). */
        requestTimeoutMs: number;
      }
    | undefined;
  /** PEM file paths when the control plane terminates TLS itself. */
  tls: { certFile: string; keyFile: string } | undefined;
  heartbeatSeconds: number;
  configResyncSeconds: number;
  replicaId: string;
  /** FERRY_WEBHOOK_ALLOW_PRIVATE=true: webhook receivers on loopback and private networks are allowed. */
  webhookAllowPrivate: boolean;
  /** FERRY_SMTP_URL (holds a password: never log it). */
  smtpUrl: string | undefined;
  /** FERRY_METRICS_TOKEN (a secret: never log it). */
  metricsToken: string | undefined;
  /** The agent release tarball this control plane serves at /downloads (it may not exist). */
  agentReleaseFile: string;
  /** Peers whose X-Forwarded-For is believed; undefined when FERRY_TRUSTED_PROXIES is unset. */
  trustedProxies: BlockList | undefined;
  /** FERRY_CORS_ORIGINS: origins allowed to call /dicomweb cross-origin (empty: none). */
  corsOrigins: Set<string>;
  /** FERRY_PASSWORD_COST: log2 of scrypt's N for new password hashes. */
  passwordCost: number;
}

/** FERRY_TRUSTED_PROXIES as a BlockList, or a config.invalid naming the entry that is no IP or CIDR. */
export function parseTrustedProxies(raw: string): BlockList {
  const list = new BlockList();
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const invalid = () =>
      new FerryError(
        'config.invalid',
        `invalid control plane settings: FERRY_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`,
      );
    if (family === 0 || rest.length > 0) throw invalid();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) throw invalid();
    list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/**
 * FERRY_CORS_ORIGINS: origins separated by commas or spaces, each exactly `scheme://host[:port]`
 * (http or https, no path). Throws config.invalid naming the entry and what is wrong with it.
 */
export function parseCorsOrigins(raw: string): Set<string> {
  const origins = new Set<string>();
  for (const entry of raw.split(/[\s,]+/)) {
    if (entry === '') continue;
    const invalid = (why: string) =>
      new FerryError(
        'config.invalid',
        `invalid control plane settings: FERRY_CORS_ORIGINS: "${entry}" ${why}`,
      );
    if (entry === '*' || entry === 'null')
      throw invalid("is not allowed; list each viewer's origin, e.g. https://viewer.example.org");
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalid('is not an origin (scheme://host[:port]), e.g. https://viewer.example.org');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('must be http:// or https://');
    if (url.username || url.password || url.search || url.hash || entry.replace(/\/$/, '') !== url.origin) {
      throw invalid(`must be an origin only (scheme://host[:port], no path or query): ${url.origin}?`);
    }
    origins.add(url.origin);
  }
  return origins;
}

/** Where `npm run bundle:agent` writes the release, beside this package (in the checkout and the image). */
export const DEFAULT_AGENT_RELEASE_FILE = fileURLToPath(
  new URL('../../agent/release/ferry-agent-linux-x64.tar.gz', import.meta.url),
);

/** Reads FERRY_* settings; an invalid value fails at start and names the variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new FerryError('config.invalid', `invalid control plane settings: ${detail}`);
  }
  const e = parsed.data;
  if ((e.FERRY_TLS_CERT === undefined) !== (e.FERRY_TLS_KEY === undefined))
    throw new FerryError(
      'config.invalid',
      'invalid control plane settings: FERRY_TLS_CERT and FERRY_TLS_KEY must be set together',
    );
  const tls =
    e.FERRY_TLS_CERT && e.FERRY_TLS_KEY
      ? { certFile: resolve(e.FERRY_TLS_CERT), keyFile: resolve(e.FERRY_TLS_KEY) }
      : undefined;
  const dataDir = resolve(e.FERRY_DATA_DIR);
  return {
    databaseUrl: e.FERRY_DATABASE_URL,
    dataDir,
    httpPort: e.FERRY_HTTP_PORT,
    httpHost: e.FERRY_HTTP_HOST,
    publicUrl: (e.FERRY_PUBLIC_URL ?? `${tls ? 'https' : 'http'}://127.0.0.1:${e.FERRY_HTTP_PORT}`).replace(
      /\/$/,
      '',
    ),
    adminEmail: e.FERRY_ADMIN_EMAIL?.toLowerCase(),
    adminPassword: e.FERRY_ADMIN_PASSWORD,
    keyFile: e.FERRY_KEY_FILE ? resolve(e.FERRY_KEY_FILE) : join(dataDir, 'keys', 'recipient.private.jwk'),
    logLevel: e.FERRY_LOG_LEVEL,
    s3: e.FERRY_S3_BUCKET
      ? {
          bucket: e.FERRY_S3_BUCKET,
          endpoint: e.FERRY_S3_ENDPOINT,
          region: e.FERRY_S3_REGION,
          forcePathStyle: e.FERRY_S3_FORCE_PATH_STYLE === 'true',
          requestTimeoutMs: Math.round(e.FERRY_S3_TIMEOUT_SECONDS * 1000),
        }
      : undefined,
    tls,
    heartbeatSeconds: e.FERRY_HEARTBEAT_SECONDS,
    configResyncSeconds: e.FERRY_CONFIG_RESYNC_SECONDS,
    replicaId: e.FERRY_REPLICA_ID ?? `${hostname()}-${process.pid}`,
    webhookAllowPrivate: e.FERRY_WEBHOOK_ALLOW_PRIVATE === 'true',
    smtpUrl: e.FERRY_SMTP_URL,
    metricsToken: e.FERRY_METRICS_TOKEN,
    agentReleaseFile: e.FERRY_AGENT_RELEASE ? resolve(e.FERRY_AGENT_RELEASE) : DEFAULT_AGENT_RELEASE_FILE,
    trustedProxies: e.FERRY_TRUSTED_PROXIES ? parseTrustedProxies(e.FERRY_TRUSTED_PROXIES) : undefined,
    corsOrigins: parseCorsOrigins(e.FERRY_CORS_ORIGINS ?? ''),
    passwordCost: e.FERRY_PASSWORD_COST,
  };
}

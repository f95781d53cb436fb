// What the control-plane benchmarks share: a real `ferry-control-plane serve` process, PostgreSQL
// scratch databases, self-signed agent tokens, latency percentiles and /proc readings.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import pg from 'pg';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(root, 'control-plane', 'bin', 'ferry-control-plane.js');
/** The enrollment-token route caps maxUses at 1,000. */
const USES_PER_TOKEN = 1000;

export const PG_URL = process.env.FERRY_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

export interface Latencies {
  count: number;
  errors: Record<string, number>;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface Gateway {
  id: string;
  privateKey: CryptoKey;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Runs `count` jobs with at most `concurrency` in flight; each job returns its HTTP status.
 * Collects per-request latency, statuses other than `okStatus`, and the overall rate.
 */
export async function drive(
  count: number,
  concurrency: number,
  okStatus: number,
  job: (i: number) => Promise<number>,
): Promise<Latencies> {
  const ms: number[] = new Array(count);
  const errors: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t0 = performance.now();
      let status: string;
      try {
        status = String(await job(i));
      } catch (err) {
        status = (err as Error).message.slice(0, 80);
      }
      ms[i] = performance.now() - t0;
      if (status !== String(okStatus)) errors[status] = (errors[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = ms.slice().sort((a, b) => a - b);
  return {
    count,
    errors,
    seconds: round(seconds, 3),
    perSecond: round(count / seconds, 1),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? 0),
  };
}

export async function json<T>(res: Response, what: string, expected: number): Promise<T> {
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

export interface Server {
  url: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

export async function startServer(opts: {
  dataDir: string;
  databaseUrl?: string;
  adminEmail: string;
  adminPassword: string;
  logLevel: string;
  env?: Record<string, string>;
}): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(opts.dataDir, 'control-plane.log');
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const log = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FERRY_DATA_DIR: opts.dataDir,
    FERRY_HTTP_PORT: String(port),
    FERRY_HTTP_HOST: '127.0.0.1',
    FERRY_PUBLIC_URL: url,
    FERRY_ADMIN_EMAIL: opts.adminEmail,
    FERRY_ADMIN_PASSWORD: opts.adminPassword,
    FERRY_LOG_LEVEL: opts.logLevel,
    ...opts.env,
  };
  delete env.FERRY_DATABASE_URL;
  if (opts.databaseUrl) env.FERRY_DATABASE_URL = opts.databaseUrl;
  const nodeArgs = (process.env.FERRY_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve'], { env, stdio: ['ignore', log, log] });
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `control plane exited with ${exitCode}:\n${(await readFile(logFile, 'utf8')).slice(-3000)}`,
      );
    }
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`control plane not ready after 120 s; log in ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    logFile,
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Peak resident set of a process, from /proc (Linux). */
export async function peakRssMb(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(status.match(/^VmHWM:\s+(\d+)\s+kB/m)?.[1]);
    return Number.isFinite(kb) ? round(kb / 1024, 1) : undefined;
  } catch {
    return undefined;
  }
}

export function signAgentToken(gw: Gateway, audience: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(gw.id)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 240)
    .setJti(randomBytes(18).toString('base64url'))
    .sign(gw.privateKey);
}

export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A session for the bench admin, one facility, and `count` gateways enrolled through the real route. */
export async function enrollGateways(
  server: Server,
  opts: { adminEmail: string; adminPassword: string; count: number; concurrency: number },
): Promise<{ session: string; facilityId: string; gateways: Gateway[]; enroll: Latencies }> {
  const { adminEmail, adminPassword } = opts;
  const GATEWAYS = opts.count;
  const ENROLL_CONCURRENCY = opts.concurrency;
  const api = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const session = await signIn(server, adminEmail, adminPassword);
  const facility = await json<{ id: string }>(
    await api('POST', '/api/v1/facilities', session, { name: 'Bench site', aeTitle: 'BENCH' }),
    'create facility',
    201,
  );
  const enrollmentTokens: string[] = [];
  for (let left = GATEWAYS; left > 0; left -= USES_PER_TOKEN) {
    const created = await json<{ token: string }>(
      await api('POST', `/api/v1/facilities/${facility.id}/enrollment-tokens`, session, {
        maxUses: Math.min(left, USES_PER_TOKEN),
        expiresInHours: 2,
      }),
      'create enrollment token',
      201,
    );
    enrollmentTokens.push(created.token);
  }

  // Key pairs are made before the clock starts: agents make them once, at install.
  const keys: { privateKey: CryptoKey; publicJwk: JWK }[] = [];
  for (let i = 0; i < GATEWAYS; i++) {
    const kp = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const { kty, crv, x } = await exportJWK(kp.publicKey);
    keys.push({ privateKey: kp.privateKey, publicJwk: { kty, crv, x } });
  }
  const gateways: Gateway[] = new Array(GATEWAYS);
  const enroll = await drive(GATEWAYS, ENROLL_CONCURRENCY, 200, async (i) => {
    const res = await fetch(`${server.url}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: enrollmentTokens[Math.floor(i / USES_PER_TOKEN)],
        publicKey: keys[i]!.publicJwk,
        hostname: `bench-gw-${i}`,
        version: '0.0.0-bench',
      }),
    });
    const text = await res.text();
    if (res.status === 200) {
      gateways[i] = {
        id: (JSON.parse(text) as { gatewayId: string }).gatewayId,
        privateKey: keys[i]!.privateKey,
      };
    }
    return res.status;
  });
  const enrolled = gateways.filter(Boolean);
  if (enrolled.length === 0) throw new Error(`no gateway enrolled: ${JSON.stringify(enroll.errors)}`);
  return { session, facilityId: facility.id, gateways: enrolled, enroll };
}

/** A session token for `email` through POST /api/v1/auth/login. */
export async function signIn(server: Server, email: string, password: string): Promise<string> {
  const { token } = await json<{ token: string }>(
    await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    }),
    'login',
    200,
  );
  return token;
}

// Runs the real control plane as a child process (the built bin), and talks to its HTTP API.
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { repoRoot } from './corpus.js';
import { freePort } from './dcmtk.js';
import { seedControlPlaneDatabase } from './pglite-seed.js';
import { spawnService } from './service-process.js';

export const CONTROL_PLANE_BIN = join(repoRoot, 'control-plane', 'bin', 'ferry-control-plane.js');

export interface ControlPlaneProcess {
  /** Where the test reaches it directly. */
  url: string;
  /** FERRY_PUBLIC_URL as it reported it (agents enroll with it). */
  publicUrl: string;
  /** fetch that trusts the control plane's test certificate when it serves HTTPS. */
  fetch: typeof fetch;
  port: number;
  child: ChildProcess;
  /** Everything it printed so far (pino JSON lines on stdout, plus stderr). */
  output(): string;
  /** Calls the API; `token` becomes a Bearer header. */
  api<T = unknown>(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown },
  ): Promise<{ status: number; body: T }>;
  /** Signs in and returns the session token. */
  login(email: string, password: string): Promise<string>;
  /**
   * Signs in with a temporary password (a new user's, a reset's), replaces it with `chosen` as the
   * product requires before anything else, and returns the session token that then works.
   */
  firstSignIn(email: string, temporary: string, chosen: string): Promise<string>;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts `ferry-control-plane serve` with its data in `dataDir` (PGlite) or in the PostgreSQL
 * database `databaseUrl`, and resolves once it logs `control_plane.ready`.
 */
export async function startControlPlane(opts: {
  dataDir: string;
  adminEmail: string;
  adminPassword: string;
  databaseUrl?: string;
  env?: Record<string, string>;
  /** Listen here (a restart keeps the URL agents were enrolled with); default a free port. */
  port?: number;
  /**
   * On PGlite, let the control plane create and migrate its database itself, as on a real first
   * start; by default a new data directory gets a copy of a migrated, empty one (pglite-seed.ts).
   */
  freshDatabase?: boolean;
}): Promise<ControlPlaneProcess> {
  const port = opts.port ?? (await freePort());
  if (!opts.freshDatabase && !opts.databaseUrl && !opts.env?.FERRY_DATABASE_URL)
    await seedControlPlaneDatabase(opts.env?.FERRY_DATA_DIR ?? opts.dataDir);
  const env: Record<string, string | undefined> = {
    ...process.env,
    FERRY_DATA_DIR: opts.dataDir,
    FERRY_HTTP_PORT: String(port),
    FERRY_HTTP_HOST: '127.0.0.1',
    FERRY_ADMIN_EMAIL: opts.adminEmail,
    FERRY_ADMIN_PASSWORD: opts.adminPassword,
    FERRY_LOG_LEVEL: 'info',
    FERRY_DATABASE_URL: opts.databaseUrl,
    FERRY_PUBLIC_URL: undefined,
    ...opts.env,
  };
  const service = await spawnService<{ url: string }>({
    name: 'control plane',
    args: [CONTROL_PLANE_BIN, 'serve'],
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv,
    readyEvent: 'control_plane.ready',
    timeoutMs: 60_000,
  });
  const { child, exited } = service;
  // The API is called directly, even when the public URL is a proxy in front of it.
  const tlsCert = env.FERRY_TLS_CERT;
  const url = `${tlsCert ? 'https' : 'http'}://127.0.0.1:${port}`;
  const publicUrl = service.ready.url;
  // With TLS, trust exactly the test certificate: the test process cannot set NODE_EXTRA_CA_CERTS.
  const dispatcher = tlsCert ? new Agent({ connect: { ca: readFileSync(tlsCert) } }) : undefined;
  const fetchCp: typeof fetch = (input, init) =>
    (dispatcher
      ? undiciFetch(input as string, { ...(init as object), dispatcher })
      : fetch(input, init)) as ReturnType<typeof fetch>;
  const api: ControlPlaneProcess['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetchCp(`${url}${path}`, {
      method,
      headers,
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as never };
  };
  const login = async (email: string, password: string): Promise<string> => {
    const res = await api<{ token: string }>('POST', '/api/v1/auth/login', { body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token;
  };
  return {
    url,
    publicUrl,
    port,
    fetch: fetchCp,
    child,
    output: service.output,
    api,
    login,
    async firstSignIn(email, temporary, chosen) {
      const token = await login(email, temporary);
      const res = await api<{ token: string }>('POST', '/api/v1/me/password', {
        token,
        body: { currentPassword: temporary, newPassword: chosen },
      });
      if (res.status !== 200)
        throw new Error(`password change failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.token;
    },
    exited,
    stop: service.stop,
  };
}

const run = promisify(execFile);
const PG = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];

/** A new, empty database on the machine's PostgreSQL (trust auth); `drop` removes it. */
export async function freshPostgresDatabase(
  prefix = 'ferry_e2e',
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await run('createdb', [...PG, name]);
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      await run('dropdb', [...PG, '--if-exists', '--force', name]);
    },
  };
}

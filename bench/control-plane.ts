// `npm run bench:control-plane`: a real `ferry-control-plane serve` process, on PGlite and then on
// PostgreSQL (when FERRY_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test, answers).
// 1,000 gateways enroll through POST /api/v1/agents/enroll, then all of them call the agent-authenticated
// GET /api/v1/agents/me concurrently, each call with a fresh self-signed token (EdDSA, unique jti).
// Prints requests/s and p50/p99 latency per phase; writes bench/results/control-plane-latest.json.
//
// Knobs: FERRY_BENCH_GATEWAYS (1000), FERRY_BENCH_CALLS_PER_GATEWAY (10), FERRY_BENCH_CONCURRENCY (64),
// FERRY_BENCH_ENROLL_CONCURRENCY (16), FERRY_BENCH_BACKENDS (pglite,postgres),
// FERRY_BENCH_LOG_LEVEL (info: the server logs a line per request, as in production),
// FERRY_BENCH_NO_BUILD=1 to skip building the control plane first, FERRY_BENCH_SERVER_NODE_ARGS for extra
// node flags on the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  drive,
  enrollGateways,
  PG_URL,
  peakRssMb,
  postgresReachable,
  root,
  round,
  signAgentToken,
  startServer,
  withAdmin,
} from './lib/control-plane-process.js';

const GATEWAYS = Number(process.env.FERRY_BENCH_GATEWAYS ?? 1000);
const CALLS_PER_GATEWAY = Number(process.env.FERRY_BENCH_CALLS_PER_GATEWAY ?? 10);
const CONCURRENCY = Number(process.env.FERRY_BENCH_CONCURRENCY ?? 64);
const ENROLL_CONCURRENCY = Number(process.env.FERRY_BENCH_ENROLL_CONCURRENCY ?? 16);
const LOG_LEVEL = process.env.FERRY_BENCH_LOG_LEVEL ?? 'info';
const BACKENDS = (process.env.FERRY_BENCH_BACKENDS ?? 'pglite,postgres').split(',').map((s) => s.trim());

async function runBackend(backend: string) {
  const scratch = await mkdtemp(join(tmpdir(), `ferry-bench-cp-${backend}-`));
  let databaseUrl: string | undefined;
  let dbName: string | undefined;
  if (backend === 'postgres') {
    dbName = `ferry_bench_${Date.now().toString(36)}_${process.pid}`;
    await withAdmin((c) => c.query(`create database "${dbName}"`));
    const u = new URL(PG_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const adminEmail = 'bench-admin@example.test';
  const adminPassword = randomBytes(18).toString('base64url');
  const started = performance.now();
  const server = await startServer({
    logLevel: LOG_LEVEL,
    dataDir: scratch,
    adminEmail,
    adminPassword,
    ...(databaseUrl ? { databaseUrl } : {}),
  });
  const startupSeconds = round((performance.now() - started) / 1000, 2);
  try {
    const { gateways: enrolled, enroll } = await enrollGateways(server, {
      adminEmail,
      adminPassword,
      count: GATEWAYS,
      concurrency: ENROLL_CONCURRENCY,
    });

    // Tokens are signed before the clock starts too, so the numbers are the server's (one core of two
    // is still the client's). Calls go round-robin across the gateways: all of them are active at once.
    const total = enrolled.length * CALLS_PER_GATEWAY;
    const warmup = Math.min(500, enrolled.length);
    const tokens: string[] = new Array(total + warmup);
    for (let i = 0; i < tokens.length; i++)
      tokens[i] = await signAgentToken(enrolled[i % enrolled.length]!, server.url);
    const me = (offset: number) => async (i: number) => {
      const res = await fetch(`${server.url}/api/v1/agents/me`, {
        headers: { authorization: `Bearer ${tokens[offset + i]}` },
      });
      await res.arrayBuffer();
      return res.status;
    };
    await drive(warmup, CONCURRENCY, 200, me(0));
    const calls = await drive(total, CONCURRENCY, 200, me(warmup));

    const result = {
      backend,
      startupSeconds,
      gatewaysEnrolled: enrolled.length,
      enroll,
      agentMe: calls,
      serverPeakRssMb: await peakRssMb(server.child.pid),
    };
    console.log(
      `${backend.padEnd(8)} enroll ${enroll.count} gateways: ${enroll.perSecond}/s, p50 ${enroll.p50Ms} ms, p99 ${enroll.p99Ms} ms` +
        `${Object.keys(enroll.errors).length ? `, errors ${JSON.stringify(enroll.errors)}` : ''}`,
    );
    console.log(
      `${backend.padEnd(8)} GET /api/v1/agents/me x${calls.count} (${CONCURRENCY} in flight): ${calls.perSecond} req/s, ` +
        `p50 ${calls.p50Ms} ms, p90 ${calls.p90Ms} ms, p99 ${calls.p99Ms} ms, max ${calls.maxMs} ms` +
        `${Object.keys(calls.errors).length ? `, errors ${JSON.stringify(calls.errors)}` : ''}; server peak RSS ${result.serverPeakRssMb} MB`,
    );
    return result;
  } finally {
    await server.stop();
    if (dbName) await withAdmin((c) => c.query(`drop database if exists "${dbName}" with (force)`));
    await rm(scratch, { recursive: true, force: true });
  }
}

async function main() {
  if (process.env.FERRY_BENCH_NO_BUILD !== '1') {
    execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: root,
      stdio: 'inherit',
    });
  }
  console.log(
    `control-plane bench: ${GATEWAYS} gateways, ${CALLS_PER_GATEWAY} calls each, ${CONCURRENCY} in flight, ` +
      `server log level ${LOG_LEVEL}, ${cpus().length} cores shared by client and server`,
  );
  const results = [];
  const skipped: Record<string, string> = {};
  for (const backend of BACKENDS) {
    if (backend === 'postgres' && !(await postgresReachable())) {
      skipped.postgres = `not reachable at ${PG_URL}`;
      console.log(`postgres skipped: not reachable at ${PG_URL}`);
      continue;
    }
    results.push(await runBackend(backend));
  }
  const out = join(root, 'bench', 'results');
  await mkdir(out, { recursive: true });
  const doc = {
    bench: 'control-plane',
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    gateways: GATEWAYS,
    callsPerGateway: CALLS_PER_GATEWAY,
    concurrency: CONCURRENCY,
    enrollConcurrency: ENROLL_CONCURRENCY,
    serverLogLevel: LOG_LEVEL,
    results,
    skipped,
  };
  await writeFile(join(out, 'control-plane-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log('results written to bench/results/control-plane-latest.json');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

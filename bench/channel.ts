// `npm run bench:channel`: one real `ferry-control-plane serve` process on PostgreSQL with 2,000 simulated
// agents, each holding its own live channel (/api/v1/agents/channel, a real websocket with its own agent
// token) and heartbeating every 10 s with a full health report, as the agent does.
// Prints heartbeat round-trip p50/p99 (send → heartbeat.ack: the server validates and writes the report
// before it answers), the time for one group-wide config change to reach all 2,000, and the server's RSS
// and CPU while it carries them. Writes bench/results/channel-latest.json.
//
// There is no outside peer that speaks this protocol, so the figures stand against the targets
// rather than a ratio. The client (2,000 sockets) shares the machine's 2 cores with the server.
//
// Knobs: FERRY_BENCH_AGENTS (2000), FERRY_BENCH_HEARTBEAT_SECONDS (10), FERRY_BENCH_WINDOW_SECONDS (60),
// FERRY_BENCH_LOG_LEVEL (info), FERRY_BENCH_NO_BUILD=1.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHANNEL_PATH, type HealthReport, PROTOCOL_VERSION } from '@ferry/shared';
import WebSocket from 'ws';
import {
  enrollGateways,
  type Gateway,
  PG_URL,
  percentile,
  postgresReachable,
  root,
  round,
  signAgentToken,
  startServer,
  withAdmin,
} from './lib/control-plane-process.js';

const AGENTS = Number(process.env.FERRY_BENCH_AGENTS ?? 2000);
const HEARTBEAT_SECONDS = Number(process.env.FERRY_BENCH_HEARTBEAT_SECONDS ?? 10);
const WINDOW_SECONDS = Number(process.env.FERRY_BENCH_WINDOW_SECONDS ?? 60);
const LOG_LEVEL = process.env.FERRY_BENCH_LOG_LEVEL ?? 'info';
const CONNECT_CONCURRENCY = 50;

/** A report the size of a busy gateway's: every section filled, a caller list, two conditions. */
function healthReport(configVersion: number): HealthReport {
  const now = new Date().toISOString();
  return {
    agentVersion: '0.1.0-bench',
    uptimeSeconds: 3600,
    configVersion,
    spool: {
      pendingCount: 12,
      pendingBytes: 6_291_456,
      pendingStudies: 2,
      oldestUnsentAt: now,
      quarantined: 0,
    },
    upload: { bytesPerSecond: 1_048_576, objectsDelivered: 40, errors: 0, lastError: null },
    dicom: {
      listening: true,
      aeTitle: 'BENCH',
      port: 4104,
      activeAssociations: 1,
      associations: 3,
      lastStoreByCallingAe: [
        { aeTitle: 'CT_SCANNER_1', at: now },
        { aeTitle: 'PACS_MAIN', at: now },
      ],
      tlsCertExpiresAt: null,
    },
    disk: { freeBytes: 200e9, totalBytes: 500e9 },
    clockOffsetMs: 3,
    conditions: [],
  };
}

interface SimAgent {
  ws: WebSocket;
  configVersion: number;
  seq: number;
  sent: Map<number, number>;
  timer?: NodeJS.Timeout;
}

/** CPU seconds (user + system) a process has used, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rssMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm'))?.[1] ?? 0);
  return { rss: round(kb('VmRSS') / 1024, 1), peak: round(kb('VmHWM') / 1024, 1) };
}

async function main() {
  if (process.env.FERRY_BENCH_NO_BUILD !== '1')
    execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: root,
      stdio: 'inherit',
    });
  if (!(await postgresReachable())) throw new Error(`the channel bench needs PostgreSQL at ${PG_URL}`);
  console.log(
    `channel bench: ${AGENTS} agents, heartbeat every ${HEARTBEAT_SECONDS} s, ${WINDOW_SECONDS} s window, ` +
      `server log level ${LOG_LEVEL}, ${cpus().length} cores shared by client and server`,
  );
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-bench-channel-'));
  const dbName = `ferry_bench_ch_${Date.now().toString(36)}_${process.pid}`;
  await withAdmin((c) => c.query(`create database "${dbName}"`));
  const u = new URL(PG_URL);
  u.pathname = `/${dbName}`;
  const adminEmail = 'bench-admin@example.test';
  const adminPassword = randomBytes(18).toString('base64url');
  const server = await startServer({
    dataDir: scratch,
    databaseUrl: u.toString(),
    adminEmail,
    adminPassword,
    logLevel: LOG_LEVEL,
    env: { FERRY_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS) },
  });
  const pid = server.child.pid ?? 0;
  const agents: SimAgent[] = [];
  try {
    const { session, gateways, enroll } = await enrollGateways(server, {
      adminEmail,
      adminPassword,
      count: AGENTS,
      concurrency: 16,
    });
    console.log(`enrolled ${gateways.length} gateways in ${enroll.seconds} s`);

    const rtt: number[] = [];
    let measuring = false;
    let errors = 0;
    let configTarget = 0;
    let configStarted = 0;
    const configArrivals: number[] = [];
    let allConfigured: () => void = () => {};
    const configured = new Promise<void>((resolve) => {
      allConfigured = resolve;
    });

    const wsUrl = `${server.url.replace(/^http/, 'ws')}${CHANNEL_PATH}`;
    const connect = async (gw: Gateway): Promise<SimAgent> => {
      const token = await signAgentToken(gw, server.url);
      const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
      const agent: SimAgent = { ws, configVersion: 0, seq: 0, sent: new Map() };
      await new Promise<void>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`upgrade refused: ${res.statusCode}`)),
        );
        ws.once('error', reject);
        ws.on('message', (data) => {
          const msg = JSON.parse(String(data)) as {
            type: string;
            seq?: number;
            version?: number;
            heartbeatSeconds?: number;
          };
          if (msg.type === 'welcome') {
            const period = (msg.heartbeatSeconds ?? HEARTBEAT_SECONDS) * 1000;
            // Spread the first beats over one period, then ±10% jitter, as agents do.
            const beat = () => {
              const seq = agent.seq++;
              agent.sent.set(seq, performance.now());
              ws.send(
                JSON.stringify({
                  type: 'heartbeat',
                  v: PROTOCOL_VERSION,
                  seq,
                  health: healthReport(agent.configVersion),
                }),
              );
              agent.timer = setTimeout(beat, period * (0.9 + Math.random() * 0.2));
            };
            agent.timer = setTimeout(beat, Math.random() * period);
            resolve();
          } else if (msg.type === 'heartbeat.ack' && msg.seq !== undefined) {
            const t0 = agent.sent.get(msg.seq);
            agent.sent.delete(msg.seq);
            if (t0 !== undefined && measuring) rtt.push(performance.now() - t0);
          } else if (msg.type === 'config' && msg.version !== undefined) {
            const first = msg.version > agent.configVersion;
            agent.configVersion = Math.max(agent.configVersion, msg.version);
            ws.send(JSON.stringify({ type: 'config.applied', v: PROTOCOL_VERSION, version: msg.version }));
            if (first && configTarget > 0 && msg.version >= configTarget) {
              configArrivals.push(performance.now() - configStarted);
              if (configArrivals.length === agents.length) allConfigured();
            }
          } else if (msg.type === 'error') {
            errors++;
          }
        });
        ws.once('open', () =>
          ws.send(
            JSON.stringify({
              type: 'hello',
              v: PROTOCOL_VERSION,
              agentVersion: '0.1.0-bench',
              configVersion: 0,
            }),
          ),
        );
      });
      ws.on('close', () => clearTimeout(agent.timer));
      return agent;
    };

    const connectStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECT_CONCURRENCY }, async () => {
        for (;;) {
          const i = next++;
          if (i >= gateways.length) return;
          agents.push(await connect(gateways[i] as Gateway));
        }
      }),
    );
    const connectSeconds = round((performance.now() - connectStarted) / 1000, 2);
    console.log(`${agents.length} channels open in ${connectSeconds} s`);

    // Let the first round of beats settle, then measure a steady window.
    await new Promise((r) => setTimeout(r, HEARTBEAT_SECONDS * 1000));
    measuring = true;
    const cpu0 = await cpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000));
    const windowSeconds = (performance.now() - t0) / 1000;
    const cpuPercent = round((100 * ((await cpuSeconds(pid)) - cpu0)) / windowSeconds, 1);
    measuring = false;
    const rss = await rssMb(pid);
    const sorted = rtt.slice().sort((a, b) => a - b);
    const heartbeats = {
      count: sorted.length,
      perSecond: round(sorted.length / windowSeconds, 1),
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted.at(-1) ?? 0),
      errors,
    };
    console.log(
      `heartbeats: ${heartbeats.count} in ${round(windowSeconds, 1)} s (${heartbeats.perSecond}/s), ` +
        `round trip p50 ${heartbeats.p50Ms} ms, p99 ${heartbeats.p99Ms} ms, max ${heartbeats.maxMs} ms; ` +
        `server CPU ${cpuPercent}% of one core, RSS ${rss.rss} MB (peak ${rss.peak} MB)`,
    );

    // One group-wide setting change: a new config version for every gateway, fanned out over NOTIFY.
    const latest = Math.max(...agents.map((a) => a.configVersion));
    configTarget = latest + 1;
    configStarted = performance.now();
    const res = await fetch(`${server.url}/api/v1/settings/gateways`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
      body: JSON.stringify({ maxAssociations: 33 }),
    });
    const apiMs = round(performance.now() - configStarted);
    if (res.status !== 200)
      throw new Error(`PUT /api/v1/settings/gateways: ${res.status} ${await res.text()}`);
    await Promise.race([
      configured,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`config reached ${configArrivals.length}/${agents.length}`)),
          120_000,
        ),
      ),
    ]);
    const arrivals = configArrivals.slice().sort((a, b) => a - b);
    const configPush = {
      agents: arrivals.length,
      apiMs,
      p50Ms: round(percentile(arrivals, 50)),
      allMs: round(arrivals.at(-1) ?? 0),
    };
    console.log(
      `config change: PUT answered in ${apiMs} ms; reached ${configPush.agents} agents, p50 ${configPush.p50Ms} ms, ` +
        `all ${configPush.allMs} ms`,
    );

    const out = join(root, 'bench', 'results');
    await mkdir(out, { recursive: true });
    const doc = {
      bench: 'channel',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      agents: agents.length,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      windowSeconds: round(windowSeconds, 1),
      serverLogLevel: LOG_LEVEL,
      connectSeconds,
      heartbeats,
      configPush,
      server: { cpuPercentOfOneCore: cpuPercent, rssMb: rss.rss, peakRssMb: rss.peak },
      targets: { agents: 2000, heartbeatSeconds: 10 },
    };
    await writeFile(join(out, 'channel-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
    console.log('results written to bench/results/channel-latest.json');
  } finally {
    for (const a of agents) a.ws.terminate();
    await server.stop();
    await withAdmin((c) => c.query(`drop database if exists "${dbName}" with (force)`));
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

// The soak's chaos, at seeded random moments while the senders run: the agent is killed with
// SIGKILL and started again, the control plane is restarted, and the S3 link is made slow, then
// erroring (resets every second, then a black hole), then healed. Each kind runs its own sequence,
// so kinds overlap as they would in the field.
import { sleep } from '../harness/agent.js';
import type { Cloud } from '../harness/cloud.js';
import type { AgentWatch } from './resources.js';

export interface ChaosCounts {
  agentKills: number;
  controlPlaneRestarts: number;
  s3Slow: number;
  s3Errors: number;
}

export interface ChaosPlan {
  /** Offsets from the start of sending, ms. */
  agentKills: number[];
  controlPlaneRestarts: number[];
  s3Episodes: number[];
  s3SlowMs: number;
  s3ErrorMs: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** At least one of each; more for longer runs. All inside 10–80 % of the sending window. */
export function planChaos(durationMs: number, random: () => number): ChaosPlan {
  const at = (n: number) =>
    Array.from({ length: n }, () => durationMs * (0.1 + 0.7 * random())).sort((a, b) => a - b);
  return {
    agentKills: at(Math.max(1, Math.floor(durationMs / 100_000))),
    controlPlaneRestarts: at(Math.max(1, Math.floor(durationMs / 150_000))),
    s3Episodes: at(Math.max(1, Math.floor(durationMs / 200_000))),
    s3SlowMs: clamp(durationMs * 0.12, 8_000, 60_000),
    s3ErrorMs: clamp(durationMs * 0.08, 6_000, 45_000),
  };
}

async function sleepUntil(t: number): Promise<void> {
  const ms = t - Date.now();
  if (ms > 0) await sleep(ms);
}

/** The agent again on its data dir; a failed start is retried (it must come back). */
async function restartAgent(cloud: Cloud, watch: AgentWatch): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      watch.watch(await cloud.restartAgent());
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      await sleep(1000);
    }
  }
}

export async function runChaos(
  cloud: Cloud,
  plan: ChaosPlan,
  opts: { start: number; random: () => number; watch: AgentWatch; log: (line: string) => void },
): Promise<ChaosCounts> {
  const counts: ChaosCounts = { agentKills: 0, controlPlaneRestarts: 0, s3Slow: 0, s3Errors: 0 };
  const { start, random, watch, log } = opts;
  const s3 = cloud.s3Link;
  if (!s3) throw new Error('the soak needs the TCP fault proxy in front of S3 (tcpProxyS3)');
  const since = () => `${((Date.now() - start) / 1000).toFixed(1)}s`;

  const kills = (async () => {
    for (const t of plan.agentKills) {
      await sleepUntil(start + t);
      watch.expectDeath(cloud.agent.pid);
      await cloud.agent.kill9();
      counts.agentKills++;
      const downMs = 300 + random() * 2000;
      log(
        `  [${since()}] chaos: agent kill -9 (pid ${cloud.agent.pid}), restart in ${Math.round(downMs)} ms`,
      );
      await sleep(downMs);
      await restartAgent(cloud, watch);
    }
  })();

  const restarts = (async () => {
    for (const t of plan.controlPlaneRestarts) {
      await sleepUntil(start + t);
      const downMs = 1000 + random() * 3000;
      log(`  [${since()}] chaos: control plane restart, down ${Math.round(downMs)} ms`);
      await cloud.restartControlPlane(downMs);
      counts.controlPlaneRestarts++;
    }
  })();

  const storage = (async () => {
    for (const t of plan.s3Episodes) {
      await sleepUntil(start + t);
      log(`  [${since()}] chaos: S3 slow (200 ms, 8 Mbit/s) for ${Math.round(plan.s3SlowMs / 1000)} s`);
      s3.shape({ latencyMs: 200, bitsPerSecond: 8e6 });
      counts.s3Slow++;
      await sleep(plan.s3SlowMs);
      s3.shape({});
      log(`  [${since()}] chaos: S3 erroring (resets every 1 s, then a 3 s black hole)`);
      s3.resetEvery(1000);
      counts.s3Errors++;
      await sleep(Math.max(0, plan.s3ErrorMs - 3000));
      s3.resetEvery(null);
      s3.blackHole(true);
      await sleep(3000);
      s3.blackHole(false);
      log(`  [${since()}] chaos: S3 healed`);
    }
  })();

  await Promise.all([kills, restarts, storage]);
  return counts;
}

/** Everything back to normal: the S3 link unshaped and the agent running. */
export async function healAll(cloud: Cloud, watch: AgentWatch): Promise<void> {
  cloud.s3Link?.shape({});
  cloud.s3Link?.resetEvery(null);
  cloud.s3Link?.blackHole(false);
  cloud.cpLink?.shape({});
  const a = cloud.agent.child;
  if (a.exitCode !== null || a.signalCode !== null) await restartAgent(cloud, watch);
}

// `npm run bench`: storescu -> DCMTK storescp (+B, writing to disk) against storescu -> ferry-agent,
// side by side in one run, on the CT set, the small-instance set and one big multi-frame file.
// Prints MB/s, instances/s, the agent/storescp ratio, the agent's CPU seconds per GB (from /proc) and
// peak RSS; writes bench/results/. FERRY_BENCH_PROFILE=1 profiles the agent of each row
// (bench/lib/profile-run.ts).
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recipientKeys, scratch, startAgent } from '../test/harness/agent.js';
import { bigInstance, ctCorpus, repoRoot, smallCorpus } from '../test/harness/corpus.js';
import { freePort, startStorescp, storescu } from '../test/harness/dcmtk.js';
import { cpuSeconds } from './lib/proc-usage.js';
import { monotonicMicros, type ProfiledProcess, profileRow } from './lib/profile-run.js';

const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
const BIG_BYTES = Number(process.env.FERRY_BENCH_BIG_BYTES ?? 1024 * 1024 * 1024);
/** Issue 18's receive targets (with fsync and encryption), printed beside each ratio. */
const TARGET_RATIO: Record<string, number> = { 'ct-300': 0.6, 'small-2000': 0.9, 'big-multiframe': 0.8 };

interface Corpus {
  name: string;
  files: string[];
  scanDir?: string;
  instances: number;
  bytes: number;
}

async function dirCorpus(name: string, dir: string): Promise<Corpus> {
  const names = (await readdir(dir)).filter((f) => f.endsWith('.dcm'));
  let bytes = 0;
  for (const f of names) bytes += (await stat(join(dir, f))).size;
  return { name, files: [], scanDir: dir, instances: names.length, bytes };
}

interface Run {
  seconds: number;
  peakRssBytes?: number;
  /** The agent's CPU seconds while the corpus was sent, and what a profile needs to know of it. */
  cpuSeconds?: number;
  process?: ProfiledProcess;
}

async function send(port: number, calledAe: string, c: Corpus): Promise<number> {
  const res = await storescu({
    port,
    calledAe,
    files: c.files,
    ...(c.scanDir ? { scanDir: c.scanDir, scanPattern: '*.dcm' } : {}),
    timeoutMs: 600_000,
  });
  if (res.code !== 0)
    throw new Error(`storescu to ${calledAe} failed (${res.code}): ${res.stderr.slice(0, 2000)}`);
  return res.ms / 1000;
}

async function runStorescp(c: Corpus, work: string): Promise<Run> {
  const outDir = join(work, 'storescp-out');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const port = await freePort();
  const scp = await startStorescp({ port, outDir });
  try {
    return { seconds: await send(port, 'REF', c) };
  } finally {
    await scp.stop();
    await rm(outDir, { recursive: true, force: true });
  }
}

async function runAgent(c: Corpus, work: string, publicJwk: unknown): Promise<Run> {
  const dataDir = join(work, 'agent-data');
  await rm(dataDir, { recursive: true, force: true });
  const agent = await startAgent({ dataDir, config: { recipientPublicKey: publicJwk } });
  try {
    const cpuBefore = await cpuSeconds(agent.pid);
    const windowStart = monotonicMicros();
    const seconds = await send(agent.port, 'GATEWAY', c);
    const windowUs: [number, number] = [windowStart, monotonicMicros()];
    const used = (await cpuSeconds(agent.pid)) - cpuBefore;
    return {
      seconds,
      peakRssBytes: await agent.peakRss(),
      cpuSeconds: used,
      process: { role: 'agent', pid: agent.pid, windowUs, bytes: c.bytes, cpuSeconds: used },
    };
  } finally {
    await agent.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const work = await scratch('bench');
  const keys = await recipientKeys(join(work, 'keys'));
  // FERRY_BENCH_CORPORA (ct-300,small-2000,big-multiframe) picks rows, for profiling one.
  const only = (name: string) =>
    !process.env.FERRY_BENCH_CORPORA || process.env.FERRY_BENCH_CORPORA.split(',').includes(name);
  const corpora: Corpus[] = [];
  if (only('ct-300')) corpora.push(await dirCorpus('ct-300', await ctCorpus()));
  if (only('small-2000')) corpora.push(await dirCorpus('small-2000', await smallCorpus()));
  if (only('big-multiframe')) {
    const big = await bigInstance(BIG_BYTES);
    corpora.push({ name: 'big-multiframe', files: [big], instances: 1, bytes: (await stat(big)).size });
  }
  const results = [];
  for (const c of corpora) {
    const ref: Run[] = [];
    const ours: Run[] = [];
    const profile = await profileRow(`receive-${c.name}`);
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate the order so page cache and disk state favour neither side.
      if (i % 2 === 0) {
        ref.push(await runStorescp(c, work));
        ours.push(await runAgent(c, work, keys.publicJwk));
      } else {
        ours.push(await runAgent(c, work, keys.publicJwk));
        ref.push(await runStorescp(c, work));
      }
    }
    await profile?.finish(ours.flatMap((r) => (r.process ? [r.process] : [])));
    const refS = median(ref.map((r) => r.seconds));
    const agentCpu = median(ours.map((r) => r.cpuSeconds ?? Number.NaN));
    const oursS = median(ours.map((r) => r.seconds));
    const row = {
      corpus: c.name,
      instances: c.instances,
      megabytes: +(c.bytes / 1e6).toFixed(1),
      storescp: {
        seconds: +refS.toFixed(3),
        mbPerS: +(c.bytes / 1e6 / refS).toFixed(1),
        instPerS: +(c.instances / refS).toFixed(0),
      },
      agent: {
        seconds: +oursS.toFixed(3),
        mbPerS: +(c.bytes / 1e6 / oursS).toFixed(1),
        instPerS: +(c.instances / oursS).toFixed(0),
      },
      ratio: +(refS / oursS).toFixed(2),
      agentCpuSeconds: +agentCpu.toFixed(2),
      agentCpuSecondsPerGB: +(agentCpu / (c.bytes / 1e9)).toFixed(1),
      agentPeakRssMB: +(Math.max(...ours.map((r) => r.peakRssBytes ?? 0)) / 2 ** 20).toFixed(0),
      rounds: ROUNDS,
    };
    results.push(row);
    console.log(
      `${c.name.padEnd(15)} storescp ${String(row.storescp.mbPerS).padStart(7)} MB/s ${String(row.storescp.instPerS).padStart(6)} inst/s | agent ${String(row.agent.mbPerS).padStart(7)} MB/s ${String(row.agent.instPerS).padStart(6)} inst/s | agent/storescp ${row.ratio.toFixed(2)} (target >= ${TARGET_RATIO[c.name] ?? '?'}) | agent CPU ${row.agentCpuSeconds}s = ${row.agentCpuSecondsPerGB} s/GB | agent peak RSS ${row.agentPeakRssMB} MB (target <= 200 MB)`,
    );
  }
  await rm(work, { recursive: true, force: true });
  const out = join(repoRoot, 'bench', 'results');
  await mkdir(out, { recursive: true });
  const doc = { bench: 'receive', at: new Date().toISOString(), node: process.version, cpus: 2, results };
  await writeFile(join(out, 'receive-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`results written to bench/results/receive-latest.json`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

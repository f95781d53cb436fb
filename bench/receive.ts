// `npm run bench`: storescu -> DCMTK storescp (+B, writing to disk) against storescu -> ferry-agent,
// side by side in one run, on the CT set, the small-instance set and one big multi-frame file.
// Prints MB/s, instances/s, the agent/storescp ratio and the agent's peak RSS; writes bench/results/.
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recipientKeys, scratch, startAgent } from '../test/harness/agent.js';
import { bigInstance, ctCorpus, repoRoot, smallCorpus } from '../test/harness/corpus.js';
import { freePort, startStorescp, storescu } from '../test/harness/dcmtk.js';

const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
const BIG_BYTES = Number(process.env.FERRY_BENCH_BIG_BYTES ?? 1024 * 1024 * 1024);

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
    const seconds = await send(agent.port, 'GATEWAY', c);
    return { seconds, peakRssBytes: await agent.peakRss() };
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
  const big = await bigInstance(BIG_BYTES);
  const corpora: Corpus[] = [
    await dirCorpus('ct-300', await ctCorpus()),
    await dirCorpus('small-2000', await smallCorpus()),
    { name: 'big-multiframe', files: [big], instances: 1, bytes: (await stat(big)).size },
  ];
  const results = [];
  for (const c of corpora) {
    const ref: Run[] = [];
    const ours: Run[] = [];
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
    const refS = median(ref.map((r) => r.seconds));
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
      agentPeakRssMB: +(Math.max(...ours.map((r) => r.peakRssBytes ?? 0)) / 2 ** 20).toFixed(0),
      rounds: ROUNDS,
    };
    results.push(row);
    console.log(
      `${c.name.padEnd(15)} storescp ${String(row.storescp.mbPerS).padStart(7)} MB/s ${String(row.storescp.instPerS).padStart(6)} inst/s | agent ${String(row.agent.mbPerS).padStart(7)} MB/s ${String(row.agent.instPerS).padStart(6)} inst/s | agent/storescp ${row.ratio.toFixed(2)} | agent peak RSS ${row.agentPeakRssMB} MB`,
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

// `npm run bench` (second part): end to end, storescu -> ferry-agent -> upload -> control plane
// (fs and S3 blobs), side by side with storescu -> DCMTK storescp (+B) in the same run.
// Reports, per backend and corpus:
// - end-to-end seconds from the first C-STORE until every instance is stored and verified in the cloud;
// - throughput as a ratio of storescp's ingest rate (target >= 0.5);
// - latency from receipt at the gateway to retrievable in the cloud, per instance (p50 target <= 1 s),
//   and from the last C-STORE until the whole study is retrievable. The study stable period is not
//   part of either: "stored" is counted, not "complete".
// Writes bench/results/upload-latest.json. FERRY_BENCH_SETUPS (fs-postgres,s3-postgres,fs-pglite) and
// FERRY_BENCH_CORPORA (ct-300,small-2000) pick rows, for profiling one.
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratch, sleep } from '../test/harness/agent.js';
import { type Cloud, type StudyDetail, startCloud, storedVersions } from '../test/harness/cloud.js';
import { ctCorpus, repoRoot, smallCorpus } from '../test/harness/corpus.js';
import { dicomStrings, freePort, startStorescp, storescu } from '../test/harness/dcmtk.js';
import startRealServices from '../test/setup/real-services.js';

interface Corpus {
  name: string;
  dir: string;
  instances: number;
  bytes: number;
  studyUid: string;
}

async function corpus(name: string, dir: string): Promise<Corpus> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.dcm')).sort();
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(dir, f))).size;
  const [studyUid] = await dicomStrings(join(dir, files[0] ?? ''), ['StudyInstanceUID']);
  if (!studyUid) throw new Error(`${dir}: no Study Instance UID`);
  return { name, dir, instances: files.length, bytes, studyUid };
}

async function send(port: number, calledAe: string, c: Corpus): Promise<number> {
  const res = await storescu({
    port,
    calledAe,
    files: [],
    scanDir: c.dir,
    scanPattern: '*.dcm',
    timeoutMs: 900_000,
  });
  if (res.code !== 0)
    throw new Error(`storescu to ${calledAe} failed (${res.code}): ${res.stderr.slice(0, 2000)}`);
  return res.ms / 1000;
}

async function storescpSeconds(c: Corpus, work: string): Promise<number> {
  const outDir = join(work, 'storescp-out');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const scp = await startStorescp({ port: await freePort(), outDir });
  try {
    return await send(scp.port, 'REF', c);
  } finally {
    await scp.stop();
    await rm(outDir, { recursive: true, force: true });
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

async function endToEnd(cloud: Cloud, c: Corpus) {
  const started = performance.now();
  const sendSeconds = await send(cloud.agent.port, cloud.aeTitle, c);
  const lastStore = performance.now();
  // Poll the light QIDO study row (its instance count), not the study detail with every instance.
  for (;;) {
    const res = await cloud.cp.fetch(`${cloud.cp.url}/dicomweb/studies?StudyInstanceUID=${c.studyUid}`, {
      headers: { authorization: `Bearer ${cloud.session}`, accept: 'application/dicom+json' },
    });
    const rows = res.status === 200 ? ((await res.json()) as Record<string, { Value?: number[] }>[]) : [];
    if ((rows[0]?.['00201208']?.Value?.[0] ?? 0) >= c.instances) break;
    if (performance.now() - started > 900_000) throw new Error(`${c.name}: not stored after 15 min`);
    await sleep(50);
  }
  const done = performance.now();
  const study = (await cloud.api<StudyDetail>('GET', `/api/v1/studies/${c.studyUid}`)).body;
  const latencies = storedVersions(study)
    .filter((i) => i.current)
    .map((i) => (Date.parse(i.storedAt) - Date.parse(i.receivedAt)) / 1000);
  return {
    sendSeconds,
    endToEndSeconds: (done - started) / 1000,
    lastStoreToAllStoredSeconds: (done - lastStore) / 1000,
    latencyP50: quantile(latencies, 0.5),
    latencyP99: quantile(latencies, 0.99),
  };
}

async function main(): Promise<void> {
  // The same real S3 server the tests use (started here when FERRY_TEST_S3_* is not set).
  startRealServices();
  const work = await scratch('bench-upload');
  const only = (name: string, list: string | undefined) => !list || list.split(',').includes(name);
  const corpora = [];
  if (only('ct-300', process.env.FERRY_BENCH_CORPORA)) corpora.push(await corpus('ct-300', await ctCorpus()));
  if (only('small-2000', process.env.FERRY_BENCH_CORPORA))
    corpora.push(await corpus('small-2000', await smallCorpus()));
  const results = [];
  const setups = [
    { blobs: 'fs', database: 'postgres' },
    { blobs: 's3', database: 'postgres' },
    { blobs: 'fs', database: 'pglite' },
  ] as const;
  for (const { blobs, database } of setups) {
    if (!only(`${blobs}-${database}`, process.env.FERRY_BENCH_SETUPS)) continue;
    for (const c of corpora) {
      const refSeconds = await storescpSeconds(c, work);
      const cloud = await startCloud({
        name: `bench-${blobs}-${c.name}`,
        blobs,
        database,
        stablePeriodSeconds: 1,
      });
      let e: Awaited<ReturnType<typeof endToEnd>>;
      try {
        e = await endToEnd(cloud, c);
      } finally {
        await cloud.close();
        await rm(cloud.root, { recursive: true, force: true });
      }
      const row = {
        backend: blobs,
        database,
        corpus: c.name,
        instances: c.instances,
        megabytes: +(c.bytes / 1e6).toFixed(1),
        storescpSeconds: +refSeconds.toFixed(3),
        storescpMBps: +(c.bytes / 1e6 / refSeconds).toFixed(1),
        agentSendSeconds: +e.sendSeconds.toFixed(3),
        endToEndSeconds: +e.endToEndSeconds.toFixed(3),
        endToEndMBps: +(c.bytes / 1e6 / e.endToEndSeconds).toFixed(1),
        ratioVsStorescp: +(refSeconds / e.endToEndSeconds).toFixed(2),
        lastStoreToAllStoredSeconds: +e.lastStoreToAllStoredSeconds.toFixed(3),
        receiptToRetrievableP50Seconds: +e.latencyP50.toFixed(3),
        receiptToRetrievableP99Seconds: +e.latencyP99.toFixed(3),
      };
      results.push(row);
      console.log(
        `${blobs.padEnd(3)} ${database.padEnd(8)} ${c.name.padEnd(11)} storescp ${row.storescpSeconds}s | end to end ${row.endToEndSeconds}s (${row.endToEndMBps} MB/s) ratio ${row.ratioVsStorescp} (target >= 0.5) | last C-STORE -> all stored ${row.lastStoreToAllStoredSeconds}s | receipt -> retrievable p50 ${row.receiptToRetrievableP50Seconds}s p99 ${row.receiptToRetrievableP99Seconds}s (target p50 <= 1 s)`,
      );
    }
  }
  await rm(work, { recursive: true, force: true });
  const out = join(repoRoot, 'bench', 'results');
  await mkdir(out, { recursive: true });
  const doc = { bench: 'upload', at: new Date().toISOString(), node: process.version, cpus: 2, results };
  await writeFile(join(out, 'upload-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log('results written to bench/results/upload-latest.json');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

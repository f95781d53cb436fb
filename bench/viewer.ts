// `npm run bench:viewer` (the last part of `npm run bench`): the reading room on loopback. The
// 300-slice 512x512 CT is sent with storescu through a real ferry-agent into a real control plane (fs
// blobs, PGlite), and the same files are stored in Orthanc (Debian package `orthanc`) side by side:
// - `/frames`: one frame per request, one instance after another, with the Accept header OHIF's image
//   loader sends (`multipart/related; type=application/octet-stream; transfer-syntax=*`), after a
//   warm-up on the first 20 instances; each of the next 150 is asked once, for the first time (what
//   scrolling a study just opened costs). Peers: Orthanc's `/instances/{id}/frames/0/image-uint16`
//   (a 16-bit PNG, the issue's peer) and, like for like, `/frames/0/raw` (the bytes, as ours are);
// - `/thumbnail` (instance level, image/jpeg, 128 px) against Orthanc's `/instances/{id}/preview`
//   (image/jpeg, the issue's peer, full size) and `/rendered?width=128&height=128&quality=80` (ours);
// - time to first image: headless Chromium, signed in through the console, opens
//   /viewer/viewer?StudyInstanceUIDs=… until the first viewport's canvas shows non-blank pixels, by
//   the page's own clock from navigation start; in a fresh context (empty cache: OHIF's scripts are
//   fetched and compiled), then again in the same context (scripts cached, as for a reader's next
//   study). Each figure also says how much of it came after the page's first DICOMweb request.
//   Measured after the requests above (the server has opened the instances; the browser has not).
// Ratios are Orthanc's p50 / Ferry's p50 (above 1: Ferry is faster). Targets, printed and not
// asserted: first image under 1 s, a frame under 20 ms at p50, a thumbnail under 100 ms at p50.
// Without Orthanc the bench says so and measures Ferry alone; without the viewer release
// (`node control-plane/scripts/fetch-viewer.mjs`) it says so and skips the first-image figure.
//
// Writes bench/results/viewer-latest.json. Knobs: FERRY_BENCH_ROUNDS (first-image rounds, 2),
// FERRY_BENCH_WARMUP (instances, 20), FERRY_BENCH_FRAMES (150), FERRY_BENCH_THUMBNAILS (80),
// FERRY_BENCH_NO_BUILD=1.
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { scratch, sleep } from '../test/harness/agent.js';
import { launchBrowser, newPage, signIn } from '../test/harness/browser.js';
import { CLOUD_ADMIN, type Cloud, startCloud } from '../test/harness/cloud.js';
import { corpusFiles, ctCorpus, repoRoot } from '../test/harness/corpus.js';
import { dicomStrings, requireTool, storescu } from '../test/harness/dcmtk.js';
import { percentile, round } from './lib/control-plane-process.js';
import { type Orthanc, orthancInstalled, startOrthanc } from './lib/orthanc.js';

const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 2);
const WARMUP = Number(process.env.FERRY_BENCH_WARMUP ?? 20);
const FRAMES = Number(process.env.FERRY_BENCH_FRAMES ?? 150);
const THUMBNAILS = Number(process.env.FERRY_BENCH_THUMBNAILS ?? 80);
const TARGETS = { firstImageMs: 1000, frameP50Ms: 20, thumbnailP50Ms: 100 };
/** What OHIF's image loader (cornerstone dicom-image-loader, wadors) asks a frame with. */
const OHIF_FRAME_ACCEPT = 'multipart/related; type=application/octet-stream; transfer-syntax=*';
const FRAME_BYTES = 512 * 512 * 2;
/** What our /thumbnail answers by default (routes/dicomweb/rendered.ts), asked of Orthanc's /rendered. */
const THUMBNAIL_SIZE = 128;
const THUMBNAIL_QUALITY = 80;

interface Instance {
  seriesUid: string;
  sopUid: string;
}

interface Timing {
  p50Ms: number;
  p99Ms: number;
  count: number;
  bytes: number;
}

/** One GET, body read to the end: milliseconds and bytes. Throws on anything but 200. */
async function timedGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  const body = await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200)
    throw new Error(`GET ${url}: ${res.status} ${Buffer.from(body).toString('utf8').slice(0, 300)}`);
  return { ms, bytes: body.byteLength };
}

function summary(samples: { ms: number; bytes: number }[]): Timing {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    p50Ms: round(percentile(ms, 50)),
    p99Ms: round(percentile(ms, 99)),
    count: ms.length,
    bytes: Math.round(samples.reduce((n, s) => n + s.bytes, 0) / Math.max(1, samples.length)),
  };
}

/** Sends the CT through the agent and waits until QIDO counts every instance stored. */
async function sendThroughAgent(cloud: Cloud, dir: string, studyUid: string, count: number): Promise<number> {
  const t0 = performance.now();
  const res = await storescu({
    port: cloud.agent.port,
    calledAe: cloud.aeTitle,
    files: [],
    scanDir: dir,
    scanPattern: '*.dcm',
    timeoutMs: 600_000,
  });
  if (res.code !== 0)
    throw new Error(`storescu to the agent failed (${res.code}): ${res.stderr.slice(0, 2000)}`);
  for (;;) {
    const r = await cloud.cp.fetch(`${cloud.cp.url}/dicomweb/studies?StudyInstanceUID=${studyUid}`, {
      headers: { authorization: `Bearer ${cloud.session}`, accept: 'application/dicom+json' },
    });
    const rows = r.status === 200 ? ((await r.json()) as Record<string, { Value?: number[] }>[]) : [];
    if ((rows[0]?.['00201208']?.Value?.[0] ?? 0) >= count) break;
    if (performance.now() - t0 > 600_000) throw new Error('the CT was not stored within 10 minutes');
    await sleep(100);
  }
  return (performance.now() - t0) / 1000;
}

async function listInstances(cloud: Cloud, studyUid: string): Promise<Instance[]> {
  const r = await cloud.cp.fetch(`${cloud.cp.url}/dicomweb/studies/${studyUid}/instances?limit=5000`, {
    headers: { authorization: `Bearer ${cloud.session}`, accept: 'application/dicom+json' },
  });
  const rows = (await r.json()) as Record<string, { Value?: string[] }>[];
  const number = (row: Record<string, { Value?: unknown[] }>) => Number(row['00200013']?.Value?.[0] ?? 0);
  return rows
    .sort((a, b) => number(a) - number(b))
    .map((row) => ({
      seriesUid: row['0020000E']?.Value?.[0] ?? '',
      sopUid: row['00080018']?.Value?.[0] ?? '',
    }));
}

/**
 * Ferry's and the peers' requests for each instance in turn, side by side (who goes first alternates,
 * so neither always finds the machine's caches warmed by the other).
 */
async function sideBySide(
  instances: Instance[],
  ours: (i: Instance) => Promise<{ ms: number; bytes: number }>,
  peers: Record<string, (i: Instance) => Promise<{ ms: number; bytes: number }>>,
): Promise<{ ours: Timing; peers: Record<string, Timing> }> {
  const mine: { ms: number; bytes: number }[] = [];
  const theirs: Record<string, { ms: number; bytes: number }[]> = Object.fromEntries(
    Object.keys(peers).map((k) => [k, []]),
  );
  for (const [n, instance] of instances.entries()) {
    const peerRuns = async () => {
      for (const [name, peer] of Object.entries(peers)) theirs[name]?.push(await peer(instance));
    };
    if (n % 2 === 0) {
      mine.push(await ours(instance));
      await peerRuns();
    } else {
      await peerRuns();
      mine.push(await ours(instance));
    }
  }
  return {
    ours: summary(mine),
    peers: Object.fromEntries(Object.entries(theirs).map(([k, v]) => [k, summary(v)])),
  };
}

// In the page, every animation frame: the first viewport with an image (OHIF puts cornerstone3D on
// window), its canvas scaled to 16x16; non-blank when a tenth of that grid is not black. Resolves
// with the page's clock (ms since navigation start) then, and when the page's first DICOMweb request
// left (what came before is the viewer starting; what came after, the server's part and the
// decoding and drawing); at -1 after a minute. A string evaluated over the DevTools protocol: the
// viewer's CSP forbids eval, which waitForFunction would need.
const FIRST_IMAGE_JS = `new Promise((resolve) => {
  const shown = () => {
    const cs = window.cornerstone;
    if (!cs || typeof cs.getEnabledElements !== 'function') return false;
    const vp = cs.getEnabledElements().map((e) => e.viewport)
      .find((v) => v && typeof v.getCurrentImageId === 'function' && v.getCurrentImageId());
    if (!vp || !vp.canvas || vp.canvas.width === 0) return false;
    const c = new OffscreenCanvas(16, 16).getContext('2d', { willReadFrequently: true });
    c.drawImage(vp.canvas, 0, 0, 16, 16);
    const px = c.getImageData(0, 0, 16, 16).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 24) lit++;
    return lit > 25;
  };
  const tick = () => {
    const now = performance.now();
    if (shown()) {
      const asked = performance.getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname.startsWith('/dicomweb/'))
        .map((e) => e.startTime);
      resolve({ at: now, firstDicomweb: asked.length ? Math.min(...asked) : now });
    } else if (now > 60000) resolve({ at: -1, firstDicomweb: -1 });
    else requestAnimationFrame(tick);
  };
  tick();
})`;

interface FirstImage {
  /** Navigation start to a non-blank viewport. */
  totalMs: number;
  /** The page's first DICOMweb request to a non-blank viewport. */
  fromFirstDicomwebMs: number;
}

/** Opens the study in the viewer and waits for its first image, or says why the viewer is not served. */
async function openStudy(page: Page, url: string): Promise<FirstImage | { skipped: string }> {
  const res = await page.goto(url, { waitUntil: 'commit' });
  if (res?.status() !== 200) {
    const text = (await res?.text().catch(() => '')) ?? '';
    const reason = /<p>([^<]+)<\/p>/.exec(text)?.[1] ?? text.slice(0, 200);
    return { skipped: `the viewer page answered ${res?.status()}: ${reason}` };
  }
  await page.waitForLoadState('domcontentloaded');
  const r = (await page.evaluate(FIRST_IMAGE_JS)) as { at: number; firstDicomweb: number };
  if (r.at < 0) throw new Error('the viewer showed no image within a minute');
  return { totalMs: round(r.at), fromFirstDicomwebMs: round(r.at - r.firstDicomweb) };
}

/**
 * Time to first image. Each round signs in in a fresh browser context and opens the study twice:
 * `cold`, the browser's cache empty (the viewer's 3 MB of scripts fetched and compiled), then `warm`,
 * the same page opened again as a reader does for the next study (scripts from the cache).
 */
async function firstImages(
  cloud: Cloud,
  studyUid: string,
): Promise<{ cold: FirstImage; warm: FirstImage }[] | { skipped: string }> {
  const url = `${cloud.cp.url}/viewer/viewer?StudyInstanceUIDs=${studyUid}`;
  const browser = await launchBrowser();
  const rounds: { cold: FirstImage; warm: FirstImage }[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const { context, page } = await newPage(browser);
      try {
        await signIn(page, cloud.cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
        const cold = await openStudy(page, url);
        if ('skipped' in cold) return cold;
        await page.goto('about:blank');
        const warm = await openStudy(page, url);
        if ('skipped' in warm) return warm;
        rounds.push({ cold, warm });
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  return rounds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? 0) : round(((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2);
}

function ratio(peer: Timing | undefined, ours: Timing): number | null {
  return peer && ours.p50Ms > 0 ? round(peer.p50Ms / ours.p50Ms) : null;
}

function line(what: string, t: Timing, target?: number): string {
  const verdict =
    target === undefined
      ? ''
      : t.p50Ms < target
        ? ` (target p50 < ${target} ms: met)`
        : ` (target p50 < ${target} ms: NOT met)`;
  return `${what.padEnd(44)} p50 ${String(t.p50Ms).padStart(8)} ms  p99 ${String(t.p99Ms).padStart(8)} ms  ${String(t.count).padStart(4)} requests, ${Math.round(t.bytes / 1024)} KiB each${verdict}`;
}

async function main(): Promise<void> {
  if (!process.env.FERRY_BENCH_NO_BUILD)
    execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
  requireTool('storescu');
  const work = await scratch('bench-viewer');
  const dir = await ctCorpus();
  const files = await corpusFiles(dir);
  const [studyUid] = await dicomStrings(files[0] ?? '', ['StudyInstanceUID']);
  if (!studyUid) throw new Error(`${dir}: no Study Instance UID`);

  const withOrthanc = orthancInstalled();
  if (!withOrthanc)
    console.log('Orthanc is not installed (apt-get install orthanc): measuring Ferry alone, no ratios.');
  const cloud = await startCloud({
    name: 'bench-viewer',
    blobs: 'fs',
    database: 'pglite',
    stablePeriodSeconds: 1,
  });
  const orthanc: Orthanc | undefined = withOrthanc ? await startOrthanc(join(work, 'orthanc')) : undefined;
  try {
    const [sendSeconds, orthancStoreSeconds] = await Promise.all([
      sendThroughAgent(cloud, dir, studyUid, files.length),
      (async () => {
        if (!orthanc) return undefined;
        const t0 = performance.now();
        for (const f of files) await orthanc.store(f);
        return (performance.now() - t0) / 1000;
      })(),
    ]);
    console.log(
      `CT ${files.length} x 512x512: storescu -> agent -> control plane, all stored in ${round(sendSeconds, 1)} s` +
        (orthancStoreSeconds === undefined
          ? ''
          : `; POSTed to Orthanc ${orthanc?.version} in ${round(orthancStoreSeconds, 1)} s`),
    );
    const instances = await listInstances(cloud, studyUid);
    if (instances.length !== files.length)
      throw new Error(`QIDO lists ${instances.length} of ${files.length} instances`);
    const ids = orthanc ? await orthanc.instanceIds() : new Map<string, string>();
    const peerId = (i: Instance) => {
      const id = ids.get(i.sopUid);
      if (!id) throw new Error(`Orthanc does not hold ${i.sopUid}`);
      return id;
    };
    const instanceUrl = (i: Instance) =>
      `${cloud.cp.url}/dicomweb/studies/${studyUid}/series/${i.seriesUid}/instances/${i.sopUid}`;
    const auth = () => ({ authorization: `Bearer ${cloud.session}` });

    const frame = async (i: Instance) => {
      const r = await timedGet(`${instanceUrl(i)}/frames/1`, { ...auth(), accept: OHIF_FRAME_ACCEPT });
      if (r.bytes < FRAME_BYTES) throw new Error(`a frame of ${r.bytes} bytes: not the 512x512x16-bit frame`);
      return r;
    };
    const framePeers: Record<string, (i: Instance) => Promise<{ ms: number; bytes: number }>> = orthanc
      ? {
          'frames/0/image-uint16': (i) =>
            timedGet(`${orthanc.url}/instances/${peerId(i)}/frames/0/image-uint16`, { accept: 'image/png' }),
          'frames/0/raw': (i) => timedGet(`${orthanc.url}/instances/${peerId(i)}/frames/0/raw`, {}),
        }
      : {};
    const warm = instances.slice(0, WARMUP);
    await sideBySide(warm, frame, framePeers);
    const frames = await sideBySide(instances.slice(WARMUP, WARMUP + FRAMES), frame, framePeers);

    const thumbnail = (i: Instance) =>
      timedGet(`${instanceUrl(i)}/thumbnail`, { ...auth(), accept: 'image/jpeg' });
    const thumbnailPeers: Record<string, (i: Instance) => Promise<{ ms: number; bytes: number }>> = orthanc
      ? {
          preview: (i) => timedGet(`${orthanc.url}/instances/${peerId(i)}/preview`, { accept: 'image/jpeg' }),
          [`rendered ${THUMBNAIL_SIZE}px q${THUMBNAIL_QUALITY}`]: (i) =>
            timedGet(
              `${orthanc.url}/instances/${peerId(i)}/rendered?width=${THUMBNAIL_SIZE}&height=${THUMBNAIL_SIZE}&quality=${THUMBNAIL_QUALITY}`,
              { accept: 'image/jpeg' },
            ),
        }
      : {};
    await sideBySide(warm.slice(0, 5), thumbnail, thumbnailPeers);
    const thumbnails = await sideBySide(
      instances.slice(WARMUP, WARMUP + THUMBNAILS),
      thumbnail,
      thumbnailPeers,
    );

    const rounds = await firstImages(cloud, studyUid);
    const firstImage = Array.isArray(rounds)
      ? {
          rounds,
          coldMedianMs: median(rounds.map((r) => r.cold.totalMs)),
          coldFromFirstDicomwebMedianMs: median(rounds.map((r) => r.cold.fromFirstDicomwebMs)),
          warmMedianMs: median(rounds.map((r) => r.warm.totalMs)),
          warmFromFirstDicomwebMedianMs: median(rounds.map((r) => r.warm.fromFirstDicomwebMs)),
        }
      : rounds;

    console.log('');
    console.log(line('Ferry /frames (one frame, as OHIF asks)', frames.ours, TARGETS.frameP50Ms));
    for (const [name, t] of Object.entries(frames.peers))
      console.log(`${line(`Orthanc ${name}`, t)}  Orthanc/Ferry p50 ${ratio(t, frames.ours)}`);
    console.log(line('Ferry /thumbnail (image/jpeg)', thumbnails.ours, TARGETS.thumbnailP50Ms));
    for (const [name, t] of Object.entries(thumbnails.peers))
      console.log(
        `${line(`Orthanc ${name} (image/jpeg)`, t)}  Orthanc/Ferry p50 ${ratio(t, thumbnails.ours)}`,
      );
    if ('skipped' in firstImage) console.log(`time to first image: skipped, ${firstImage.skipped}`);
    else {
      const met = (ms: number) => (ms < TARGETS.firstImageMs ? 'met' : 'NOT met');
      const each = (k: 'cold' | 'warm') =>
        firstImage.rounds.map((r) => `${r[k].totalMs} (${r[k].fromFirstDicomwebMs})`).join(' / ');
      console.log(
        `time to first image in OHIF, ms from navigation (from the first DICOMweb request), median of ${firstImage.rounds.length}; target < ${TARGETS.firstImageMs} ms:`,
      );
      console.log(
        `  browser cache empty: ${each('cold')} -> median ${firstImage.coldMedianMs} (${firstImage.coldFromFirstDicomwebMedianMs}): ${met(firstImage.coldMedianMs)}`,
      );
      console.log(
        `  viewer cached:       ${each('warm')} -> median ${firstImage.warmMedianMs} (${firstImage.warmFromFirstDicomwebMedianMs}): ${met(firstImage.warmMedianMs)}`,
      );
    }
    console.log(
      'Ratios are Orthanc p50 / Ferry p50: above 1, Ferry answers faster. Loopback, 2 shared cores.',
    );

    const doc = {
      bench: 'viewer',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      corpus: { name: 'ct-300', instances: files.length, rows: 512, columns: 512, bitsAllocated: 16 },
      setup: { blobs: 'fs', database: 'pglite', frameAccept: OHIF_FRAME_ACCEPT, warmupInstances: WARMUP },
      sendSeconds: round(sendSeconds, 2),
      peer: orthanc
        ? { name: 'Orthanc', version: orthanc.version, storeSeconds: round(orthancStoreSeconds ?? 0, 2) }
        : null,
      targets: TARGETS,
      frames: {
        ferry: frames.ours,
        orthanc: frames.peers,
        ratioImageUint16: ratio(frames.peers['frames/0/image-uint16'], frames.ours),
        ratioRaw: ratio(frames.peers['frames/0/raw'], frames.ours),
      },
      thumbnails: {
        ferry: thumbnails.ours,
        orthanc: thumbnails.peers,
        ratioPreview: ratio(thumbnails.peers.preview, thumbnails.ours),
        ratioRendered: ratio(
          thumbnails.peers[`rendered ${THUMBNAIL_SIZE}px q${THUMBNAIL_QUALITY}`],
          thumbnails.ours,
        ),
      },
      firstImage,
    };
    const out = join(repoRoot, 'bench', 'results');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'viewer-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
    console.log('results written to bench/results/viewer-latest.json');
  } finally {
    await orthanc?.stop();
    await cloud.close();
    await rm(work, { recursive: true, force: true });
    await rm(cloud.root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

// What the soak's senders send, and what the cloud must end up holding for each instance.
//
// - CT and MR slices from the generated corpora, rewritten per "generation" with fresh UIDs (same
//   length, so only bytes change and nothing is re-encoded), so later rounds are new uploads and not
//   only identical resends the agent answers from its index.
// - The sendable pydicom samples, each with its storescu options. Their wire bytes can differ from
//   the file (storescu converts some transfer syntaxes), so what must arrive is what a reference
//   DCMTK storescp (+B) receives from the same send. Samples that share a SOP Instance UID with
//   another sample are left out: they would be new versions of one instance, not "exactly once".
// - The big multi-frame instance, resent identical (fresh 1 GiB copies would not fit the test S3's
//   memory store).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { mapLimit } from '@ferry/shared';
import { corpusFiles, pydicomSamples } from '../harness/corpus.js';
import { freePort, startStorescp, storescu, topLevelStrings } from '../harness/dcmtk.js';
import { datasetHash, readMeta, sha256 } from '../harness/part10.js';
import { listFiles } from '../harness/spool.js';

export type InstanceKind = 'ct' | 'mr' | 'sample' | 'big';

/** One instance as the cloud must hold it. */
export interface Expected {
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** SHA-256 of the dataset as it travels (after the File Meta Information). */
  datasetSha256: string;
  datasetBytes: number;
  kind: InstanceKind;
}

/** Files for one storescu association, with the options they need. */
export interface Batch {
  files: string[];
  extraArgs: string[];
  /** What each file must arrive as, by its path. */
  expected: Map<string, Expected>;
  bytes: number;
}

const UID_TAGS = { study: '0020,000d', series: '0020,000e', sop: '0008,0018' } as const;

async function uidsOf(file: string): Promise<{ study: string; series: string; sop: string }> {
  const v = await topLevelStrings(file, Object.values(UID_TAGS));
  const out = {
    study: v[UID_TAGS.study] ?? '',
    series: v[UID_TAGS.series] ?? '',
    sop: v[UID_TAGS.sop] ?? '',
  };
  if (!out.study || !out.series || !out.sop) throw new Error(`${file}: missing study/series/SOP UID`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Slices with fresh UIDs

/** The generated corpora's UIDs (pydicom's root and 38-39 digits of entropy). */
const CORPUS_UID = /1\.2\.826\.0\.1\.3680043\.8\.498\.\d{12,}/g;
const KEEP_SUFFIX = 10;

/** The same UID with its last ten digits derived from `tag`: same length, still a valid UID. */
export function freshUid(uid: string, tag: string): string {
  const n = BigInt(`0x${sha256(Buffer.from(`${uid}|${tag}`)).slice(0, 15)}`) % 10n ** BigInt(KEEP_SUFFIX);
  return uid.slice(0, -KEEP_SUFFIX) + n.toString().padStart(KEEP_SUFFIX, '0');
}

/** Pixel Data (7FE0,0010) in little endian: UIDs are only rewritten before it. */
const PIXEL_DATA_TAG = Buffer.from([0xe0, 0x7f, 0x10, 0x00]);

export interface SliceSource {
  file: string;
  kind: 'ct' | 'mr';
  uids: { study: string; series: string; sop: string };
}

export async function sliceSources(files: string[], kind: 'ct' | 'mr'): Promise<SliceSource[]> {
  return mapLimit(files, 4, async (file) => ({ file, kind, uids: await uidsOf(file) }));
}

/** Picks `count` consecutive files of a corpus directory starting at `from`. */
export async function corpusSlice(dir: string, from: number, count: number): Promise<string[]> {
  const all = await corpusFiles(dir);
  if (from + count > all.length) throw new Error(`${dir} has ${all.length} files, need ${from + count}`);
  return all.slice(from, from + count);
}

/** Writes `sources` with every corpus UID made fresh for `tag` into `dir`; one batch for one association. */
export async function freshGeneration(sources: SliceSource[], tag: string, dir: string): Promise<Batch> {
  await mkdir(dir, { recursive: true });
  const expected = new Map<string, Expected>();
  let bytes = 0;
  for (const s of sources) {
    const buf = await readFile(s.file);
    const pixels = buf.indexOf(PIXEL_DATA_TAG, 132);
    const headEnd = pixels < 0 ? buf.length : pixels;
    const head = buf.toString('latin1', 0, headEnd).replace(CORPUS_UID, (u) => freshUid(u, tag));
    buf.write(head, 0, 'latin1');
    const out = join(dir, basename(s.file));
    await writeFile(out, buf);
    const meta = await readMeta(out);
    const sop = freshUid(s.uids.sop, tag);
    if (meta?.values.get('00020003') !== sop) throw new Error(`${out}: rewritten meta does not carry ${sop}`);
    const dataset = buf.subarray(meta.datasetOffset);
    expected.set(out, {
      sopInstanceUid: sop,
      studyInstanceUid: freshUid(s.uids.study, tag),
      seriesInstanceUid: freshUid(s.uids.series, tag),
      datasetSha256: sha256(dataset),
      datasetBytes: dataset.length,
      kind: s.kind,
    });
    bytes += buf.length;
  }
  return { files: [...expected.keys()], extraArgs: [], expected, bytes };
}

// ---------------------------------------------------------------------------------------------
// pydicom samples

/**
 * The sendable pydicom samples with a SOP Instance UID of their own, grouped by storescu options,
 * with what a reference storescp (+B) received from each. Samples the reference did not take are
 * left out (they are the receive tests' business, not the soak's).
 */
export async function sampleBatches(workDir: string): Promise<Batch[]> {
  const samples = pydicomSamples();
  const sops = await mapLimit(samples, 4, async (s) =>
    topLevelStrings(s.file, [UID_TAGS.sop])
      .then((v) => v[UID_TAGS.sop] ?? '')
      .catch(() => ''),
  );
  const seen = new Map<string, number>();
  for (const sop of sops) if (sop) seen.set(sop, (seen.get(sop) ?? 0) + 1);
  const groups = new Map<string, { files: string[]; extraArgs: string[] }>();
  for (const [i, s] of samples.entries()) {
    const sop = sops[i] ?? '';
    if (!sop || seen.get(sop) !== 1) continue;
    const key = s.options.join(' ');
    const g = groups.get(key) ?? { files: [], extraArgs: s.options };
    g.files.push(s.file);
    groups.set(key, g);
  }
  const sopOf = new Map(samples.map((s, i) => [s.file, sops[i] ?? '']));
  const batches: Batch[] = [];
  for (const [n, g] of [...groups.values()].entries()) {
    const refDir = join(workDir, 'samples-ref', String(n));
    await mkdir(refDir, { recursive: true });
    const scp = await startStorescp({ port: await freePort(), outDir: refDir });
    try {
      await storescu({
        port: scp.port,
        calledAe: 'REF',
        files: g.files,
        extraArgs: g.extraArgs,
        noHalt: true,
        timeoutMs: 120_000,
      });
    } finally {
      await scp.stop();
    }
    const received = new Map<string, { file: string; uids: Awaited<ReturnType<typeof uidsOf>> }>();
    for (const f of await listFiles(refDir)) {
      const uids = await uidsOf(f).catch(() => undefined);
      if (uids) received.set(uids.sop, { file: f, uids });
    }
    const expected = new Map<string, Expected>();
    let bytes = 0;
    for (const file of g.files) {
      const ref = received.get(sopOf.get(file) ?? '');
      if (!ref) continue;
      const h = await datasetHash(ref.file);
      expected.set(file, {
        sopInstanceUid: ref.uids.sop,
        studyInstanceUid: ref.uids.study,
        seriesInstanceUid: ref.uids.series,
        datasetSha256: h.sha256,
        datasetBytes: h.bytes,
        kind: 'sample',
      });
      bytes += h.bytes;
    }
    if (expected.size > 0)
      batches.push({ files: [...expected.keys()], extraArgs: g.extraArgs, expected, bytes });
  }
  return batches;
}

// ---------------------------------------------------------------------------------------------
// The big one

export async function bigBatch(file: string): Promise<Batch> {
  const [uids, h] = await Promise.all([uidsOf(file), datasetHash(file)]);
  const expected = new Map<string, Expected>([
    [
      file,
      {
        sopInstanceUid: uids.sop,
        studyInstanceUid: uids.study,
        seriesInstanceUid: uids.series,
        datasetSha256: h.sha256,
        datasetBytes: h.bytes,
        kind: 'big',
      },
    ],
  ]);
  return { files: [file], extraArgs: [], expected, bytes: h.bytes };
}

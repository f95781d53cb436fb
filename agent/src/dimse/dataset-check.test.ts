import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TS } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { pydicomSamplesDir, unsendableSamplesDir } from '../../../test/harness/corpus.js';
import { type Rng, seededRandom } from '../../../test/harness/seeded-random.js';
import { datasetCheckFor } from './dataset-check-syntax.js';

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data';
const CORPUS_DIRS = [
  pydicomSamplesDir,
  unsendableSamplesDir,
  join(PYDICOM, 'test_files'),
  join(PYDICOM, 'charset_files'),
];

/**
 * Files refused, each decided from the file itself (DCMTK's dcmdump +E and pydicom 2.3.1 on it):
 * everything else in those folders is accepted.
 */
const REFUSED: Record<string, RegExp> = {
  // dcmdump: PixelData larger (8192) than remaining bytes (8130); pydicom reads 8130 bytes silently.
  'MR_truncated.dcm': /^dataset ends inside Pixel Data: 8130 of 8192 bytes$/,
  // dcmdump: IsocenterPosition (300a,012c) larger (50) than remaining bytes (29), inside this item.
  'rtplan_truncated.dcm': /^dataset ends inside \(300A,00B0\): 711 of 976 bytes$/,
  // Starts one byte into an element: DCMTK and pydicom read one 173 MB element, 38,863 bytes there.
  'no_meta.dcm': /^dataset ends inside \(0820,0500\): 38863 of 173228800 bytes$/,
  // Its Directory Record Sequence says 10,696 bytes, its items take 10,720 (the last runs 24 past):
  // both tools read on past the length, but the two disagree, so the bytes contradict themselves.
  'DICOMDIR-nooffset': /^an item of \(0004,1220\) runs past its sequence$/,
};
/** Not DICOM files at all. */
const NOT_DICOM = /\.(txt|json|dump|gz|tsv|md)$|\/README$/;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : NOT_DICOM.test(p) ? [] : [p];
  });
}

/** The dataset part of a file and its transfer syntax (from the meta, else read off the first element). */
function datasetOf(buf: Buffer): { ts: string; dataset: Buffer } {
  let pos = 0;
  let ts = '';
  if (buf.length > 132 && buf.toString('latin1', 128, 132) === 'DICM') {
    pos = 132;
    while (pos + 8 <= buf.length && buf.readUInt16LE(pos) === 2) {
      const vr = buf.toString('latin1', pos + 4, pos + 6);
      const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
      const len = long ? buf.readUInt32LE(pos + 8) : buf.readUInt16LE(pos + 6);
      const head = long ? 12 : 8;
      if (buf.readUInt16LE(pos + 2) === 0x0010)
        ts = buf.toString('latin1', pos + head, pos + head + len).replace(/[\0 ]+$/, '');
      pos += head + len;
    }
  }
  const dataset = buf.subarray(pos);
  if (ts === '') {
    // As pydicom guesses: byte-swapped group 0008 is big endian, letters after the tag explicit VR.
    const explicit = /^[A-Z]{2}$/.test(dataset.toString('latin1', 4, 6));
    ts =
      dataset.readUInt16LE(0) === 0x0800
        ? TS.ExplicitVRBigEndian
        : explicit
          ? TS.ExplicitVRLittleEndian
          : TS.ImplicitVRLittleEndian;
  }
  return { ts, dataset };
}

/** Feeds `bytes` in slices of 1..maxSlice bytes and returns the verdict. */
async function check(ts: string, bytes: Buffer, rng: Rng = seededRandom(1), maxSlice = 4096) {
  const c = datasetCheckFor(ts);
  if (!c) throw new Error(`no check for ${ts}`);
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(rng() * maxSlice);
    c.write(bytes.subarray(at, at + n));
    at += n;
  }
  return c.finish();
}

describe('dataset structure check on real files', () => {
  const files = CORPUS_DIRS.flatMap(filesUnder).sort();

  it('finds the corpus (56 sendable pydicom samples, pydicom test and charset files)', () => {
    expect(filesUnder(CORPUS_DIRS[0]!).filter((f) => f.endsWith('.dcm'))).toHaveLength(56);
    expect(files.length).toBeGreaterThan(200);
  });

  it('accepts every valid file and refuses the damaged ones, in random slices', async () => {
    const rng = seededRandom(16);
    const verdicts: Record<string, string> = {};
    for (const file of files) {
      const { ts, dataset } = datasetOf(readFileSync(file));
      const v = await check(ts, dataset, rng, 1 + Math.floor(rng() * 70_000));
      if (v.problem) verdicts[file] = v.problem;
    }
    const refused = Object.entries(verdicts).map(([f, p]) => [basename(f), p] as const);
    for (const [name, problem] of refused) expect(problem, name).toMatch(REFUSED[name] ?? /^accepted$/);
    // Each refused name exists twice (test_files and the samples' unsendable/) except the DICOMDIR.
    expect(new Set(refused.map(([n]) => n))).toEqual(new Set(Object.keys(REFUSED)));
    expect(refused).toHaveLength(7);
  }, 60_000);

  it('reads a file fed one byte at a time as it reads it whole', async () => {
    for (const name of [
      'SC_rgb_rle_2frame.dcm',
      'image_dfl.dcm',
      'ExplVR_BigEnd.dcm',
      'nested_priv_SQ.dcm',
    ]) {
      const { ts, dataset } = datasetOf(readFileSync(join(PYDICOM, 'test_files', name)));
      expect((await check(ts, dataset, seededRandom(2), 1)).problem, name).toBeUndefined();
      const cut = dataset.subarray(0, dataset.length >> 1);
      expect((await check(ts, cut, seededRandom(2), 1)).problem, name).toMatch(/^dataset ends inside/);
    }
  });
});

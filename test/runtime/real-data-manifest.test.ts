// test/data/real holds real scanner images for the pixel codec's tests and benchmarks. Its manifest is
// what those read, so every claim in it is checked here: the bytes (SHA-256), the transfer syntax in
// the file meta, and the modality and pixel attributes as an independent reader (DCMTK's dcmdump)
// sees them. A file added without a manifest line, or a licence named but not kept, fails too.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDcmtk } from '../harness/dcmtk.js';
import { readMeta, sha256File } from '../harness/part10.js';
import {
  NATIVE_LITTLE_ENDIAN,
  type RealDataFile,
  realDataDir,
  realDataManifest,
} from '../harness/real-data.js';

const manifest = realDataManifest();

function dicomFilesOnDisk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return dicomFilesOnDisk(path);
    return e.name.endsWith('.dcm') ? [relative(realDataDir, path)] : [];
  });
}

/** Top-level values as dcmdump prints them: `(0028,0010) US 512` or `(0008,0060) CS [CT]`. */
async function dumpedValues(file: string): Promise<Map<string, string>> {
  const r = await runDcmtk('dcmdump', ['-q', '-M', file], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`dcmdump ${file} exited ${String(r.code)}: ${r.stderr}`);
  const values = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    // Unindented lines only: an icon image sequence nests its own Rows and Columns.
    const m = /^\(([0-9a-f]{4},[0-9a-f]{4})\) [A-Z]{2} (?:\[([^\]]*)\]|(\S+))/.exec(line);
    if (m?.[1] && !values.has(m[1])) values.set(m[1], m[2] ?? m[3] ?? '');
  }
  return values;
}

const FIELDS: Record<keyof RealDataFile, 'string' | 'number' | 'object'> = {
  path: 'string',
  sha256: 'string',
  bytes: 'number',
  series: 'string',
  modality: 'string',
  transferSyntaxUID: 'string',
  rows: 'number',
  columns: 'number',
  bitsAllocated: 'number',
  bitsStored: 'number',
  pixelRepresentation: 'number',
  frames: 'number',
  photometricInterpretation: 'string',
  source: 'object',
  licence: 'string',
  derivedBy: 'string',
};

describe('real DICOM data manifest', () => {
  it('has every field of every entry, with its type', () => {
    expect(manifest.files.length).toBeGreaterThan(0);
    for (const f of manifest.files) {
      for (const [key, type] of Object.entries(FIELDS)) {
        if (key === 'derivedBy' && f.derivedBy === undefined) continue;
        expect(typeof f[key as keyof RealDataFile], `${f.path}: ${key}`).toBe(type);
      }
      expect(['npm', 'debian']).toContain(f.source.registry);
      expect(f.source.sha256).toMatch(/^[0-9a-f]{64}$/);
      // A file is the packaged one, byte for byte, unless the manifest says how it was transcoded.
      if (f.derivedBy === undefined) expect(f.source.sha256, f.path).toBe(f.sha256);
      else expect(f.source.sha256, f.path).not.toBe(f.sha256);
      expect(f.path.startsWith(`${f.series}/`), f.path).toBe(true);
    }
  });

  it('lists exactly the DICOM files on disk, once each', () => {
    const listed = manifest.files.map((f) => f.path);
    expect(new Set(listed).size).toBe(listed.length);
    expect(dicomFilesOnDisk(realDataDir).sort()).toEqual([...listed].sort());
  });

  it('matches each file: SHA-256, size and transfer syntax', async () => {
    for (const f of manifest.files) {
      const file = join(realDataDir, f.path);
      const { sha256, bytes } = await sha256File(file);
      expect({ path: f.path, sha256, bytes }).toEqual({ path: f.path, sha256: f.sha256, bytes: f.bytes });
      expect((await readMeta(file))?.values.get('00020010'), f.path).toBe(f.transferSyntaxUID);
    }
  });

  it("states each file's modality and pixel attributes as dcmdump reads them", async () => {
    for (const f of manifest.files) {
      const v = await dumpedValues(join(realDataDir, f.path));
      const dumped = {
        path: f.path,
        modality: v.get('0008,0060'),
        rows: Number(v.get('0028,0010')),
        columns: Number(v.get('0028,0011')),
        bitsAllocated: Number(v.get('0028,0100')),
        bitsStored: Number(v.get('0028,0101')),
        pixelRepresentation: Number(v.get('0028,0103')),
        frames: Number(v.get('0028,0008') ?? '1'),
        photometricInterpretation: v.get('0028,0004'),
      };
      expect(dumped).toEqual({
        path: f.path,
        modality: f.modality,
        rows: f.rows,
        columns: f.columns,
        bitsAllocated: f.bitsAllocated,
        bitsStored: f.bitsStored,
        pixelRepresentation: f.pixelRepresentation,
        frames: f.frames,
        photometricInterpretation: f.photometricInterpretation,
      });
    }
  });

  it('keeps the licence text of every source it names', () => {
    for (const f of manifest.files) expect(manifest.licences[f.licence], f.path).toBeDefined();
    for (const [name, licence] of Object.entries(manifest.licences)) {
      expect(licence.files.length, name).toBeGreaterThan(0);
      for (const file of licence.files) expect(existsSync(join(realDataDir, file)), file).toBe(true);
    }
  });

  it('has native 16-bit CT and MR, and an MR series of several slices', () => {
    const native16 = manifest.files.filter(
      (f) => NATIVE_LITTLE_ENDIAN.has(f.transferSyntaxUID) && f.bitsAllocated === 16,
    );
    expect(native16.filter((f) => f.modality === 'CT').length).toBeGreaterThanOrEqual(1);
    expect(native16.filter((f) => f.modality === 'MR').length).toBeGreaterThanOrEqual(1);
    const slicesPerMrSeries = new Map<string, number>();
    for (const f of native16.filter((f) => f.modality === 'MR'))
      slicesPerMrSeries.set(f.series, (slicesPerMrSeries.get(f.series) ?? 0) + 1);
    expect(Math.max(...slicesPerMrSeries.values())).toBeGreaterThanOrEqual(5);
  });
});

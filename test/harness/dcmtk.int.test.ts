// Proves the DCMTK harness itself against DCMTK's own storescp, before any Ferry code is involved.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pydicomSamples, unsendableSamplesDir, workDir } from './corpus.js';
import {
  datasetAfterMeta,
  echoscu,
  freePort,
  parseStorescuOutput,
  requireTool,
  type Storescp,
  startStorescp,
  storescu,
} from './dcmtk.js';

async function withStorescp<T>(fn: (scp: Storescp) => Promise<T>, extraArgs: string[] = []): Promise<T> {
  await mkdir(workDir, { recursive: true });
  const outDir = await mkdtemp(join(workDir, 'harness-scp-'));
  const scp = await startStorescp({ port: await freePort(), outDir, extraArgs });
  try {
    return await fn(scp);
  } finally {
    await scp.stop();
    await rm(outDir, { recursive: true, force: true });
  }
}

function sample(name: string) {
  const found = pydicomSamples().find((s) => basename(s.file) === name);
  if (!found) throw new Error(`no pydicom sample ${name}`);
  return found;
}

describe('DCMTK harness', () => {
  it('finds the DCMTK tools and fails loudly when one is missing', () => {
    for (const tool of ['storescu', 'echoscu', 'storescp', 'dcmdump']) {
      expect(requireTool(tool)).toMatch(new RegExp(`/${tool}$`));
    }
    expect(() => requireTool('no-such-dcmtk-tool')).toThrow(/apt-get install -y dcmtk/);
  });

  it('reads all 56 pydicom samples with their storescu options', () => {
    const samples = pydicomSamples();
    expect(samples).toHaveLength(56);
    expect(sample('CT_small.dcm').options).toEqual([]);
    expect(sample('MR_small_RLE.dcm').options).toEqual(['-R', '-xr']);
  });

  it('sends pydicom samples to the reference storescp, dataset bytes preserved', async () => {
    await withStorescp(async (scp) => {
      const names = ['SC_rgb_small_odd.dcm', 'MR_small_RLE.dcm', 'CT_small.dcm'];
      const received = new Map<string, string>();
      for (const name of names) {
        const { file, options } = sample(name);
        const before = new Set(await readdir(scp.outDir));
        const r = await storescu({
          port: scp.port,
          calledAe: 'REF',
          files: [file],
          extraArgs: options,
          timeoutMs: 30_000,
        });
        expect(r.code, `${name}: ${r.stderr}\n${scp.output()}`).toBe(0);
        const added = (await readdir(scp.outDir)).filter((f) => !before.has(f));
        expect(added, name).toHaveLength(1);
        received.set(name, join(scp.outDir, added[0] ?? ''));
      }
      expect(await readdir(scp.outDir)).toHaveLength(3);

      const pair = async (name: string) => ({
        src: await datasetAfterMeta(sample(name).file),
        got: await datasetAfterMeta(received.get(name) ?? ''),
      });
      // Explicit VR little endian, travels unchanged: dataset byte-identical to the source file.
      const odd = await pair('SC_rgb_small_odd.dcm');
      expect(odd.got.length).toBe(odd.src.length);
      expect(odd.got.equals(odd.src)).toBe(true);
      // storescu re-encodes what it reads and drops the trailing (FFFC,FFFC) Data Set Trailing
      // Padding that both of these pydicom files carry. That is why the reference for byte
      // comparisons is storescp's copy from the same send, not the source file.
      for (const name of ['MR_small_RLE.dcm', 'CT_small.dcm']) {
        const { src, got } = await pair(name);
        expect(got.length, name).toBeLessThan(src.length);
        expect(src.subarray(0, got.length).equals(got), name).toBe(true);
        expect(src.readUInt32LE(got.length), name).toBe(0xfffcfffc);
      }
      // -R -xr proposes only RLE, so the RLE sample stays encapsulated on the wire.
      const rleFile = await readFile(received.get('MR_small_RLE.dcm') ?? '');
      const rleMeta = rleFile.subarray(0, rleFile.length - (await pair('MR_small_RLE.dcm')).got.length);
      expect(rleMeta.includes('1.2.840.10008.1.2.5\0', 0, 'latin1')).toBe(true);
    });
  });

  it('reports per-instance store failures from storescu -v output', async () => {
    await withStorescp(async (scp) => {
      const r = await storescu({
        port: scp.port,
        calledAe: 'REF',
        files: [sample('MR_small.dcm').file, join(unsendableSamplesDir, 'priv_SQ.dcm')],
        verbose: true,
        noHalt: true,
        timeoutMs: 30_000,
      });
      // -nh: storescu exits 0 although one file could not be sent.
      expect(r.code).toBe(0);
      const summary = parseStorescuOutput(r.stderr);
      expect(summary.outcomes.map((o) => [basename(o.file), o.status])).toEqual([
        ['MR_small.dcm', 'Success'],
        ['priv_SQ.dcm', null],
      ]);
      expect(summary).toMatchObject({ succeeded: 1, warnings: 0, failed: 1 });
      expect(summary.outcomes[1]?.errors.join('\n')).toMatch(/No SOP Class or Instance UID/);

      // Without -nh the first failure ends the run with a non-zero exit code.
      const halted = await storescu({
        port: scp.port,
        calledAe: 'REF',
        files: [join(unsendableSamplesDir, 'priv_SQ.dcm'), sample('CT_small.dcm').file],
        timeoutMs: 30_000,
      });
      expect(halted.code).not.toBe(0);
    });
  });

  it('parses refused stores', () => {
    const log = [
      'I: Sending file: a.dcm',
      'I: Sending Store Request (MsgID 1, CT)',
      'I: Received Store Response (Refused: OutOfResources)',
      'I: Sending file: b.dcm',
      'I: Received Store Response (Warning: CoersionOfDataElements)',
      'I: Sending file: c.dcm',
      'I: Received Store Response (Success)',
    ].join('\n');
    expect(parseStorescuOutput(log)).toMatchObject({ succeeded: 1, warnings: 1, failed: 1 });
  });

  it('sends a directory recursively with +sd +r', async () => {
    await withStorescp(async (scp) => {
      const r = await storescu({
        port: scp.port,
        calledAe: 'REF',
        files: [],
        scanDir: unsendableSamplesDir.replace(/unsendable$/, 'pydicom'),
        scanPattern: 'rtdose*.dcm',
        verbose: true,
        timeoutMs: 30_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(parseStorescuOutput(r.stderr)).toMatchObject({ succeeded: 4, failed: 0 });
    });
  });

  it('echoes', async () => {
    await withStorescp(async (scp) => {
      const r = await echoscu({ port: scp.port, calledAe: 'REF', timeoutMs: 10_000 });
      expect(r.code, r.stderr).toBe(0);
    });
  });

  it('finds the dataset when the meta header has no group length', async () => {
    const ds = await datasetAfterMeta(join(unsendableSamplesDir, 'no_meta_group_length.dcm'));
    // First dataset element: (0008,0008) ImageType, implicit VR little endian.
    expect(ds.subarray(0, 4)).toEqual(Buffer.from([0x08, 0x00, 0x08, 0x00]));
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isFerryError } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DICOM_SAMPLES_DIR } from '../../../testkit/control-plane/seal-object.js';
import { transcodeInstance } from './transcode.js';
import { canTranscodeLosslessly, isLossySyntax } from './transcode-syntaxes.js';

const run = promisify(execFile);
const ELE = '1.2.840.10008.1.2.1';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const COMPARE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../testkit/control-plane/compare_transcoded.py',
);
const LIMIT = { maxBytes: 256 * 1024 * 1024 };

interface Case {
  original: string;
  transcoded: string;
  reference?: string;
  photometric?: string;
  pixels?: boolean;
}

/** The stored syntax, from the meta header (what the control plane records at upload). */
function syntaxOf(file: Buffer): string | undefined {
  if (file.toString('latin1', 128, 132) !== 'DICM') return undefined;
  const at = file.indexOf(Buffer.from([0x02, 0x00, 0x10, 0x00]), 132);
  return file.toString('latin1', at + 8, at + 8 + file.readUInt16LE(at + 6)).replace(/\0+$/, '');
}

async function pydicomProblems(cases: Case[]): Promise<string[]> {
  const { stdout } = await run('/usr/bin/python3', [COMPARE, JSON.stringify(cases)], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as string[];
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('transcodeInstance (to Explicit VR Little Endian)', () => {
  let dir: string;
  const path = (name: string) => join(DICOM_SAMPLES_DIR, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-transcode-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function transcodeToFile(source: string, name: string, target = ELE): Promise<string> {
    const out = join(dir, name);
    await writeFile(out, await transcodeInstance(await readFile(source), target, LIMIT));
    return out;
  }

  /** A native reference decoded by DCMTK, independent of the WebAssembly codecs. */
  async function dcmtkDecoded(name: string, ts: string): Promise<string | undefined> {
    const tool =
      ts === '1.2.840.10008.1.2.4.80'
        ? 'dcmdjpls'
        : ts.startsWith('1.2.840.10008.1.2.4.7')
          ? 'dcmdjpeg'
          : undefined;
    if (!tool) return undefined;
    const out = join(dir, `ref-${name}`);
    await run(tool, [path(name), out]);
    return out;
  }

  it('carries every element of every lossless corpus file over and decodes its pixels exactly', async () => {
    const cases: Case[] = [];
    const lossy: string[] = [];
    for (const name of (await readdir(DICOM_SAMPLES_DIR)).filter((n) => n.endsWith('.dcm')).sort()) {
      const bytes = await readFile(path(name));
      const ts = syntaxOf(bytes);
      // Stored ELE is always answered as stored, never through here.
      if (ts === undefined || ts === ELE) continue;
      if (isLossySyntax(ts)) {
        lossy.push(name);
        const err = await failure(transcodeInstance(bytes, ELE, LIMIT));
        expect(isFerryError(err, 'dicomweb.cannot_transcode'), name).toBe(true);
        continue;
      }
      expect(canTranscodeLosslessly(ts), `${name} ${ts}`).toBe(true);
      const c: Case = { original: path(name), transcoded: await transcodeToFile(path(name), name) };
      // Independent references for the codecs pydicom cannot decode here: the native twin, or DCMTK.
      if (name.startsWith('MR_small_j')) c.reference = path('MR_small.dcm');
      else {
        const ref = await dcmtkDecoded(name, ts);
        if (ref) c.reference = ref;
        else if (ts.startsWith('1.2.840.10008.1.2.4.9')) c.pixels = false;
      }
      if (name === 'GDCMJ2K_TextGBR.dcm') c.photometric = 'RGB';
      cases.push(c);
    }
    expect(cases.length).toBe(24);
    expect(lossy.length).toBeGreaterThan(10);
    expect(await pydicomProblems(cases)).toEqual([]);
  });

  it('decodes JPEG-LS lossless MR_small to exactly the Pixel Data of MR_small.dcm', async () => {
    const out = await transcodeInstance(await readFile(path('MR_small_jpeg_ls_lossless.dcm')), ELE, LIMIT);
    const native = await readFile(path('MR_small.dcm'));
    const pixelValue = (b: Buffer) => {
      const at = b.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]));
      return b.subarray(at + 12, at + 12 + b.readUInt32LE(at + 8));
    };
    expect(pixelValue(out).length).toBe(64 * 64 * 2);
    expect(pixelValue(out).equals(pixelValue(native))).toBe(true);
  });

  it('decodes syntaxes the corpus lacks: HTJ2K lossless (4.201) and JPEG lossless process 14 (4.57)', async () => {
    const codecs = createRequire(import.meta.url)('dcmjs-codecs') as {
      NativeCodecs: { initializeAsync(): Promise<void> };
      Transcoder: new (b: ArrayBuffer) => { transcode(ts: string): void; getDicomPart10(): ArrayBuffer };
    };
    await codecs.NativeCodecs.initializeAsync();
    const source = await readFile(path('MR_small.dcm'));
    const t = new codecs.Transcoder(
      source.buffer.slice(source.byteOffset, source.byteOffset + source.length),
    );
    t.transcode('1.2.840.10008.1.2.4.201');
    const htj2k = join(dir, 'htj2k.dcm');
    await writeFile(htj2k, Buffer.from(t.getDicomPart10()));
    expect(syntaxOf(await readFile(htj2k))).toBe('1.2.840.10008.1.2.4.201');
    const jpeg57 = join(dir, 'jpeg57.dcm');
    await run('dcmcjpeg', ['+el', path('MR_small.dcm'), jpeg57]);
    expect(syntaxOf(await readFile(jpeg57))).toBe('1.2.840.10008.1.2.4.57');
    const cases: Case[] = [];
    for (const f of [htj2k, jpeg57]) {
      cases.push({
        original: f,
        transcoded: await transcodeToFile(f, `out-${f.split('/').pop()}`),
        reference: path('MR_small.dcm'),
      });
    }
    expect(await pydicomProblems(cases)).toEqual([]);
  });

  it('writes deflated ELE on request, and refuses what it cannot do with a reason', async () => {
    const deflated = await transcodeToFile(path('MR_small_RLE.dcm'), 'deflated.dcm', DEFLATED);
    expect(syntaxOf(await readFile(deflated))).toBe(DEFLATED);
    const back = await transcodeToFile(deflated, 'inflated.dcm');
    expect(await pydicomProblems([{ original: path('MR_small.dcm'), transcoded: back }])).toEqual([]);

    const mr = await readFile(path('MR_small.dcm'));
    const tooBig = await failure(
      transcodeInstance(await readFile(path('MR_small_RLE.dcm')), ELE, { maxBytes: 4096 }),
    );
    expect(isFerryError(tooBig, 'dicomweb.cannot_transcode')).toBe(true);
    expect(String((tooBig as Error).message)).toContain('transfer-syntax=*');
    const inflateTooBig = await failure(
      transcodeInstance(await readFile(path('image_dfl.dcm')), ELE, { maxBytes: 4096 }),
    );
    expect(isFerryError(inflateTooBig, 'dicomweb.cannot_transcode')).toBe(true);
    expect(
      isFerryError(
        await failure(transcodeInstance(mr, '1.2.840.10008.1.2.4.80', LIMIT)),
        'request.not_acceptable',
      ),
    ).toBe(true);
    const noMeta = await failure(
      transcodeInstance(await readFile(path('ExplVR_LitEndNoMeta.dcm')), ELE, LIMIT),
    );
    expect(isFerryError(noMeta, 'dicomweb.cannot_decode')).toBe(true);
    const truncated = await failure(
      transcodeInstance(
        (await readFile(path('MR_small_jpeg_ls_lossless.dcm'))).subarray(0, 3000),
        ELE,
        LIMIT,
      ),
    );
    expect(isFerryError(truncated, 'dicomweb.cannot_decode')).toBe(true);
  });
});

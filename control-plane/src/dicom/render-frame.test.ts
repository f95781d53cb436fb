import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FerryError } from '@ferry/shared';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  frameToRender,
  type SampleFrames,
  sampleFrames,
} from '../../../testkit/control-plane/sample-frames.js';
import { DICOM_SAMPLES_DIR } from '../../../testkit/control-plane/seal-object.js';
import type { DicomJson } from './dicom-json.js';
import { type RenderOptions, renderFrame } from './render-frame.js';

/** Corpus files without an image: SR, RT plan and structures, a waveform, datasets without File Meta. */
const NOT_IMAGES = new Set([
  'ExplVR_BigEndNoMeta.dcm',
  'ExplVR_LitEndNoMeta.dcm',
  'reportsi.dcm',
  'reportsi_with_empty_number_tags.dcm',
  'rtplan.dcm',
  'rtstruct.dcm',
  'test-SR.dcm',
  'waveform_ecg.dcm',
]);
/** Its JPEG 2000 codestream is damaged on purpose (a sequence delimiter inside the SIZ marker). */
const BROKEN = 'JPEG2000-embedded-sequence-delimiter.dcm';

async function render(s: SampleFrames, options: Partial<RenderOptions> = {}, frameNumber = 1) {
  const out = await renderFrame(frameToRender(s, frameNumber), { format: 'png', ...options });
  // sharp decodes to sRGB unless told the image is greyscale.
  const { channels } = await sharp(out).metadata();
  const { data, info } = await sharp(out)
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { out, data, info };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function withAttributes(s: SampleFrames, set: DicomJson): SampleFrames {
  return { ...s, metadata: { ...s.metadata, ...set } };
}

async function expectCannotDecode(p: Promise<unknown>, syntax: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe('dicomweb.cannot_decode');
  expect((err as FerryError).message).toContain(syntax);
}

describe('renderFrame', () => {
  let mr: SampleFrames;
  let dir: string;

  beforeAll(async () => {
    mr = await sampleFrames('MR_small.dcm');
    dir = await mkdtemp(join(tmpdir(), 'ferry-render-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders every frame of every image of the corpus, in every transfer syntax, as a JPEG of its size', async () => {
    const files = (await readdir(DICOM_SAMPLES_DIR)).filter((f) => f.endsWith('.dcm'));
    const syntaxes = new Set<string>();
    let frames = 0;
    for (const file of files) {
      if (NOT_IMAGES.has(file) || file === BROKEN) continue;
      const s = await sampleFrames(file);
      syntaxes.add(s.transferSyntaxUid);
      for (let n = 1; n <= s.frames.length; n++) {
        const jpeg = await renderFrame(frameToRender(s, n), { format: 'jpeg' });
        const meta = await sharp(jpeg).metadata();
        expect(meta.format, file).toBe('jpeg');
        expect([meta.width, meta.height], file).toEqual([
          s.metadata['00280011']?.Value?.[0],
          s.metadata['00280010']?.Value?.[0],
        ]);
        const stats = await sharp(jpeg).stats();
        expect(
          Math.max(...stats.channels.map((c) => c.stdev)),
          `${file} frame ${n} is blank`,
        ).toBeGreaterThan(0);
        frames++;
      }
    }
    expect(frames).toBeGreaterThanOrEqual(60);
    // Implicit/explicit LE, big endian, deflate, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 (both).
    expect([...syntaxes].sort()).toEqual(
      [
        '1.2.840.10008.1.2',
        '1.2.840.10008.1.2.1',
        '1.2.840.10008.1.2.1.99',
        '1.2.840.10008.1.2.2',
        '1.2.840.10008.1.2.4.50',
        '1.2.840.10008.1.2.4.51',
        '1.2.840.10008.1.2.4.70',
        '1.2.840.10008.1.2.4.80',
        '1.2.840.10008.1.2.4.90',
        '1.2.840.10008.1.2.4.91',
        '1.2.840.10008.1.2.5',
      ].sort(),
    );
  });

  it("windows MR_small with its own window as DCMTK's dcmj2pnm does", async () => {
    const reference = join(dir, 'mr.png');
    await promisify(execFile)('dcmj2pnm', [
      '+Wi',
      '1',
      '+on',
      join(DICOM_SAMPLES_DIR, 'MR_small.dcm'),
      reference,
    ]);
    const ref = await sharp(await readFile(reference))
      .toColourspace('b-w')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const ours = await render(mr);
    expect(ours.info.channels).toBe(1);
    expect(ref.info.channels).toBe(1);
    expect(meanAbsDiff(ours.data, ref.data)).toBeLessThan(1);
    // And the window matters: MR_small's values reach 1400 or so, so min-max would look different.
    const minMax = await render(withAttributes(mr, { '00281050': { vr: 'DS' }, '00281051': { vr: 'DS' } }));
    expect(meanAbsDiff(minMax.data, ref.data)).toBeGreaterThan(5);
  });

  it('renders JPEG-LS, JPEG 2000 and RLE lossless exactly as their native twin', async () => {
    const native = await render(mr);
    for (const twin of [
      'MR_small_jpeg_ls_lossless.dcm',
      'MR_small_jp2klossless.dcm',
      'MR_small_RLE.dcm',
      'MR_small_bigendian.dcm',
    ]) {
      const other = await render(await sampleFrames(twin));
      expect(Buffer.compare(other.data, native.data), twin).toBe(0);
    }
  });

  it('renders syntaxes the corpus lacks as their native twin: HTJ2K lossless (4.201), JPEG lossless process 14 (4.57)', async () => {
    const codecs = createRequire(import.meta.url)('dcmjs-codecs') as {
      NativeCodecs: { initializeAsync(): Promise<void> };
      Transcoder: new (b: ArrayBuffer) => { transcode(ts: string): void; getDicomPart10(): ArrayBuffer };
    };
    await codecs.NativeCodecs.initializeAsync();
    const source = await readFile(join(DICOM_SAMPLES_DIR, 'MR_small.dcm'));
    const transcoder = new codecs.Transcoder(
      source.buffer.slice(source.byteOffset, source.byteOffset + source.length),
    );
    transcoder.transcode('1.2.840.10008.1.2.4.201');
    const htj2k = await sampleFrames(Buffer.from(transcoder.getDicomPart10()));
    const jpeg57File = join(dir, 'jpeg57.dcm');
    await promisify(execFile)('dcmcjpeg', ['+el', join(DICOM_SAMPLES_DIR, 'MR_small.dcm'), jpeg57File]);
    const jpeg57 = await sampleFrames(await readFile(jpeg57File));
    const native = await render(mr);
    for (const [syntax, s] of [
      ['1.2.840.10008.1.2.4.201', htj2k],
      ['1.2.840.10008.1.2.4.57', jpeg57],
    ] as const) {
      expect(s.transferSyntaxUid).toBe(syntax);
      expect(Buffer.compare((await render(s)).data, native.data), syntax).toBe(0);
    }
  });

  it('renders colour alike in every encoding: RGB, YBR, JPEG, JPEG 2000, 8/16/32-bit RLE, 2 frames', async () => {
    const rgb = await render(await sampleFrames('SC_rgb_rle.dcm'));
    expect(rgb.info.channels).toBe(3);
    // Red, green and blue stripes, not grey ones.
    expect([...rgb.data.subarray(0, 3)]).toEqual([255, 0, 0]);
    for (const [file, frame] of [
      ['SC_rgb_jpeg_dcmtk.dcm', 1],
      ['SC_rgb_dcmtk_+eb+cy+np.dcm', 1],
      ['SC_ybr_full_422_uncompressed.dcm', 1],
      ['SC_rgb_gdcm_KY.dcm', 1],
      ['SC_rgb_jpeg_gdcm.dcm', 1],
      ['SC_rgb_rle_16bit.dcm', 1],
      ['SC_rgb_rle_32bit.dcm', 1],
      ['SC_rgb_rle_2frame.dcm', 2],
      ['SC_rgb_rle_16bit_2frame.dcm', 2],
      ['SC_rgb_rle_32bit_2frame.dcm', 2],
    ] as const) {
      const other = await render(await sampleFrames(file), {}, frame);
      // The second frame of the two-frame files is the first one inverted.
      const expected = frame === 2 ? Uint8Array.from(rgb.data, (v) => 255 - v) : rgb.data;
      expect(meanAbsDiff(other.data, expected), file).toBeLessThan(4);
    }
  });

  it('inverts MONOCHROME1', async () => {
    const m2 = await render(mr);
    const m1 = await render(withAttributes(mr, { '00280004': { vr: 'CS', Value: ['MONOCHROME1'] } }));
    const inverted = Uint8Array.from(m2.data, (v) => 255 - v);
    expect(meanAbsDiff(m1.data, inverted)).toBeLessThan(1);
  });

  it('applies the window parameter: center, width and VOI LUT function', async () => {
    const own = await render(mr);
    const same = await render(mr, { window: { center: 600, width: 1600 } });
    expect(Buffer.compare(same.data, own.data)).toBe(0);
    const narrow = await render(mr, { window: { center: 600, width: 200 } });
    expect(meanAbsDiff(narrow.data, own.data)).toBeGreaterThan(20);
    // A narrow window saturates most pixels to black or white.
    expect(narrow.data.filter((v) => v === 0 || v === 255).length / narrow.data.length).toBeGreaterThan(0.6);
    const sigmoid = await render(mr, { window: { center: 600, width: 1600, function: 'SIGMOID' } });
    expect(meanAbsDiff(sigmoid.data, own.data)).toBeGreaterThan(1);
  });

  it('applies the rescale before the window (CT in Hounsfield units)', async () => {
    const ct = await sampleFrames('CT_small.dcm');
    // CT_small: slope 1, intercept -1024. Soft tissue window at 40 HU vs the same window ignoring the intercept.
    const tissue = await render(ct, { window: { center: 40, width: 400 } });
    const shifted = await render(withAttributes(ct, { '00281052': { vr: 'DS', Value: [0] } }), {
      window: { center: 40 + 1024, width: 400 },
    });
    expect(meanAbsDiff(tissue.data, shifted.data)).toBeLessThan(0.5);
  });

  it('looks up palette colour', async () => {
    const lut = (f: (i: number) => number) => {
      const words = Buffer.alloc(512);
      for (let i = 0; i < 256; i++) words.writeUInt16LE(f(i) << 8, i * 2);
      return { vr: 'OW', InlineBinary: words.toString('base64') };
    };
    const descriptor = { vr: 'US', Value: [256, 0, 16] };
    const palette: SampleFrames = {
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      metadata: {
        '00280002': { vr: 'US', Value: [1] },
        '00280004': { vr: 'CS', Value: ['PALETTE COLOR'] },
        '00280010': { vr: 'US', Value: [2] },
        '00280011': { vr: 'US', Value: [2] },
        '00280100': { vr: 'US', Value: [8] },
        '00280101': { vr: 'US', Value: [8] },
        '00280102': { vr: 'US', Value: [7] },
        '00280103': { vr: 'US', Value: [0] },
        '00281101': descriptor,
        '00281102': descriptor,
        '00281103': descriptor,
        '00281201': lut((i) => i),
        '00281202': lut((i) => 255 - i),
        '00281203': lut(() => 7),
      },
      frames: [Buffer.from([0, 100, 200, 255])],
    };
    const { data, info } = await render(palette);
    expect(info.channels).toBe(3);
    expect([...data]).toEqual([0, 255, 7, 100, 155, 7, 200, 55, 7, 255, 0, 7]);
  });

  it('fits the viewport keeping the aspect ratio, and crops to a region', async () => {
    const up = await render(mr, { viewport: { width: 128, height: 128 } });
    expect([up.info.width, up.info.height]).toEqual([128, 128]);
    const tall = await sampleFrames('JPEG-lossy.dcm'); // 256 x 1024
    const fitted = await render(tall, { viewport: { width: 128, height: 128 } });
    expect([fitted.info.width, fitted.info.height]).toEqual([32, 128]);
    const full = await render(mr);
    const corner = await render(mr, {
      viewport: { width: 32, height: 32, region: { left: 0, top: 0, width: 32, height: 32 } },
    });
    expect([corner.info.width, corner.info.height]).toEqual([32, 32]);
    const expected = await sharp(full.data, { raw: { width: 64, height: 64, channels: 1 } })
      .extract({ left: 0, top: 0, width: 32, height: 32 })
      .toColourspace('b-w')
      .raw()
      .toBuffer();
    expect(meanAbsDiff(corner.data, expected)).toBeLessThan(0.5);
    const err = await render(mr, {
      viewport: { width: 32, height: 32, region: { left: 40, top: 0, width: 32, height: 32 } },
    }).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('request.invalid');
  });

  it('encodes JPEG with the quality asked for, PNG losslessly', async () => {
    const ct = await sampleFrames('CT_small.dcm');
    const frame = {
      metadata: ct.metadata,
      transferSyntaxUid: ct.transferSyntaxUid,
      frameNumber: 1,
      frame: ct.frames[0]!,
    };
    const low = await renderFrame(frame, { format: 'jpeg', quality: 10 });
    const high = await renderFrame(frame, { format: 'jpeg', quality: 100 });
    expect(low.length).toBeLessThan(high.length / 2);
    const png = await renderFrame(frame, { format: 'png' });
    expect((await sharp(png).metadata()).format).toBe('png');
  });

  it('refuses what it cannot decode with dicomweb.cannot_decode, naming the syntax', async () => {
    const broken = await sampleFrames(BROKEN);
    await expectCannotDecode(render(broken), '1.2.840.10008.1.2.4.91');
    const ls = await sampleFrames('MR_small_jpeg_ls_lossless.dcm');
    await expectCannotDecode(
      render({ ...ls, frames: [Buffer.from('not a JPEG-LS bitstream')] }),
      '1.2.840.10008.1.2.4.80',
    );
    // MPEG-2: video, not a frame this server decodes.
    await expectCannotDecode(
      render({ ...ls, transferSyntaxUid: '1.2.840.10008.1.2.4.100' }),
      '1.2.840.10008.1.2.4.100',
    );
    await expectCannotDecode(render(withAttributes(mr, { '00280010': { vr: 'US' } })), '1.2.840.10008.1.2.1');
  });

  it('renders a 512x512 16-bit CT slice well under 100 ms', async () => {
    const pixels = Buffer.alloc(512 * 512 * 2);
    for (let i = 0; i < 512 * 512; i++) pixels.writeInt16LE(((i * 7) % 3000) - 1000, i * 2);
    const ct: SampleFrames = {
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      metadata: {
        '00280002': { vr: 'US', Value: [1] },
        '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
        '00280010': { vr: 'US', Value: [512] },
        '00280011': { vr: 'US', Value: [512] },
        '00280100': { vr: 'US', Value: [16] },
        '00280101': { vr: 'US', Value: [16] },
        '00280102': { vr: 'US', Value: [15] },
        '00280103': { vr: 'US', Value: [1] },
        '00281050': { vr: 'DS', Value: [40] },
        '00281051': { vr: 'DS', Value: [400] },
        '00281052': { vr: 'DS', Value: [-1024] },
        '00281053': { vr: 'DS', Value: [1] },
      },
      frames: [pixels],
    };
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      await renderFrame({ ...ct, frameNumber: 1, frame: pixels }, { format: 'jpeg' });
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    expect(times[2]).toBeLessThan(100);
  });
});

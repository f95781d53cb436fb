import { TS } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { sample } from '../../../testkit/agent/spool.js';
import { readHeader } from './header-reader.js';

async function layoutOf(name: string) {
  const { dataset, req } = await sample(name);
  const parsed = readHeader(dataset, req.transferSyntaxUid, true, false);
  if (parsed.state !== 'complete') throw new Error('header incomplete');
  return { pixels: parsed.fields.pixels, dataset, transferSyntaxUid: req.transferSyntaxUid };
}

describe('readHeader: the native Pixel Data layout', () => {
  it.each([
    ['CT_small.dcm', 128, 128, 1, false],
    ['MR_small_implicit.dcm', 64, 64, 1, false],
    ['MR_small_bigendian.dcm', 64, 64, 1, true],
    ['SC_rgb_jpeg_dcmd.dcm', 256, 256, 3, false],
  ])('%s: %i×%i, %i samples, big endian %s, and where its value is', async (name, rows, columns, spp, be) => {
    const { pixels, dataset, transferSyntaxUid } = await layoutOf(name);
    expect(pixels).toMatchObject({ rows, columns, samplesPerPixel: spp, frames: 1, bigEndian: be });
    const bytes = rows * columns * spp * (pixels!.bitsAllocated / 8);
    expect(pixels!.valueLength).toBeGreaterThanOrEqual(bytes);
    // The value ends inside the dataset, and the Pixel Data tag opens the element just before it.
    expect(pixels!.valueOffset + pixels!.valueLength).toBeLessThanOrEqual(dataset.length);
    const at = pixels!.valueOffset - (transferSyntaxUid === TS.ImplicitVRLittleEndian ? 8 : 12);
    const group = be ? dataset.readUInt16BE(at) : dataset.readUInt16LE(at);
    const element = be ? dataset.readUInt16BE(at + 2) : dataset.readUInt16LE(at + 2);
    expect([group, element]).toEqual([0x7fe0, 0x0010]);
  });

  it('reads the signedness, bit depth and photometric interpretation', async () => {
    const { pixels } = await layoutOf('CT_small.dcm');
    expect(pixels).toMatchObject({
      bitsAllocated: 16,
      pixelRepresentation: 1,
      photometricInterpretation: 'MONOCHROME2',
    });
  });

  it.each(['JPEG2000.dcm', 'MR_small_RLE.dcm', 'image_dfl.dcm', 'rtplan.dcm'])(
    '%s has none: encapsulated, deflated, or no Pixel Data',
    async (name) => {
      expect((await layoutOf(name)).pixels).toBeUndefined();
    },
  );
});

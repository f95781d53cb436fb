// Crafted datasets in each transfer syntax we check, cut at every byte and broken one way at a time.
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { TS } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { type Rng, seededRandom } from '../../../test/harness/seeded-random.js';
import { ImageAttributes, ImageTag } from './dataset-check-pixels.js';
import { datasetCheckFor } from './dataset-check-syntax.js';

const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

interface Layout {
  implicit: boolean;
  le: boolean;
}
type Node =
  | { tag: number; vr: string; value: Buffer }
  | { tag: number; items: Node[][]; defined?: boolean; definedItems?: boolean }
  | { tag: number; fragments: Buffer[] };

const u16 = (n: number, le: boolean) => {
  const b = Buffer.alloc(2);
  le ? b.writeUInt16LE(n) : b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number, le: boolean) => {
  const b = Buffer.alloc(4);
  le ? b.writeUInt32LE(n) : b.writeUInt32BE(n);
  return b;
};
const tagBytes = (tag: number, le: boolean) => Buffer.concat([u16(tag >>> 16, le), u16(tag & 0xffff, le)]);
const marker = (tag: number, length: number, l: Layout) =>
  Buffer.concat([tagBytes(tag, l.le), u32(length, l.le)]);

function header(tag: number, vr: string, length: number, l: Layout): Buffer {
  if (l.implicit) return marker(tag, length, l);
  if (LONG_VRS.has(vr))
    return Buffer.concat([tagBytes(tag, l.le), Buffer.from(vr), Buffer.alloc(2), u32(length, l.le)]);
  return Buffer.concat([tagBytes(tag, l.le), Buffer.from(vr), u16(length, l.le)]);
}

function encode(node: Node, l: Layout): Buffer {
  if ('value' in node) return Buffer.concat([header(node.tag, node.vr, node.value.length, l), node.value]);
  if ('fragments' in node) {
    const items = node.fragments.map((f) => Buffer.concat([marker(0xfffee000, f.length, l), f]));
    return Buffer.concat([header(node.tag, 'OB', UNDEFINED, l), ...items, marker(0xfffee0dd, 0, l)]);
  }
  const items = node.items.map((item) => {
    const body = Buffer.concat(item.map((n) => encode(n, l)));
    return node.definedItems
      ? Buffer.concat([marker(0xfffee000, body.length, l), body])
      : Buffer.concat([marker(0xfffee000, UNDEFINED, l), body, marker(0xfffee00d, 0, l)]);
  });
  const body = Buffer.concat(items);
  return node.defined
    ? Buffer.concat([header(node.tag, 'SQ', body.length, l), body])
    : Buffer.concat([header(node.tag, 'SQ', UNDEFINED, l), body, marker(0xfffee0dd, 0, l)]);
}

const text = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
const el = (tag: number, vr: string, value: Buffer): Node => ({ tag, vr, value });

/** A small image: nested sequences (undefined and defined lengths), image attributes, Pixel Data. */
function image(
  l: Layout,
  pixels: 'native' | 'encapsulated',
  size = 16,
  pixelBytes = size * size * 2,
): Node[] {
  const us = (n: number) => u16(n, l.le);
  return [
    el(0x00080016, 'UI', text('1.2.840.10008.5.1.4.1.1.7')),
    el(0x00080018, 'UI', text('1.2.826.0.1.3680043.8.498.1')),
    {
      tag: 0x00081115,
      items: [
        [
          el(0x00081150, 'UI', text('1.2.840.10008.5.1.4.1.1.4')),
          {
            tag: 0x0008114a,
            defined: true,
            definedItems: true,
            items: [[el(0x00081155, 'UI', text('1.2.826.0.1.3680043.8.498.7'))]],
          },
        ],
        [],
      ],
    },
    el(0x00100010, 'PN', text('DOE^JOHN')),
    el(ImageTag.SamplesPerPixel, 'US', us(1)),
    el(ImageTag.PhotometricInterpretation, 'CS', text('MONOCHROME2 ')),
    el(ImageTag.Rows, 'US', us(size)),
    el(ImageTag.Columns, 'US', us(size)),
    el(ImageTag.BitsAllocated, 'US', us(16)),
    pixels === 'native'
      ? el(0x7fe00010, 'OW', Buffer.alloc(pixelBytes, 7))
      : { tag: 0x7fe00010, fragments: [Buffer.alloc(8, 0), Buffer.alloc(100, 1), Buffer.alloc(50, 2)] },
  ];
}

/** The bytes and the offsets where a top-level element ends (a cut there leaves a whole dataset). */
function dataset(nodes: Node[], l: Layout): { bytes: Buffer; boundaries: Set<number> } {
  const parts = nodes.map((n) => encode(n, l));
  const boundaries = new Set<number>();
  let at = 0;
  for (const p of parts) {
    at += p.length;
    boundaries.add(at);
  }
  return { bytes: Buffer.concat(parts), boundaries };
}

async function verdict(ts: string, bytes: Buffer, rng: Rng = seededRandom(7), maxSlice = 64) {
  const c = datasetCheckFor(ts)!;
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(rng() * maxSlice);
    c.write(bytes.subarray(at, at + n));
    at += n;
  }
  return (await c.finish()).problem;
}

const SYNTAXES = [
  {
    name: 'explicit VR little endian',
    ts: TS.ExplicitVRLittleEndian,
    l: { implicit: false, le: true },
    px: 'native',
  },
  {
    name: 'implicit VR little endian',
    ts: TS.ImplicitVRLittleEndian,
    l: { implicit: true, le: true },
    px: 'native',
  },
  {
    name: 'explicit VR big endian',
    ts: TS.ExplicitVRBigEndian,
    l: { implicit: false, le: false },
    px: 'native',
  },
  { name: 'encapsulated (JPEG)', ts: JPEG_BASELINE, l: { implicit: false, le: true }, px: 'encapsulated' },
] as const;

describe('dataset structure check on crafted datasets', () => {
  for (const { name, ts, l, px } of SYNTAXES) {
    it(`${name}: whole is accepted; cut at any byte is refused unless at a top-level element's end`, async () => {
      const { bytes, boundaries } = dataset(image(l, px), l);
      expect(await verdict(ts, bytes)).toBeUndefined();
      const rng = seededRandom(bytes.length);
      const wrong: string[] = [];
      for (let cut = 1; cut < bytes.length; cut++) {
        const problem = await verdict(ts, bytes.subarray(0, cut), rng);
        if ((problem === undefined) !== boundaries.has(cut)) wrong.push(`${cut}: ${problem ?? 'accepted'}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  it('says where the dataset ends: in a tag, a length, a value, a nested item, a fragment, Pixel Data', async () => {
    const l = { implicit: false, le: true };
    const { bytes } = dataset(image(l, 'native', 128), l);
    const at = (tag: number) => bytes.indexOf(tagBytes(tag, true));
    const cut = (n: number) => verdict(TS.ExplicitVRLittleEndian, bytes.subarray(0, n));
    const name = at(0x00100010);
    expect(await cut(name + 2)).toBe('dataset ends inside an element header (2 bytes)');
    expect(await cut(name + 6)).toBe('dataset ends inside an element header (6 bytes)');
    expect(await cut(name + 8 + 3)).toBe('dataset ends inside (0010,0010): 3 of 8 bytes');
    const nested = at(0x00081155);
    expect(await cut(nested + 8 + 5)).toBe('dataset ends inside (0008,1155): 5 of 28 bytes');
    // Past the nested item (and its sequence of defined length), inside the outer undefined item.
    expect(await cut(nested + 8 + 28)).toBe('dataset ends inside an item of (0008,1115)');
    expect(await cut(at(0x00081150) - 4)).toBe('dataset ends inside an element header (4 bytes)');
    const pixels = at(0x7fe00010) + 12;
    expect(await cut(pixels + 13_479)).toBe('dataset ends inside Pixel Data: 13479 of 32768 bytes');
    expect(await cut(pixels - 1)).toBe('dataset ends inside an element header (11 bytes)');

    const encapsulated = dataset(image(l, 'encapsulated'), l).bytes;
    const frags = encapsulated.indexOf(tagBytes(0x7fe00010, true)) + 12;
    const cutFragments = (n: number) => verdict(JPEG_BASELINE, encapsulated.subarray(0, frags + n));
    expect(await cutFragments(8 + 4)).toBe('dataset ends inside the Basic Offset Table: 4 of 8 bytes');
    expect(await cutFragments(16 + 8 + 10)).toBe(
      'dataset ends inside Pixel Data fragment 1: 10 of 100 bytes',
    );
    expect(await cutFragments(16 + 108 + 58)).toBe(
      'dataset ends inside encapsulated Pixel Data before its delimiter',
    );
  });

  it('deflated: inflates as a stream, refuses a cut deflate stream and a whole one of a cut dataset', async () => {
    const l = { implicit: false, le: true };
    const { bytes } = dataset(image(l, 'native', 128), l);
    const ts = TS.DeflatedExplicitVRLittleEndian;
    expect(await verdict(ts, deflateRawSync(bytes), seededRandom(3), 512)).toBeUndefined();
    const deflated = deflateRawSync(bytes);
    expect(await verdict(ts, deflated.subarray(0, deflated.length >> 1))).toBe(
      'dataset ends inside its deflate stream',
    );
    const pixels = bytes.indexOf(tagBytes(0x7fe00010, true)) + 12;
    expect(await verdict(ts, deflateRawSync(bytes.subarray(0, pixels + 13_479)))).toBe(
      'dataset ends inside Pixel Data: 13479 of 32768 bytes',
    );
    // More than the inflater queues: the source is asked to pause, and resumed once it drained.
    const big = deflateRawSync(
      Buffer.concat([bytes.subarray(0, pixels - 12), encode(el(0x7fe00010, 'OW', randomBytes(2 << 20)), l)]),
    );
    const c = datasetCheckFor(ts)!;
    expect(c.write(big)).toBe(false);
    await new Promise<void>((resolve) => c.onDrain(resolve));
    expect((await c.finish()).problem).toBeUndefined();
    const garbage = Buffer.from(deflated);
    garbage.fill(0xff, 0, 8);
    expect(await verdict(ts, garbage)).toBe('deflated dataset cannot be inflated');
  });

  it('refuses inconsistent structure as soon as it shows, whatever follows', async () => {
    const l = { implicit: false, le: true };
    const ts = TS.ExplicitVRLittleEndian;
    const uid = el(0x00081150, 'UI', text('1.2.3.4'));
    const item = Buffer.concat([marker(0xfffee000, 16, l), encode(uid, l)]);
    const sequence = (length: number, body: Buffer) =>
      Buffer.concat([header(0x00081115, 'SQ', length, l), body]);
    const tail = encode(el(0x00100010, 'PN', text('DOE')), l);
    const cases: [Buffer, string][] = [
      [sequence(item.length - 2, item), 'an item of (0008,1115) runs past its sequence'],
      [
        sequence(item.length, Buffer.concat([marker(0xfffee000, 10, l), encode(uid, l)])),
        '(0008,1150) runs past the end of its item',
      ],
      [sequence(UNDEFINED, encode(uid, l)), 'sequence (0008,1115) holds (0008,1150) where an item belongs'],
      [marker(0xfffee0dd, 0, l), '(FFFE,E0DD) where an element belongs'],
      [
        Buffer.concat([header(0x7fe00010, 'OB', UNDEFINED, l), marker(0xfffee0dd, 0, l)]),
        'encapsulated Pixel Data has no Basic Offset Table',
      ],
      [
        Buffer.concat([
          header(0x7fe00010, 'OB', UNDEFINED, l),
          marker(0xfffee000, 0, l),
          marker(0xfffee0dd, 0, l),
        ]),
        'encapsulated Pixel Data has no fragments',
      ],
      [
        Buffer.concat([header(0x7fe00010, 'OB', UNDEFINED, l), marker(0xfffee000, 6, l), Buffer.alloc(6)]),
        'Basic Offset Table of 6 bytes, not a multiple of 4',
      ],
      [
        Buffer.concat([
          header(0x7fe00010, 'OB', UNDEFINED, l),
          marker(0xfffee000, 0, l),
          marker(0xfffee000, UNDEFINED, l),
        ]),
        'Pixel Data fragment of undefined length',
      ],
      [
        Buffer.concat([header(0x7fe00010, 'OB', UNDEFINED, l), encode(uid, l)]),
        'encapsulated Pixel Data holds (0008,1150) where a fragment belongs',
      ],
      [
        Buffer.concat(
          Array.from({ length: 70 }, () =>
            Buffer.concat([header(0x00081115, 'SQ', UNDEFINED, l), marker(0xfffee000, UNDEFINED, l)]),
          ),
        ),
        'sequences nested deeper than 64',
      ],
    ];
    for (const [bytes, problem] of cases) {
      expect(await verdict(ts, Buffer.concat([bytes, tail]), seededRandom(5), 3)).toBe(problem);
      const c = datasetCheckFor(ts)!;
      c.write(bytes);
      expect(c.failed?.problem, problem).toBe(problem);
    }
  });

  it('walks every standard binary transfer syntax; private, unknown and non-binary ones pass unchecked', () => {
    expect(datasetCheckFor('1.2.840.10008.1.20')).toBeDefined(); // Papyrus 3 implicit VR LE
    expect(datasetCheckFor('1.2.840.10008.1.2.4.201')).toBeDefined(); // HTJ2K
    expect(datasetCheckFor('1.2.840.10008.1.2.6.2')).toBeUndefined(); // XML encoding (retired)
    expect(datasetCheckFor('1.2.840.10008.1.2.9.9')).toBeUndefined();
    expect(datasetCheckFor('1.2.826.0.1.3680043.99.1')).toBeUndefined();
  });

  it('native Pixel Data shorter than the image attributes need is refused at its header', async () => {
    const l = { implicit: false, le: true };
    const short = dataset(image(l, 'native', 128, 32_766), l).bytes;
    expect(await verdict(TS.ExplicitVRLittleEndian, short)).toBe(
      'Pixel Data is 32766 bytes; its image attributes need 32768',
    );
    // Longer (padding) is fine.
    const long = dataset(image(l, 'native', 128, 32_770), l).bytes;
    expect(await verdict(TS.ExplicitVRLittleEndian, long)).toBeUndefined();
  });

  it('expects Rows × Columns × Samples × Bits Allocated/8 × frames, bit-packed for 1, 4:2:2 at two thirds', () => {
    const need = (values: [number, string | number][]) => {
      const a = new ImageAttributes();
      for (const [tag, v] of values) {
        const b = typeof v === 'number' ? u16(v, true) : Buffer.from(v, 'latin1');
        a.set(tag, b, true);
      }
      return a.expectedPixelBytes();
    };
    const base: [number, string | number][] = [
      [ImageTag.Rows, 5],
      [ImageTag.Columns, 5],
      [ImageTag.BitsAllocated, 8],
    ];
    expect(need(base)).toBe(26);
    expect(need([...base, [ImageTag.SamplesPerPixel, 3], [ImageTag.NumberOfFrames, '2 ']])).toBe(150);
    expect(need([...base, [ImageTag.BitsAllocated, 1], [ImageTag.NumberOfFrames, '3']])).toBe(10);
    expect(
      need([...base, [ImageTag.SamplesPerPixel, 3], [ImageTag.PhotometricInterpretation, 'YBR_FULL_422']]),
    ).toBe(50);
    expect(need([...base, [ImageTag.NumberOfFrames, 'x']])).toBeUndefined();
    expect(need([[ImageTag.Rows, 5]])).toBeUndefined();
  });
});

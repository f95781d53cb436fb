// Part-10 files: meta and hashes, streamed (a 1 GiB file never sits in memory). No vitest here, so
// benchmarks can use it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { LONG_LENGTH_VRS } from './dcmtk.js';

export interface PartTenMeta {
  /** Offset of the first dataset byte (end of group 0002). */
  datasetOffset: number;
  /** Group 0002 string values by tag 'ggggeeee' (UIDs without their trailing NUL padding). */
  values: Map<string, string>;
}

export const META = {
  sopClassUid: '00020002',
  sopInstanceUid: '00020003',
  transferSyntaxUid: '00020010',
  implementationClassUid: '00020012',
} as const;

/**
 * Parses the File Meta Information of a Part-10 file, reading only its head (so it is cheap for a
 * 1 GiB file). Returns null when the file has no preamble + 'DICM'. Walks explicit VR little endian
 * group 0002 elements and cross-checks (0002,0000) group length when present.
 */
export async function readMeta(file: string): Promise<PartTenMeta | null> {
  const fh = await open(file, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(256 << 10);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.length < 132 || head.toString('latin1', 128, 132) !== 'DICM') return null;
  const values = new Map<string, string>();
  let pos = 132;
  let groupEnd: number | undefined;
  while (pos + 8 <= head.length && head.readUInt16LE(pos) === 0x0002) {
    const tag = `0002${head
      .readUInt16LE(pos + 2)
      .toString(16)
      .padStart(4, '0')}`;
    const vr = head.toString('latin1', pos + 4, pos + 6);
    let length: number;
    let headerLength: number;
    if (LONG_LENGTH_VRS.has(vr)) {
      length = head.readUInt32LE(pos + 8);
      headerLength = 12;
    } else {
      length = head.readUInt16LE(pos + 6);
      headerLength = 8;
    }
    const value = head.subarray(pos + headerLength, pos + headerLength + length);
    if (value.length !== length) throw new Error(`${file}: meta element ${tag} runs past the read head`);
    if (tag === '00020000') groupEnd = pos + headerLength + length + value.readUInt32LE(0);
    else if (vr === 'UI' || vr === 'SH' || vr === 'AE')
      values.set(tag, value.toString('latin1').replace(/[\0 ]+$/, ''));
    pos += headerLength + length;
  }
  if (groupEnd !== undefined && groupEnd !== pos)
    throw new Error(`${file}: group length says the meta ends at ${groupEnd}, elements end at ${pos}`);
  return { datasetOffset: pos, values };
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** SHA-256 of a file from byte `start` on, streamed (never holds the file in memory). */
export async function sha256File(file: string, start = 0): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { start, highWaterMark: 4 << 20 })) {
    const b = chunk as Buffer;
    hash.update(b);
    bytes += b.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** SHA-256 of a Part-10 file's dataset (everything after its meta; the whole file if it has none), streamed. */
export async function datasetHash(file: string): Promise<{ sha256: string; bytes: number }> {
  return sha256File(file, (await readMeta(file))?.datasetOffset ?? 0);
}

/** One streamed pass over a Part-10 file: SHA-256 of the whole file and of its dataset (from `datasetOffset`). */
export async function sha256Part10(
  file: string,
  datasetOffset: number,
): Promise<{ whole: string; dataset: string; bytes: number; datasetBytes: number }> {
  const whole = createHash('sha256');
  const dataset = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    const b = chunk as Buffer;
    whole.update(b);
    if (bytes + b.length > datasetOffset) dataset.update(b.subarray(Math.max(0, datasetOffset - bytes)));
    bytes += b.length;
  }
  return {
    whole: whole.digest('hex'),
    dataset: dataset.digest('hex'),
    bytes,
    datasetBytes: Math.max(0, bytes - datasetOffset),
  };
}

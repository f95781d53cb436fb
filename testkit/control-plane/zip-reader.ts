/**
 * A tiny zip reader for tests: reads the central directory (zip64 included) and returns each entry's
 * bytes, checking its CRC-32. Stored and deflated entries only. Not for production input.
 */
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  bytes: Buffer;
  /** The general purpose flags (bit 3: sizes in a data descriptor). */
  flags: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function u64(buf: Buffer, at: number): number {
  return Number(buf.readBigUInt64LE(at));
}

export function readZip(zip: Buffer): { entries: ZipEntry[]; zip64: boolean } {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip: no end of central directory');
  let count = zip.readUInt16LE(eocd + 10);
  let cdOffset = zip.readUInt32LE(eocd + 16);
  let zip64 = false;
  if (eocd >= 20 && zip.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    zip64 = true;
    const at = u64(zip, eocd - 20 + 8);
    if (zip.readUInt32LE(at) !== ZIP64_EOCD) throw new Error('bad zip64 end of central directory');
    count = u64(zip, at + 32);
    cdOffset = u64(zip, at + 48);
  }
  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== CENTRAL) throw new Error(`bad central header ${n}`);
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    let csize = zip.readUInt32LE(at + 20);
    let usize = zip.readUInt32LE(at + 24);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    let local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLen);
    let x = at + 46 + nameLen;
    const extraEnd = x + extraLen;
    while (x + 4 <= extraEnd) {
      const id = zip.readUInt16LE(x);
      const len = zip.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let f = x + 4;
        if (usize === 0xffffffff) {
          usize = u64(zip, f);
          f += 8;
        }
        if (csize === 0xffffffff) {
          csize = u64(zip, f);
          f += 8;
        }
        if (local === 0xffffffff) local = u64(zip, f);
      }
      x += 4 + len;
    }
    if (zip.readUInt32LE(local) !== LOCAL) throw new Error(`bad local header for ${name}`);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(data, data + csize);
    const bytes = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : undefined;
    if (!bytes) throw new Error(`${name}: compression method ${method} not supported`);
    if (bytes.length !== usize) throw new Error(`${name}: size ${bytes.length}, expected ${usize}`);
    if (crc32(bytes) >>> 0 !== crc) throw new Error(`${name}: CRC mismatch`);
    entries.push({ name, method, bytes: Buffer.from(bytes), flags });
    at = extraEnd + commentLen;
  }
  return { entries, zip64 };
}

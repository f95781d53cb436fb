/**
 * Native pixel bytes as PS3.18 answers them: little endian, each frame starting at its first bit.
 */

/** Bytes per swapped word of a value stored big endian (1: nothing to swap). */
export function wordBytes(vr: string, bitsAllocated?: number): number {
  switch (vr) {
    case 'OW':
      // OW is 16-bit words; pixels of 32 or 64 bits are whole words of their own size.
      return bitsAllocated !== undefined && bitsAllocated > 16 && bitsAllocated % 8 === 0
        ? bitsAllocated / 8
        : 2;
    case 'OF':
    case 'OL':
      return 4;
    case 'OD':
    case 'OV':
      return 8;
    default:
      return 1;
  }
}

/** Reverses the bytes of each `unit`-byte word, in place. */
export function swapWords(buf: Buffer, unit: number): Buffer {
  if (unit === 2) return buf.swap16();
  if (unit === 4) return buf.swap32();
  if (unit === 8) return buf.swap64();
  return buf;
}

/**
 * `bits` bits starting `shift` bits (0-7) into `bytes`, moved to start at bit 0, in DICOM's order
 * (the first pixel of a BitsAllocated 1 byte is its least significant bit).
 */
export function shiftBits(bytes: Buffer, shift: number, bits: number): Buffer {
  const out = Buffer.alloc(Math.ceil(bits / 8));
  for (let i = 0; i < out.length; i++) {
    const lo = (bytes[i] ?? 0) >> shift;
    const hi = shift === 0 ? 0 : ((bytes[i + 1] ?? 0) << (8 - shift)) & 0xff;
    out[i] = lo | hi;
  }
  const tail = bits % 8;
  if (tail !== 0) out[out.length - 1]! &= (1 << tail) - 1;
  return out;
}

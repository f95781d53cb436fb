import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from './implementation.js';

const PREAMBLE_AND_MAGIC = 132;
/** (0002,0000) UL: tag, VR, 16-bit length, 4-byte value. */
const GROUP_LENGTH_BYTES = 12;

interface Element {
  element: number;
  vr: 'OB' | 'UI' | 'SH';
  value: string | Buffer;
}

/** Even length, as DICOM needs: UI values are padded with NUL, others with a space. */
function paddedLength(e: Element): number {
  const n = typeof e.value === 'string' ? Buffer.byteLength(e.value, 'latin1') : e.value.length;
  return n + (n % 2);
}

function headBytes(e: Element): number {
  return e.vr === 'OB' ? 12 : 8;
}

const VERSION_ONE = Buffer.from([0x00, 0x01]);

/**
 * Preamble, "DICM" and File Meta Information for a dataset received over the network. It is built
 * only from the request and the accepted transfer syntax, so identical resends give identical bytes.
 * One allocation per instance: this runs for every C-STORE.
 */
export function part10Header(sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string): Buffer {
  const elements: Element[] = [
    { element: 0x0001, vr: 'OB', value: VERSION_ONE },
    { element: 0x0002, vr: 'UI', value: sopClassUid },
    { element: 0x0003, vr: 'UI', value: sopInstanceUid },
    { element: 0x0010, vr: 'UI', value: transferSyntaxUid },
    { element: 0x0012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
    { element: 0x0013, vr: 'SH', value: IMPLEMENTATION_VERSION },
  ];
  let groupLength = 0;
  for (const e of elements) groupLength += headBytes(e) + paddedLength(e);
  // Zero-filled: the preamble and any padding byte of a UI value are NUL.
  const out = Buffer.alloc(PREAMBLE_AND_MAGIC + GROUP_LENGTH_BYTES + groupLength);
  out.write('DICM', 128, 'latin1');
  let pos = PREAMBLE_AND_MAGIC;
  out.writeUInt16LE(0x0002, pos);
  out.writeUInt16LE(0x0000, pos + 2);
  out.write('UL', pos + 4, 'latin1');
  out.writeUInt16LE(4, pos + 6);
  out.writeUInt32LE(groupLength, pos + 8);
  pos += GROUP_LENGTH_BYTES;
  for (const e of elements) {
    const length = paddedLength(e);
    out.writeUInt16LE(0x0002, pos);
    out.writeUInt16LE(e.element, pos + 2);
    out.write(e.vr, pos + 4, 'latin1');
    if (e.vr === 'OB') out.writeUInt32LE(length, pos + 8);
    else out.writeUInt16LE(length, pos + 6);
    pos += headBytes(e);
    const n = typeof e.value === 'string' ? out.write(e.value, pos, 'latin1') : e.value.copy(out, pos);
    if (n < length) out[pos + n] = e.vr === 'UI' ? 0 : 0x20;
    pos += length;
  }
  return out;
}

import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from './implementation.js';

function explicitElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const padded =
    value.length % 2 === 1 ? Buffer.concat([value, Buffer.from([vr === 'UI' ? 0 : 0x20])]) : value;
  const longForm = vr === 'OB';
  const head = Buffer.alloc(longForm ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (longForm) head.writeUInt32LE(padded.length, 8);
  else head.writeUInt16LE(padded.length, 6);
  return Buffer.concat([head, padded]);
}

/**
 * Preamble, "DICM" and File Meta Information for a dataset received over the network. It is built
 * only from the request and the accepted transfer syntax, so identical resends give identical bytes.
 */
export function part10Header(sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string): Buffer {
  const ui = (s: string) => Buffer.from(s, 'latin1');
  const elements = Buffer.concat([
    explicitElement(0x0002, 0x0001, 'OB', Buffer.from([0x00, 0x01])),
    explicitElement(0x0002, 0x0002, 'UI', ui(sopClassUid)),
    explicitElement(0x0002, 0x0003, 'UI', ui(sopInstanceUid)),
    explicitElement(0x0002, 0x0010, 'UI', ui(transferSyntaxUid)),
    explicitElement(0x0002, 0x0012, 'UI', ui(IMPLEMENTATION_CLASS_UID)),
    explicitElement(0x0002, 0x0013, 'SH', ui(IMPLEMENTATION_VERSION)),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(elements.length, 0);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    explicitElement(0x0002, 0x0000, 'UL', groupLength),
    elements,
  ]);
}

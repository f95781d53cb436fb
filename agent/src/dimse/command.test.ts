import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import {
  encodeCEchoRq,
  encodeCommand,
  encodeCStoreRq,
  parseResponse,
} from '../../../test/harness/raw-scu.js';
import { CommandField, encodeResponsePdu, fitErrorComment, NO_DATASET, parseCommand } from './command.js';
import { PduType } from './pdu-types.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const SOP_ODD = '1.2.826.0.1.3680043.8.498.1'; // 27 characters: odd, so padded on the wire
const SOP_EVEN = '1.2.826.0.1.3680043.8.498.12';

/** The command set inside a single-PDV P-DATA-TF PDU, after checking both headers. */
function commandSetOf(pdu: Buffer, contextId: number): Buffer {
  expect(pdu[0]).toBe(PduType.PData);
  expect(pdu[1]).toBe(0);
  expect(pdu.readUInt32BE(2)).toBe(pdu.length - 6);
  expect(pdu.readUInt32BE(6)).toBe(pdu.length - 10); // PDV item length: context id + control + data
  expect(pdu[10]).toBe(contextId);
  expect(pdu[11]).toBe(0x03); // command, last fragment
  return pdu.subarray(12);
}

/** Walks an implicit VR LE command set: [element, length] in order. */
function layout(set: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < set.length; ) {
    expect(set.readUInt16LE(off)).toBe(0);
    const len = set.readUInt32LE(off + 4);
    out.push([set.readUInt16LE(off + 2), len]);
    off += 8 + len;
    expect(off).toBeLessThanOrEqual(set.length);
  }
  return out;
}

describe('parseCommand', () => {
  it('reads a C-STORE-RQ built by an SCU', () => {
    for (const sop of [SOP_ODD, SOP_EVEN]) {
      const bytes = encodeCStoreRq({ messageId: 0xbeef, sopClassUid: CT, sopInstanceUid: sop, priority: 2 });
      expect(parseCommand(bytes)).toEqual({
        commandField: CommandField.CStoreRq,
        messageId: 0xbeef,
        affectedSopClassUid: CT,
        affectedSopInstanceUid: sop,
        dataSetType: 0x0000,
        priority: 2,
        moveOriginatorAeTitle: '',
      });
    }
  });

  it('reads a C-ECHO-RQ', () => {
    expect(parseCommand(encodeCEchoRq(7))).toMatchObject({
      commandField: CommandField.CEchoRq,
      messageId: 7,
      affectedSopClassUid: '1.2.840.10008.1.1',
      dataSetType: NO_DATASET,
    });
  });

  it('reads a C-STORE-RQ from a C-MOVE, with the move originator AE title trimmed', () => {
    const bytes = encodeCommand([
      [0x0002, CT],
      [0x0100, CommandField.CStoreRq],
      [0x0110, 3],
      [0x0700, 0],
      [0x0800, 0],
      [0x1000, SOP_ODD],
      [0x1030, ' MOVER'],
      [0x1031, 99],
    ]);
    expect(parseCommand(bytes)).toMatchObject({
      moveOriginatorAeTitle: 'MOVER',
      affectedSopInstanceUid: SOP_ODD,
    });
  });

  it('rejects elements outside group 0000, truncated values and missing mandatory fields', () => {
    const good = encodeCStoreRq({ messageId: 1, sopClassUid: CT, sopInstanceUid: SOP_ODD });
    const wrongGroup = Buffer.from(good);
    wrongGroup.writeUInt16LE(0x0008, 12);
    const truncated = good.subarray(0, good.length - 3);
    const noMessageId = encodeCommand([
      [0x0002, CT],
      [0x0100, CommandField.CStoreRq],
    ]);
    const noCommandField = encodeCommand([[0x0110, 5]]);
    for (const [name, bytes] of [
      ['wrong group', wrongGroup],
      ['truncated', truncated],
      ['no message id', noMessageId],
      ['no command field', noCommandField],
    ] as const) {
      let thrown: unknown;
      try {
        parseCommand(bytes);
      } catch (err) {
        thrown = err;
      }
      expect(isFerryError(thrown) && thrown.code, name).toBe('dicom.pdu_malformed');
    }
  });
});

describe('encodeResponsePdu', () => {
  it('encodes a C-STORE-RSP whose command set parses back, with a correct group length', () => {
    for (const sop of [SOP_ODD, SOP_EVEN]) {
      const pdu = encodeResponsePdu(9, {
        commandField: CommandField.CStoreRsp,
        messageId: 0x1234,
        sopClassUid: CT,
        sopInstanceUid: sop,
        status: 0xa900,
        errorComment: 'dataset does not match request',
      });
      const set = commandSetOf(pdu, 9);
      const rsp = parseResponse(set);
      expect(rsp).toMatchObject({
        commandField: CommandField.CStoreRsp,
        messageIdBeingRespondedTo: 0x1234,
        status: 0xa900,
        errorComment: 'dataset does not match request',
        affectedSopClassUid: CT,
        affectedSopInstanceUid: sop,
      });
      expect(rsp.groupLength).toBe(rsp.bytesAfterGroupLength);
      expect(rsp.elements.get(0x0800)?.readUInt16LE(0)).toBe(NO_DATASET);
      // Implicit VR LE, ascending tags, every value of even length (PS3.5 7.1, PS3.7 6.3.1).
      const l = layout(set);
      expect(l.map(([e]) => e)).toEqual([0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900, 0x0902, 0x1000]);
      expect(l.every(([, len]) => len % 2 === 0)).toBe(true);
      // UIDs are padded with NUL, the LO error comment with a space.
      const uid = rsp.elements.get(0x1000)!;
      if (sop.length % 2 === 1) expect(uid.at(-1)).toBe(0);
      const comment = rsp.elements.get(0x0902)!;
      expect(comment.length).toBe(30);

      // It parses back as a response: (0000,0120) and the status instead of a Message ID (an
      // N-EVENT-REPORT-RSP to our storage commitment report arrives this way).
      expect(parseCommand(set)).toMatchObject({
        commandField: CommandField.CStoreRsp,
        respondingTo: 0x1234,
        status: 0xa900,
        affectedSopClassUid: CT,
        affectedSopInstanceUid: sop,
        dataSetType: NO_DATASET,
      });
    }
  });

  it('encodes a C-ECHO-RSP without error comment or instance UID', () => {
    const set = commandSetOf(
      encodeResponsePdu(1, {
        commandField: CommandField.CEchoRsp,
        messageId: 65535,
        sopClassUid: '1.2.840.10008.1.1',
        status: 0,
      }),
      1,
    );
    const rsp = parseResponse(set);
    expect(rsp).toMatchObject({ commandField: 0x8030, messageIdBeingRespondedTo: 65535, status: 0 });
    expect(rsp.errorComment).toBeUndefined();
    expect(rsp.elements.has(0x1000)).toBe(false);
    expect(rsp.groupLength).toBe(set.length - 12);
  });

  it('cuts an error comment to the 64 characters LO allows and pads odd lengths with a space', () => {
    const long = encodeResponsePdu(1, {
      commandField: CommandField.CStoreRsp,
      messageId: 1,
      sopClassUid: CT,
      status: 0xc211,
      errorComment: 'x'.repeat(200),
    });
    expect(parseResponse(commandSetOf(long, 1)).elements.get(0x0902)?.length).toBe(64);
    const odd = parseResponse(
      commandSetOf(
        encodeResponsePdu(1, {
          commandField: CommandField.CStoreRsp,
          messageId: 1,
          sopClassUid: CT,
          status: 0xa700,
          errorComment: 'disk',
        }),
        1,
      ),
    );
    expect(odd.errorComment).toBe('disk');
    const odd5 = parseResponse(
      commandSetOf(
        encodeResponsePdu(1, {
          commandField: CommandField.CStoreRsp,
          messageId: 1,
          sopClassUid: CT,
          status: 0xa700,
          errorComment: 'full!',
        }),
        1,
      ),
    );
    expect(odd5.elements.get(0x0902)?.toString('latin1')).toBe('full! ');
    expect(odd5.groupLength).toBe(odd5.bytesAfterGroupLength);
  });

  it('cuts a long error comment at the last word boundary within 64 characters, never mid-word', () => {
    const msg = 'spool write failed: no space left on device while writing the instance to /var/lib/ferry';
    const cut = fitErrorComment(msg);
    expect(cut).toBe('spool write failed: no space left on device while writing the');
    expect(cut.length).toBeLessThanOrEqual(64);
    expect(msg.startsWith(`${cut} `)).toBe(true);
    // A space right at 64 keeps all 64 characters; one word of 70 characters is hard-cut.
    const exact = `${'a'.repeat(30)} ${'b'.repeat(33)} tail`;
    expect(fitErrorComment(exact)).toBe(exact.slice(0, 64));
    expect(fitErrorComment('z'.repeat(70))).toBe('z'.repeat(64));
    expect(fitErrorComment('short one')).toBe('short one');
    const rsp = parseResponse(
      commandSetOf(
        encodeResponsePdu(1, {
          commandField: CommandField.CStoreRsp,
          messageId: 1,
          sopClassUid: CT,
          status: 0xa700,
          errorComment: msg,
        }),
        1,
      ),
    );
    expect(rsp.errorComment).toBe(cut);
  });
});

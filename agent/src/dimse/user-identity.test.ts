import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { encodeAssociateRq } from '../../../test/harness/raw-scu.js';
import { encodeAssociateAc, parseAssociateRq } from './associate.js';
import { parseUserIdentity } from './user-identity.js';

/** A 0x58 sub-item value: type, positive-response-requested, primary and secondary fields. */
function identityValue(type: number, rsp: boolean, primary: string, secondary = ''): Buffer {
  const p = Buffer.from(primary, 'utf8');
  const s = Buffer.from(secondary, 'utf8');
  const out = Buffer.alloc(6 + p.length + s.length);
  out[0] = type;
  out[1] = rsp ? 1 : 0;
  out.writeUInt16BE(p.length, 2);
  p.copy(out, 4);
  out.writeUInt16BE(s.length, 4 + p.length);
  s.copy(out, 6 + p.length);
  return out;
}

function subItem(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

/** An A-ASSOCIATE-RQ body whose user information item ends with `extra` sub-items. */
function rqWith(...extra: Buffer[]): Buffer {
  const body = encodeAssociateRq().subarray(6);
  let at = 68;
  while (body[at] !== 0x50) at += 4 + body.readUInt16BE(at + 2);
  const userInfo = Buffer.concat([body.subarray(at), ...extra]);
  userInfo.writeUInt16BE(userInfo.length - 4, 2);
  return Buffer.concat([body.subarray(0, at), userInfo]);
}

function malformedMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isFerryError(err) && err.code === 'dicom.pdu_malformed') return err.message;
    throw err;
  }
  throw new Error('did not throw');
}

describe('User Identity Negotiation sub-item (0x58)', () => {
  it('parses each field of a username + passcode identity', () => {
    const req = parseAssociateRq(rqWith(subItem(0x58, identityValue(2, true, 'tech1', 'pässword'))));
    expect(req.userIdentity).toEqual({
      type: 2,
      positiveResponseRequested: true,
      primary: Buffer.from('tech1'),
      secondary: Buffer.from('pässword'),
    });
    expect(req.maxPduLength).toBe(16384);
  });

  it('parses a JWT identity without a positive response requested; no sub-item leaves it undefined', () => {
    const req = parseAssociateRq(rqWith(subItem(0x58, identityValue(5, false, 'a.b.c'))));
    expect(req.userIdentity).toMatchObject({
      type: 5,
      positiveResponseRequested: false,
      secondary: Buffer.alloc(0),
    });
    expect(parseAssociateRq(rqWith()).userIdentity).toBeUndefined();
  });

  it.each([
    ['shorter than its fixed fields', Buffer.from([1, 0, 0, 0, 0]), /shorter than the fixed 6/],
    [
      'a primary field running past the sub-item',
      Buffer.from([1, 0, 0, 9, 0x61, 0, 0]),
      /primary field of 9 bytes runs past/,
    ],
    [
      'a secondary field running past the sub-item',
      Buffer.from([2, 0, 0, 1, 0x61, 0, 5, 0x62]),
      /secondary field of 5 bytes runs past/,
    ],
    [
      'bytes after the secondary field',
      Buffer.from([1, 0, 0, 1, 0x61, 0, 0, 0x7a]),
      /does not fill its 8-byte/,
    ],
    ['user identity type 0', Buffer.from([0, 0, 0, 1, 0x61, 0, 0]), /type 0/],
  ])('refuses a sub-item with %s as a malformed PDU', (_what, value, message) => {
    expect(malformedMessage(() => parseUserIdentity(value))).toMatch(message);
    expect(malformedMessage(() => parseAssociateRq(rqWith(subItem(0x58, value))))).toMatch(message);
  });

  it('refuses a user information sub-item whose length runs past its item, and a second identity', () => {
    const overrun = subItem(0x58, identityValue(1, false, 'tech1'));
    overrun.writeUInt16BE(200, 2);
    expect(malformedMessage(() => parseAssociateRq(rqWith(overrun)))).toMatch(
      /sub-item 0x58 runs past its item/,
    );
    const one = subItem(0x58, identityValue(1, false, 'tech1'));
    expect(malformedMessage(() => parseAssociateRq(rqWith(one, one)))).toMatch(/more than one user identity/);
  });
});

/** The user information sub-items of an A-ASSOCIATE-AC PDU. */
function acUserInfo(pdu: Buffer): Map<number, Buffer> {
  const body = pdu.subarray(6);
  let at = 68;
  while (body[at] !== 0x50) at += 4 + body.readUInt16BE(at + 2);
  const end = at + 4 + body.readUInt16BE(at + 2);
  const subs = new Map<number, Buffer>();
  for (let off = at + 4; off < end; off += 4 + body.readUInt16BE(off + 2))
    subs.set(body[off]!, body.subarray(off + 4, off + 4 + body.readUInt16BE(off + 2)));
  return subs;
}

describe('User Identity server response (0x59) in the A-ASSOCIATE-AC', () => {
  const req = parseAssociateRq(rqWith());

  it('carries an empty server response as a two-byte zero length', () => {
    const subs = acUserInfo(encodeAssociateAc(req, [], 16384, Buffer.alloc(0)));
    expect(subs.get(0x59)).toEqual(Buffer.from([0, 0]));
    expect([...subs.keys()]).toEqual([0x51, 0x52, 0x55, 0x59]);
  });

  it('carries a server response with its length, and no 0x59 sub-item when none is owed', () => {
    expect(acUserInfo(encodeAssociateAc(req, [], 16384, Buffer.from('tkt'))).get(0x59)).toEqual(
      Buffer.from([0, 3, 0x74, 0x6b, 0x74]),
    );
    expect(acUserInfo(encodeAssociateAc(req, [], 16384)).has(0x59)).toBe(false);
  });
});

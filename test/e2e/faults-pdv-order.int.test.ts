// Dataset PDVs must be stored in arrival order even while the spool lags and the socket is paused:
// a 64 MiB counter pattern sent in 4 KiB PDVs has to come back out of export byte for byte.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  eventsEventually,
  keyedScratch,
  type RecipientKeys,
  removeScratch,
  startAgent,
} from '../harness/agent.js';
import { datasetAfterMeta } from '../harness/dcmtk.js';
import { RawScu, Uids } from '../harness/raw-scu.js';
import { exportSpool, indexEntries, layoutProblems, spoolStatus } from '../harness/spool.js';

const UID_ROOT = '1.2.826.0.1.3680043.8.498.7717';

let root: string;
let keys: RecipientKeys;
let agent: AgentProcess | undefined;

beforeAll(async () => {
  ({ root, keys } = await keyedScratch('faults-pdv-order'));
});

afterAll(() => removeScratch(root, agent));

function el(group: number, element: number, vr: string, value: Buffer): Buffer {
  const padded =
    value.length % 2 === 1 ? Buffer.concat([value, Buffer.from([vr === 'UI' ? 0 : 0x20])]) : value;
  const long = vr === 'OW' || vr === 'OB';
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(padded.length, 8);
  else head.writeUInt16LE(padded.length, 6);
  return Buffer.concat([head, padded]);
}

const us = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};
const str = (s: string) => Buffer.from(s, 'latin1');

/**
 * An explicit VR LE Secondary Capture dataset whose 16-bit pixel data is a 32-bit counter: any PDV
 * that is lost, repeated or reordered changes the bytes at a place a comparison will find.
 */
function counterImage(sopInstanceUid: string, rows: number, columns: number): Buffer {
  const pixels = Buffer.alloc(rows * columns * 2);
  for (let i = 0; i + 4 <= pixels.length; i += 4) pixels.writeUInt32LE(i >>> 2, i);
  return Buffer.concat([
    el(0x0008, 0x0016, 'UI', str(Uids.SecondaryCaptureImageStorage)),
    el(0x0008, 0x0018, 'UI', str(sopInstanceUid)),
    el(0x0008, 0x0060, 'CS', str('OT')),
    el(0x0010, 0x0010, 'PN', str('FERRY^PDVORDER')),
    el(0x0010, 0x0020, 'LO', str('FERRYPDV1')),
    el(0x0020, 0x000d, 'UI', str(`${UID_ROOT}.1`)),
    el(0x0020, 0x000e, 'UI', str(`${UID_ROOT}.2`)),
    el(0x0028, 0x0002, 'US', us(1)),
    el(0x0028, 0x0004, 'CS', str('MONOCHROME2')),
    el(0x0028, 0x0010, 'US', us(rows)),
    el(0x0028, 0x0011, 'US', us(columns)),
    el(0x0028, 0x0100, 'US', us(16)),
    el(0x0028, 0x0101, 'US', us(16)),
    el(0x0028, 0x0102, 'US', us(15)),
    el(0x0028, 0x0103, 'US', us(0)),
    el(0x7fe0, 0x0010, 'OW', pixels),
  ]);
}

describe('PDV order under back-pressure', () => {
  it('stores a 64 MiB dataset sent in 4 KiB PDVs (and a 4 MiB one in odd 333-byte PDVs) byte-identical', async () => {
    agent = await startAgent({
      dataDir: join(root, 'agent'),
      config: { aeTitle: 'GATEWAY', recipientPublicKey: keys.publicJwk },
    });
    const big = {
      uid: `${UID_ROOT}.3.1`,
      dataset: counterImage(`${UID_ROOT}.3.1`, 4096, 8192),
      pdvSize: 4096,
    };
    const odd = {
      uid: `${UID_ROOT}.3.2`,
      dataset: counterImage(`${UID_ROOT}.3.2`, 1024, 2048),
      pdvSize: 333,
    };
    expect(big.dataset.length).toBeGreaterThan(64 * 1024 * 1024);

    const { scu } = await RawScu.open(agent.port, {
      maxPduLength: 16384,
      contexts: [
        {
          id: 1,
          abstractSyntax: Uids.SecondaryCaptureImageStorage,
          transferSyntaxes: [Uids.ExplicitVRLittleEndian],
        },
      ],
    });
    for (const [i, s] of [big, odd].entries()) {
      const rsp = await scu.store({
        contextId: 1,
        messageId: i + 1,
        sopClassUid: Uids.SecondaryCaptureImageStorage,
        sopInstanceUid: s.uid,
        dataset: s.dataset,
        pdvSize: s.pdvSize,
      });
      expect(rsp, s.uid).toMatchObject({
        status: 0,
        messageIdBeingRespondedTo: i + 1,
        affectedSopInstanceUid: s.uid,
      });
    }
    // The agent could not keep up with loopback writes: the sender had to wait for its socket to drain.
    expect(scu.drainWaits).toBeGreaterThan(0);
    await scu.release();

    const stored = await eventsEventually(agent, 'dicom.store', 2);
    expect(stored.map((e) => [e.sopInstanceUid, e.bytes, e.status])).toEqual([
      [big.uid, big.dataset.length, '0x0000'],
      [odd.uid, odd.dataset.length, '0x0000'],
    ]);
    expect((await spoolStatus(agent.dataDir)).count).toBe(2);
    // Both are past the 1 MiB inline limit: two object files of the indexed sizes, nothing in tmp/.
    const entries = await indexEntries(agent.dataDir);
    expect(entries.map((e) => [e.sopInstanceUid, e.inline]).sort()).toEqual([
      [big.uid, false],
      [odd.uid, false],
    ]);
    expect(await layoutProblems(agent.dataDir, entries)).toEqual([]);

    const out = await exportSpool(agent.dataDir, keys, join(root, 'export'));
    expect(out.code, out.stderr).toBe(0);
    for (const s of [big, odd]) {
      const file = out.files.get(`${s.uid}.dcm`);
      expect(file, s.uid).toBeDefined();
      const got = await datasetAfterMeta(file!);
      expect(got.length, s.uid).toBe(s.dataset.length);
      if (!got.equals(s.dataset)) {
        let at = 0;
        while (got[at] === s.dataset[at]) at++;
        expect.fail(`${s.uid}: first differing byte at offset ${at} of ${s.dataset.length}`);
      }
    }
  }, 180_000);
});

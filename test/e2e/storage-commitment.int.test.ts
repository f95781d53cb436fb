// Storage Commitment Push Model with the cloud as the judge: Orthanc (Debian's package) asks the
// gateway to commit instances through its REST API; the report comes only once the cloud holds each
// instance, a never-sent instance is reported failed, a kill -9 between request and receipt still
// ends in a report, and our own raw client gets its report on the requesting association.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TS } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommitmentResult } from '../../agent/src/dimse/commitment-dataset.js';
import { events, sleep } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { restampedSample } from '../harness/corpus.js';
import { dicomStrings, requireTool, storescu } from '../harness/dcmtk.js';
import { type OrthancPeer, requireOrthanc, startOrthanc } from '../harness/orthanc-peer.js';
import { encodeCommand, encodePData, PduType, parseResponse, RawScu } from '../harness/raw-scu.js';

const SC_CLASS = '1.2.840.10008.1.20.1';
const SC_INSTANCE = '1.2.840.10008.1.20.1.1';
const NEVER_SENT = '1.2.826.0.1.3680043.8.498.99999999999';

let cloud: Cloud;
let orthanc: OrthancPeer | undefined;
let cloudDown = false;

interface OrthancReport {
  Status: 'Pending' | 'Success' | 'Failure';
  Success: { SOPClassUID: string; SOPInstanceUID: string }[];
  Failures: { SOPClassUID: string; SOPInstanceUID: string; FailureReason: number }[];
}

/** Polls `check` (which may be async) until it holds; throws naming `what` after `timeoutMs`. */
async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** CT_small.dcm restamped: a CT Image Storage instance with a fresh SOP Instance UID. */
async function uidsOf(file: string): Promise<{ sopClassUid: string; sopInstanceUid: string }> {
  const [sopInstanceUid = ''] = await dicomStrings(file, ['SOPInstanceUID']);
  return { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid };
}

async function send(file: string): Promise<void> {
  const r = await storescu({
    port: cloud.agent.port,
    calledAe: cloud.aeTitle,
    callingAe: 'MODALITY',
    files: [file],
  });
  expect(r.code, r.stderr).toBe(0);
}

/** The SOP Instance UIDs the agent holds a cloud receipt for, with when it was recorded. */
async function receipts(): Promise<Map<string, number>> {
  const text = await readFile(join(cloud.agentDataDir, 'spool', 'receipts.log'), 'utf8').catch(() => '');
  const out = new Map<string, number>();
  for (const line of text.split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as { u: string; s: string; t: number };
    if (r.s === 'd') out.set(r.u, r.t);
  }
  return out;
}

async function askCommitment(refs: { sopClassUid: string; sopInstanceUid: string }[]): Promise<string> {
  const r = await orthanc!.api<{ ID: string }>('POST', '/modalities/ferry/storage-commitment', {
    DicomInstances: refs.map((x) => ({ SOPClassUID: x.sopClassUid, SOPInstanceUID: x.sopInstanceUid })),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.ID;
}

async function report(id: string): Promise<OrthancReport> {
  const r = await orthanc!.api<OrthancReport>('GET', `/storage-commitment/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function settledReport(id: string, timeoutMs: number): Promise<OrthancReport> {
  let last: OrthancReport | undefined;
  await until(
    async () => {
      last = await report(id);
      return last.Status !== 'Pending';
    },
    timeoutMs,
    `Orthanc's storage commitment report ${id}`,
  );
  return last!;
}

beforeAll(async () => {
  requireTool('storescu');
  await requireOrthanc();
  cloud = await startCloud({ name: 'commitment' });
  orthanc = await startOrthanc({
    dir: join(cloud.root, 'orthanc'),
    modalities: { ferry: [cloud.aeTitle, '127.0.0.1', cloud.agent.port] },
  });
  const put = await cloud.api('PUT', '/api/v1/settings/gateways', {
    peers: [{ name: 'Orthanc', aeTitle: orthanc.aeTitle, host: '127.0.0.1', port: orthanc.dicomPort }],
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  // The peers must be in force (and in agent.json, which a restarted agent reads) before we start.
  await until(
    async () => JSON.stringify((await cloud.agentConfig()).peers ?? []).includes(String(orthanc?.dicomPort)),
    30_000,
    'the peers applied',
  );
}, 120_000);

afterAll(async () => {
  await orthanc?.stop();
  await cloud?.close();
});

describe('storage commitment with Orthanc as the requester', () => {
  it('reports a never-sent instance failed at once, and a sent one only after the cloud receipt, through a kill -9', async () => {
    const file = await restampedSample('CT_small.dcm', 'commitment-orthanc');
    const sent = await uidsOf(file);
    await cloud.stopControlPlane();
    cloudDown = true;
    await send(file);

    const held = await askCommitment([sent]);
    const never = await askCommitment([{ sopClassUid: sent.sopClassUid, sopInstanceUid: NEVER_SENT }]);
    // The never-sent instance needs no cloud to be known as failed.
    const failed = await settledReport(never, 30_000);
    expect(failed.Status).toBe('Failure');
    expect(failed.Success).toEqual([]);
    expect(failed.Failures).toMatchObject([
      { SOPClassUID: sent.sopClassUid, SOPInstanceUID: NEVER_SENT, FailureReason: 0x0112 },
    ]);
    // The sent one is in the spool but not in the cloud: no commitment.
    await sleep(2000);
    expect((await report(held)).Status).toBe('Pending');
    expect((await receipts()).has(sent.sopInstanceUid)).toBe(false);

    // kill -9 between request and receipt: the request is on disk and is picked up again.
    await cloud.agent.kill9();
    const agent = await cloud.restartAgent();
    await until(() => events(agent, 'dicom.commitment_resumed').length > 0, 10_000, 'the request resumed');
    expect(events(agent, 'dicom.commitment_resumed')[0]).toMatchObject({ requests: 1 });
    await sleep(1500);
    expect((await report(held)).Status).toBe('Pending');

    await cloud.startControlPlane();
    cloudDown = false;
    const ok = await settledReport(held, 120_000);
    expect(ok.Status).toBe('Success');
    expect(ok.Success).toEqual([{ SOPClassUID: sent.sopClassUid, SOPInstanceUID: sent.sopInstanceUid }]);
    expect(ok.Failures).toEqual([]);
    // The report followed the cloud's receipt, never the other way round.
    const receivedAt = (await receipts()).get(sent.sopInstanceUid);
    // The agent logs after the requester answered; its stdout may reach us a little later.
    await until(
      () => events(cloud.agent, 'dicom.commitment_reported').some((e) => e.transactionUid === held),
      10_000,
      'the report logged',
    );
    const reported = events(cloud.agent, 'dicom.commitment_reported').find((e) => e.transactionUid === held);
    expect(receivedAt).toBeDefined();
    expect(reported).toMatchObject({ via: 'new-association', status: 0 });
    expect(Number(reported?.time)).toBeGreaterThanOrEqual(receivedAt!);
  }, 240_000);
});

/** Reads the next DIMSE message (command and, when announced, dataset) on `scu`. */
async function nextMessage(scu: RawScu): Promise<{ command: Buffer; contextId: number; dataset?: Buffer }> {
  const command: Buffer[] = [];
  const dataset: Buffer[] = [];
  let contextId = 0;
  let commandDone = false;
  for (;;) {
    const pdu = await scu.nextPdu(30_000);
    if (!pdu || pdu.type !== PduType.PData) throw new Error(`expected P-DATA, got ${pdu?.type ?? 'close'}`);
    for (let off = 0; off + 6 <= pdu.body.length; ) {
      const len = pdu.body.readUInt32BE(off);
      contextId = pdu.body[off + 4] ?? 0;
      const control = pdu.body[off + 5] ?? 0;
      (control & 1 ? command : dataset).push(pdu.body.subarray(off + 6, off + 4 + len));
      off += 4 + len;
      if (control & 1 && control & 2) {
        commandDone = true;
        if (parseResponse(Buffer.concat(command)).elements.get(0x0800)?.readUInt16LE(0) === 0x0101)
          return { command: Buffer.concat(command), contextId };
      }
      if (!(control & 1) && control & 2 && commandDone)
        return { command: Buffer.concat(command), contextId, dataset: Buffer.concat(dataset) };
    }
  }
}

function nAction(messageId: number, actionType: number, dataset?: Buffer): Buffer[] {
  const command = encodeCommand([
    [0x0003, SC_CLASS],
    [0x0100, 0x0130],
    [0x0110, messageId],
    [0x0800, dataset ? 0x0000 : 0x0101],
    [0x1001, SC_INSTANCE],
    [0x1008, actionType],
  ]);
  return [
    encodePData([{ contextId: 1, isCommand: true, isLast: true, data: command }]),
    ...(dataset ? [encodePData([{ contextId: 1, isCommand: false, isLast: true, data: dataset }])] : []),
  ];
}

/** Explicit VR LE N-ACTION dataset: Transaction UID and Referenced SOP Sequence. */
function actionDataset(
  transactionUid: string | undefined,
  refs: { sopClassUid: string; sopInstanceUid: string }[],
) {
  const el = (e: number, vr: string, v: Buffer) => {
    const h = Buffer.alloc(vr === 'SQ' ? 12 : 8);
    h.writeUInt16LE(0x0008, 0);
    h.writeUInt16LE(e, 2);
    h.write(vr, 4, 'latin1');
    if (vr === 'SQ') h.writeUInt32LE(v.length, 8);
    else h.writeUInt16LE(v.length, 6);
    return Buffer.concat([h, v]);
  };
  const ui = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
  const items = refs.map((r) => {
    const body = Buffer.concat([el(0x1150, 'UI', ui(r.sopClassUid)), el(0x1155, 'UI', ui(r.sopInstanceUid))]);
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0xfffe, 0);
    h.writeUInt16LE(0xe000, 2);
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body]);
  });
  return Buffer.concat([
    ...(transactionUid ? [el(0x1195, 'UI', ui(transactionUid))] : []),
    el(0x1199, 'SQ', Buffer.concat(items)),
  ]);
}

describe('storage commitment with our raw client', () => {
  it('answers bad N-ACTIONs with a failure status and reports on the requesting association', async () => {
    if (cloudDown) await cloud.startControlPlane();
    const file = await restampedSample('CT_small.dcm', 'commitment-raw');
    const sent = await uidsOf(file);
    await send(file);
    await until(async () => (await receipts()).has(sent.sopInstanceUid), 60_000, 'the cloud receipt');

    const { scu, ac } = await RawScu.open(cloud.agent.port, {
      callingAe: 'RAWSCU',
      calledAe: cloud.aeTitle,
      contexts: [{ id: 1, abstractSyntax: SC_CLASS, transferSyntaxes: [TS.ExplicitVRLittleEndian] }],
    });
    try {
      expect(ac.contexts.find((c) => c.id === 1)).toMatchObject({ result: 0 });
      const answer = async (pdus: Buffer[]) => {
        for (const p of pdus) await scu.sendRaw(p);
        return parseResponse((await nextMessage(scu)).command);
      };
      expect(await answer(nAction(1, 2, actionDataset('2.25.1', [sent])))).toMatchObject({
        commandField: 0x8130,
        messageIdBeingRespondedTo: 1,
        status: 0x0123,
      });
      expect(await answer(nAction(2, 1))).toMatchObject({ status: 0x0115 });
      const noTx = await answer(nAction(3, 1, actionDataset(undefined, [sent])));
      expect(noTx).toMatchObject({ status: 0x0115 });
      expect(noTx.errorComment).toMatch(/Transaction UID/);

      const tx = `2.25.${Date.now()}`;
      const never = { sopClassUid: sent.sopClassUid, sopInstanceUid: NEVER_SENT };
      expect(await answer(nAction(4, 1, actionDataset(tx, [sent, never])))).toMatchObject({
        commandField: 0x8130,
        messageIdBeingRespondedTo: 4,
        status: 0,
      });
      // The report comes on this association: N-EVENT-REPORT-RQ, event type 2 (failures exist).
      const rq = await nextMessage(scu);
      const cmd = parseResponse(rq.command);
      expect(cmd.commandField).toBe(0x0100);
      expect(cmd.elements.get(0x1002)?.readUInt16LE(0)).toBe(2);
      expect(cmd.affectedSopInstanceUid).toBe(SC_INSTANCE);
      expect(parseCommitmentResult(rq.dataset!, TS.ExplicitVRLittleEndian)).toEqual({
        transactionUid: tx,
        committed: [sent],
        failed: [{ ...never, reason: 0x0112 }],
      });
      const messageId = cmd.elements.get(0x0110)?.readUInt16LE(0) ?? -1;
      const rsp = encodeCommand([
        [0x0002, SC_CLASS],
        [0x0100, 0x8100],
        [0x0120, messageId],
        [0x0800, 0x0101],
        [0x0900, 0],
        [0x1000, SC_INSTANCE],
      ]);
      await scu.sendRaw(encodePData([{ contextId: rq.contextId, isCommand: true, isLast: true, data: rsp }]));
      await until(
        () => events(cloud.agent, 'dicom.commitment_reported').some((e) => e.transactionUid === tx),
        10_000,
        'the report answered',
      );
      expect(
        events(cloud.agent, 'dicom.commitment_reported').find((e) => e.transactionUid === tx),
      ).toMatchObject({ via: 'same-association', status: 0 });
      await scu.release();
    } finally {
      scu.destroy();
    }
  }, 120_000);
});

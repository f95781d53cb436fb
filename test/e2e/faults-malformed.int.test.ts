// Hostile and broken peers hammer the agent's port while a real modality sends a CT series: the
// send must complete untouched, every bad connection must be closed, and the agent must say why.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  events,
  keyedScratch,
  type RecipientKeys,
  removeScratch,
  sleep,
  startAgent,
} from '../harness/agent.js';
import { CT_COUNT, corpusFiles, ctCorpus } from '../harness/corpus.js';
import { echoscu, parseStorescuOutput, storescu } from '../harness/dcmtk.js';
import {
  encodeAssociateRq,
  encodeCEchoRq,
  encodeCStoreRq,
  encodePData,
  encodePdu,
  PduType,
  RawScu,
  Uids,
  verificationContext,
} from '../harness/raw-scu.js';
import { duplicateEntries, indexEntries, layoutProblems, spoolDirs, spoolStatus } from '../harness/spool.js';

const CT_FILES = CT_COUNT;
const ARTIM_MS = 3000;
const IDLE_MS = 3000;
const MAX_PDU = 65536;

let root: string;
let keys: RecipientKeys;
let ctFiles: string[];
let agent: AgentProcess | undefined;

beforeAll(async () => {
  ctFiles = (await corpusFiles(await ctCorpus())).slice(0, CT_FILES);
  ({ root, keys } = await keyedScratch('faults-malformed'));
}, 900_000);

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

afterAll(async () => {
  await removeScratch(root);
});

async function startTestAgent(name: string): Promise<AgentProcess> {
  agent = await startAgent({
    dataDir: join(root, name),
    config: {
      aeTitle: 'GATEWAY',
      recipientPublicKey: keys.publicJwk,
      maxPduLength: MAX_PDU,
      timeouts: { artimMs: ARTIM_MS, idleMs: IDLE_MS },
    },
  });
  return agent;
}

interface AttackResult {
  name: string;
  /** ms from the attack's last byte to the socket closing; null if it was still open at the deadline. */
  closedAfterMs: number | null;
  /** Types of the PDUs the agent sent back. */
  replies: number[];
}

/** Connects, runs `act` (errors from a peer that hangs up mid-send are expected), then waits for close. */
async function attack(
  port: number,
  name: string,
  act: (scu: RawScu) => Promise<void>,
  deadlineMs: number,
): Promise<AttackResult> {
  const scu = await RawScu.connect(port);
  try {
    await act(scu);
  } catch {
    // the agent may close before we finish writing
  }
  const sentAt = Date.now();
  const closed = await Promise.race([scu.closed.then(() => true), sleep(deadlineMs).then(() => false)]);
  const closedAfterMs = closed ? Date.now() - sentAt : null;
  const replies: number[] = [];
  if (closed) {
    for (let p = await scu.nextPdu(1); p; p = await scu.nextPdu(1)) replies.push(p.type);
  }
  scu.destroy();
  return { name, closedAfterMs, replies };
}

const send = (bytes: Buffer) => async (scu: RawScu) => scu.sendRaw(bytes);

async function associated(scu: RawScu, contexts = [verificationContext()]): Promise<void> {
  const outcome = await scu.associate({ contexts });
  if (outcome.kind !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(outcome)}`);
}

/** Connections the agent must abort at once, by what they sent, not by a timer. */
function quickAttacks(port: number): Promise<AttackResult>[] {
  const random = randomBytes(4096);
  random[0] = 0x08 + (random[0]! % 0xf8); // never a valid PDU type
  const rq = encodeAssociateRq();
  const truncatedItems = encodePdu(PduType.AssociateRq, rq.subarray(6, rq.length - 9));
  const controlHuge = Buffer.from([PduType.AssociateRq, 0, 0, 0x20, 0, 0]); // 2 MiB A-ASSOCIATE-RQ
  const oversized = Buffer.alloc(6);
  oversized[0] = PduType.PData;
  oversized.writeUInt32BE(MAX_PDU + 1, 2);
  const d = 2000;
  return [
    attack(port, 'random bytes', send(random), d),
    attack(port, 'wrong PDU type', send(Buffer.from([0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0])), d),
    attack(
      port,
      'P-DATA before association',
      send(encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(1) }])),
      d,
    ),
    attack(port, 'A-ASSOCIATE-RQ with truncated items', send(truncatedItems), d),
    attack(port, 'control PDU over 128 KiB', send(controlHuge), d),
    attack(
      port,
      'P-DATA over maxPduLength',
      async (scu) => {
        await associated(scu);
        await scu.sendRaw(Buffer.concat([oversized, Buffer.alloc(1024)]));
      },
      d,
    ),
  ];
}

describe('malformed peers while a modality sends', () => {
  it('keeps receiving, closes every bad connection and logs why', async () => {
    const a = await startTestAgent('hammer');
    const port = a.port;

    let sending = true;
    const sendDone = storescu({ port, files: ctFiles, verbose: true, timeoutMs: 240_000 }).finally(() => {
      sending = false;
    });

    // Slow peers, running through the whole send.
    const rq = encodeAssociateRq();
    const slowloris = attack(
      port,
      'slowloris (1 byte / 100 ms)',
      async (scu) => {
        for (let i = 0; i < rq.length - 1 && sending && !scu.isClosed; i++) {
          await scu.sendRaw(rq.subarray(i, i + 1));
          await sleep(100);
        }
      },
      ARTIM_MS + 5000,
    );
    const stallInRq = attack(port, 'stall inside A-ASSOCIATE-RQ', send(rq.subarray(0, 40)), ARTIM_MS + 5000);
    const stallInData = attack(
      port,
      'stall inside a dataset P-DATA PDU',
      async (scu) => {
        await associated(scu, [
          { id: 1, abstractSyntax: Uids.CtImageStorage, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
        ]);
        const command = encodeCStoreRq({
          messageId: 1,
          sopClassUid: Uids.CtImageStorage,
          sopInstanceUid: '1.2.826.0.1.3680043.8.498.999',
        });
        await scu.sendRaw(encodePData([{ contextId: 1, isCommand: true, isLast: true, data: command }]));
        const pdu = encodePData([
          { contextId: 1, isCommand: false, isLast: false, data: Buffer.alloc(16_000, 1) },
        ]);
        await scu.sendRaw(pdu.subarray(0, 9000));
      },
      IDLE_MS + 5000,
    );

    const quick: AttackResult[] = [];
    let rounds = 0;
    while (sending || rounds < 3) {
      quick.push(...(await Promise.all(quickAttacks(port))));
      rounds++;
      await sleep(50);
    }
    const sent = await sendDone;
    const slow = await Promise.all([slowloris, stallInRq, stallInData]);

    // The modality's send is untouched.
    expect(sent.code, sent.stderr.slice(-3000)).toBe(0);
    const summary = parseStorescuOutput(sent.stderr);
    expect(summary).toMatchObject({ succeeded: ctFiles.length, failed: 0 });

    // Every malformed connection was aborted at once; every stalled one when its timer ran out.
    for (const r of quick) {
      expect(r.closedAfterMs, `${r.name} was not closed`).not.toBeNull();
      expect(r.closedAfterMs!, r.name).toBeLessThan(Math.min(ARTIM_MS, IDLE_MS) - 500);
      expect(r.replies.at(-1), r.name).toBe(PduType.Abort);
    }
    for (const r of slow) {
      expect(r.closedAfterMs, `${r.name} was not closed`).not.toBeNull();
      expect(r.replies.at(-1), r.name).toBe(PduType.Abort);
    }

    // Still alive and serving.
    expect(a.child.exitCode).toBeNull();
    const echo = await echoscu({ port, timeoutMs: 15_000 });
    expect(echo.code, echo.stderr).toBe(0);

    // The log says what happened, and to whom. It is one ordered stream: once the echo's association
    // has been logged as closed, every earlier line has arrived.
    await expect
      .poll(() => events(a, 'dicom.association_closed').filter((e) => e.callingAe === 'ECHOSCU').length)
      .toBe(1);
    const malformed = events(a, 'dicom.pdu_malformed');
    const tooLarge = events(a, 'dicom.pdu_too_large');
    const aborts = events(a, 'dicom.abort');
    expect(malformed.length).toBeGreaterThanOrEqual(2 * rounds);
    expect(malformed.some((e) => /unrecognized PDU type 0x09/.test(String(e.reason)))).toBe(true);
    expect(tooLarge.length).toBeGreaterThanOrEqual(2 * rounds);
    expect(
      tooLarge.some((e) => /P-DATA-TF PDU of 65537 bytes exceeds the maximum 65536/.test(String(e.reason))),
    ).toBe(true);
    expect(
      tooLarge.some((e) =>
        /A-ASSOCIATE-RQ of 2097152 bytes exceeds the maximum 131072/.test(String(e.reason)),
      ),
    ).toBe(true);
    for (const e of [...malformed, ...tooLarge, ...aborts])
      expect(String(e.peer)).toMatch(/127\.0\.0\.1:\d+$/);
    const reasons = aborts.map((e) => String(e.reason));
    expect(reasons.filter((r) => r === 'P-DATA-TF outside an association').length).toBeGreaterThanOrEqual(
      rounds,
    );
    expect(
      reasons.filter((r) => /^A-ASSOCIATE-RQ: item 0x50 runs past the PDU/.test(r)).length,
    ).toBeGreaterThanOrEqual(rounds);
    expect(reasons).toContain(`ARTIM timer expired after ${ARTIM_MS} ms`);
    expect(reasons).toContain(`idle for ${IDLE_MS} ms`);
    expect(events(a, 'dicom.store_aborted')).toEqual([
      expect.objectContaining({ sopInstanceUid: '1.2.826.0.1.3680043.8.498.999' }),
    ]);

    // Exactly the modality's instances are spooled, and nothing half-written is left behind.
    expect((await spoolStatus(a.dataDir)).count).toBe(ctFiles.length);
    await expect.poll(async () => (await spoolDirs(a.dataDir)).tmp).toEqual([]);
    const entries = await indexEntries(a.dataDir);
    expect(entries).toHaveLength(ctFiles.length);
    expect(duplicateEntries(entries)).toEqual([]);
    expect(await layoutProblems(a.dataDir, entries)).toEqual([]);
  }, 300_000);

  it('ARTIM bounds the whole A-ASSOCIATE-RQ: a slowloris dripping bytes is closed after artimMs', async () => {
    const a = await startTestAgent('slowloris');
    const rq = encodeAssociateRq();
    const started = Date.now();
    let dripped = 0;
    const scu = await RawScu.connect(a.port);
    // Drip for up to ARTIM + 4 s; a correct ARTIM closes the connection long before the drip ends.
    while (!scu.isClosed && Date.now() - started < ARTIM_MS + 4000 && dripped < rq.length - 1) {
      await scu.sendRaw(rq.subarray(dripped, dripped + 1)).catch(() => undefined);
      dripped++;
      await sleep(100);
    }
    await Promise.race([scu.closed, sleep(ARTIM_MS + 2000)]);
    const ms = Date.now() - started;
    const open = !scu.isClosed;
    scu.destroy();
    expect(open, `still open after ${ms} ms and ${dripped} bytes (ARTIM is ${ARTIM_MS} ms)`).toBe(false);
    expect(ms, `closed after ${ms} ms and ${dripped} bytes (ARTIM is ${ARTIM_MS} ms)`).toBeLessThan(
      ARTIM_MS + 1500,
    );
  }, 60_000);
});

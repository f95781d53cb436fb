// The agent's DICOM port under attack: a seeded PDU fuzzer, 500 concurrent associations from one
// caller, 300 silent sockets from one address, 900 KiB A-ASSOCIATE-RQs, a sender stalling inside a
// PDU and one dribbling a PDU a byte at a time. Each time the
// agent must stay up, keep serving well-behaved senders (DCMTK), say why it cut each peer off, and
// give back its sockets and partial spool files.
//
// FERRY_FUZZ_SEED reproduces a fuzz run (the seed is printed); FERRY_FUZZ_MS sets its length.
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
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
import { pydicomSamplesDir } from '../harness/corpus.js';
import { echoscu, storescu, type ToolResult } from '../harness/dcmtk.js';
import { type FuzzCase, fuzzSeed, MUTATIONS, PduFuzzer } from '../harness/pdu-fuzzer.js';
import {
  type AssociateOutcome,
  encodeAssociateRq,
  encodeCEchoRq,
  encodeCStoreRq,
  encodePData,
  PduType,
  RawScu,
  Uids,
  verificationContext,
} from '../harness/raw-scu.js';
import { spoolDirs } from '../harness/spool.js';
import { sendWithoutReading } from '../harness/unread-flood.js';

const SAMPLE = join(pydicomSamplesDir, 'SC_rgb_small_odd.dcm');
const FUZZ_MS = Number(process.env.FERRY_FUZZ_MS ?? 20_000);
const FUZZ_WORKERS = 8;
const FUZZ_MAX_PDU = 65536;
/** Descriptors the agent may hold beyond its baseline once all is over (a new spool log segment, say). */
const FD_SLACK = 3;

let root: string;
let keys: RecipientKeys;
const running: AgentProcess[] = [];

beforeAll(async () => {
  ({ root, keys } = await keyedScratch('attack-dicom'));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await removeScratch(root);
});

async function agentWith(name: string, config: Record<string, unknown>): Promise<AgentProcess> {
  const a = await startAgent({
    dataDir: join(root, name),
    config: { aeTitle: 'GATEWAY', recipientPublicKey: keys.publicJwk, ...config },
  });
  running.push(a);
  return a;
}

const fdCount = async (a: AgentProcess) => (await readdir(`/proc/${a.pid}/fd`)).length;

/** One echo and one store, so the spool's files are open before the baseline is taken. */
async function warmUp(a: AgentProcess): Promise<number> {
  await expectServed(await echoscu({ port: a.port, timeoutMs: 30_000 }));
  await expectServed(await storescu({ port: a.port, files: [SAMPLE], timeoutMs: 30_000 }));
  return fdCount(a);
}

function expectServed(r: ToolResult): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`.slice(-2000)).toBe(0);
}

/** Associations the agent logged as accepted and not (yet) as closed. */
function openAssociations(a: AgentProcess): string[] {
  const closed = new Set(events(a, 'dicom.association_closed').map((e) => e.assoc));
  return events(a, 'dicom.association_accepted')
    .map((e) => e.assoc)
    .filter((id) => !closed.has(id))
    .map(String);
}

/** Waits until the agent is back to its baseline: no association open, its sockets closed. */
async function expectResourcesFreed(a: AgentProcess, baselineFds: number): Promise<void> {
  await expect.poll(() => openAssociations(a), { timeout: 20_000 }).toEqual([]);
  await expect
    .poll(() => fdCount(a), { timeout: 20_000, interval: 200 })
    .toBeLessThanOrEqual(baselineFds + FD_SLACK);
  await expect.poll(async () => (await spoolDirs(a.dataDir)).tmp, { timeout: 20_000 }).toEqual([]);
  expect(a.child.exitCode).toBeNull();
}

/** Log lines grouped by the peer (address:port) they name. */
function eventsByPeer(a: AgentProcess): Map<string, Record<string, unknown>[]> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const l of a.logLines()) {
    if (typeof l.peer !== 'string') continue;
    const list = out.get(l.peer) ?? [];
    list.push(l);
    out.set(l.peer, list);
  }
  return out;
}

/** Runs DCMTK senders one after another, alternating echo and store, until `busy()` turns false. */
async function wellBehaved(port: number, busy: () => boolean): Promise<ToolResult[]> {
  const results: ToolResult[] = [];
  for (let i = 0; busy() || i < 2; i++) {
    results.push(
      i % 2 === 0
        ? await echoscu({ port, timeoutMs: 30_000 })
        : await storescu({ port, files: [SAMPLE], timeoutMs: 30_000 }),
    );
    await sleep(300);
  }
  return results;
}

// ------------------------------------------------------------------------------------------ fuzz

interface CaseResult {
  fuzz: FuzzCase;
  peer: string;
  closed: boolean;
  replies: number[];
}

/** Sends one fuzz case and waits for the agent to hang up; `closed` is false if it never did. */
async function runCase(port: number, fuzz: FuzzCase, deadlineMs: number): Promise<CaseResult> {
  const scu = await RawScu.connect(port);
  const peer = `127.0.0.1:${scu.socket.localPort}`;
  const started = Date.now();
  try {
    for (const w of fuzz.writes) {
      if (fuzz.dribbleMs === undefined) {
        await scu.sendRaw(w);
        await sleep(10);
        continue;
      }
      for (let i = 0; i < w.length && !scu.isClosed && Date.now() - started < deadlineMs; i++) {
        await scu.sendRaw(w.subarray(i, i + 1));
        await sleep(fuzz.dribbleMs);
      }
    }
  } catch {
    // The agent may hang up before we finish writing.
  }
  const left = Math.max(0, deadlineMs - (Date.now() - started));
  const closed = await Promise.race([scu.closed.then(() => true), sleep(left).then(() => false)]);
  const replies: number[] = [];
  if (closed) for (let p = await scu.nextPdu(1); p; p = await scu.nextPdu(1)) replies.push(p.type);
  scu.destroy();
  return { fuzz, peer, closed, replies };
}

/** Why the agent cut a fuzz peer off, from its log: the coded events that name the peer. */
const CUT_OFF_EVENTS = new Set([
  'dicom.pdu_malformed',
  'dicom.pdu_too_large',
  'dicom.pdu_timeout',
  'dicom.abort',
  'dicom.association_rejected',
  'dicom.peer_abort',
]);

describe('seeded PDU fuzzer against the port', () => {
  it('stays up, serves DCMTK throughout, answers every bad connection and frees what it held', async () => {
    const seed = fuzzSeed();
    console.log(`attack-dicom fuzz seed ${seed} (FERRY_FUZZ_SEED=${seed} reproduces it), ${FUZZ_MS} ms`);
    const timeouts = { artimMs: 2000, idleMs: 2000, pduMs: 2000 };
    const a = await agentWith('fuzz', { maxPduLength: FUZZ_MAX_PDU, timeouts });
    const baselineFds = await warmUp(a);

    const fuzzer = new PduFuzzer(seed, { maxPduLength: FUZZ_MAX_PDU });
    const until = Date.now() + FUZZ_MS;
    let fuzzing = true;
    const caseDeadline = timeouts.artimMs + timeouts.idleMs + 10_000;
    const workers = Array.from({ length: FUZZ_WORKERS }, async () => {
      const out: CaseResult[] = [];
      while (Date.now() < until) out.push(await runCase(a.port, fuzzer.next(), caseDeadline));
      return out;
    });
    const senders = wellBehaved(a.port, () => fuzzing);
    const results = (await Promise.all(workers)).flat();
    fuzzing = false;
    const served = await senders;

    // The well-behaved senders were all served, and the agent is still running.
    for (const r of served) expectServed(r);
    expect(a.child.exitCode).toBeNull();
    const seen = new Set(results.map((r) => r.fuzz.mutation));
    expect(
      [...MUTATIONS].filter((m) => !seen.has(m)),
      `seed ${seed}`,
    ).toEqual([]);

    // No connection was left hanging; each was answered with A-ABORT or A-ASSOCIATE-RJ, or closed
    // after our own A-ABORT. The log names the peer and why, in a coded event.
    const what = (r: CaseResult) => `seed ${seed} case ${r.fuzz.index} (${r.fuzz.description})`;
    for (const r of results) expect(r.closed, `${what(r)} was never closed`).toBe(true);
    // One ordered log stream: once this echo's association is logged closed, every line before it is in.
    expectServed(await echoscu({ port: a.port, callingAe: 'LAST_ECHO', timeoutMs: 30_000 }));
    await expect
      .poll(() => events(a, 'dicom.association_closed').filter((e) => e.callingAe === 'LAST_ECHO').length)
      .toBe(1);
    const byPeer = eventsByPeer(a);
    for (const r of results) {
      const logged = (byPeer.get(r.peer) ?? []).filter((e) => CUT_OFF_EVENTS.has(String(e.event)));
      expect(logged.length, `${what(r)}: no coded event names ${r.peer}`).toBeGreaterThan(0);
      const peerAborted = logged.some((e) => e.event === 'dicom.peer_abort');
      const last = r.replies.at(-1);
      if (!peerAborted)
        expect([PduType.Abort, PduType.AssociateRj], `${what(r)} got ${r.replies}`).toContain(last);
      if (last === PduType.AssociateRj)
        expect(
          logged.map((e) => e.event),
          what(r),
        ).toContain('dicom.association_rejected');
      if (last === PduType.Abort) {
        const why = logged.filter((e) => e.event === 'dicom.abort').map((e) => String(e.reason));
        expect(why.length, what(r)).toBeGreaterThan(0);
        expect(why.every((w) => w.length > 0)).toBe(true);
      }
    }
    const reasons = (event: string) => events(a, event).map((e) => String(e.reason));
    expect(reasons('dicom.pdu_malformed').some((r) => /unrecognized PDU type/.test(r))).toBe(true);
    expect(reasons('dicom.pdu_too_large').some((r) => /exceeds the maximum/.test(r))).toBe(true);
    console.log(
      `attack-dicom fuzz: ${results.length} cases, ${served.length} DCMTK runs served, ` +
        `${events(a, 'dicom.pdu_malformed').length} malformed, ${events(a, 'dicom.pdu_too_large').length} too large, ` +
        `${events(a, 'dicom.pdu_timeout').length} PDU timeouts, ${events(a, 'dicom.abort').length} aborts`,
    );

    await expectResourcesFreed(a, baselineFds);
  }, 90_000);
});

// ----------------------------------------------------------------------------------------- flood

describe('500 concurrent associations from one caller', () => {
  it('keeps a share of the pool for other callers, rejects the rest at once as busy, and frees it all', async () => {
    // maxAssociations is the default 32, so one calling AE title may hold 16. Every peer here is
    // 127.0.0.1, and this is about association slots, so the cap on connections still to
    // associate is lifted (the socket flood below tests that cap).
    const a = await agentWith('flood', {
      timeouts: { artimMs: 10_000, idleMs: 120_000 },
      maxPendingPerAddress: 1000,
      maxPendingConnections: 1000,
    });
    const baselineFds = await warmUp(a);

    // Sockets that connect and say nothing hold no slot (ARTIM bounds them): others get in.
    const silent = await Promise.all(Array.from({ length: 200 }, () => RawScu.connect(a.port)));
    expectServed(await echoscu({ port: a.port, callingAe: 'EARLY', timeoutMs: 30_000 }));

    const flood = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const scu = await RawScu.connect(a.port);
        const outcome: AssociateOutcome = await scu.associate({ callingAe: 'FLOOD' }, 30_000);
        return { scu, outcome };
      }),
    );
    const accepted = flood.filter((f) => f.outcome.kind === 'accepted');
    const rejected = flood.filter((f) => f.outcome.kind === 'rejected');
    expect(accepted).toHaveLength(16);
    expect(rejected).toHaveLength(484);
    for (const r of rejected)
      expect(r.outcome).toEqual({ kind: 'rejected', result: 2, source: 3, reason: 2 });

    // While the flood holds its share, another caller is served, and the held associations work.
    expectServed(await storescu({ port: a.port, callingAe: 'MODALITY', files: [SAMPLE], timeoutMs: 30_000 }));
    expectServed(await echoscu({ port: a.port, callingAe: 'PACS', timeoutMs: 30_000 }));
    expect((await accepted[0]!.scu.echo(1, 7)).status).toBe(0);
    expect(a.child.exitCode).toBeNull();

    await expect
      .poll(() => events(a, 'dicom.association_rejected').filter((e) => e.callingAe === 'FLOOD').length)
      .toBe(484);
    const why = events(a, 'dicom.association_rejected').filter((e) => e.callingAe === 'FLOOD');
    expect(
      why.every((e) => /^calling AE title "FLOOD" already holds 16 associations/.test(String(e.reason))),
    ).toBe(true);

    await Promise.all(accepted.map((f) => f.scu.release()));
    for (const f of flood) f.scu.destroy();
    for (const scu of silent) scu.destroy();
    await expectResourcesFreed(a, baselineFds);
    const closed = events(a, 'dicom.association_closed').filter((e) => e.callingAe === 'FLOOD');
    expect(closed.filter((e) => e.released)).toHaveLength(16);
  }, 90_000);
});

// ---------------------------------------------------------------------------------- socket flood

/** A TCP connection to the agent from `from` (any 127.x address is loopback on Linux). */
async function connectFrom(port: number, from: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = createConnection({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => undefined);
  await once(socket, 'connect');
  return { socket, closed };
}

const rssBytes = async (a: AgentProcess) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${a.pid}/status`, 'utf8'))?.[1]) * 1024;

describe('connections that never associate', () => {
  it('closes a flood of silent sockets from one address at its cap, serving other addresses meanwhile', async () => {
    // ARTIM is long: what closes the flood must be the cap (default 16 per address), not the timer.
    const a = await agentWith('silent', { timeouts: { artimMs: 20_000 } });
    const baselineFds = await warmUp(a);

    // The flood comes from 127.0.0.2 so the DCMTK sender (127.0.0.1) is another address.
    const flood = await Promise.all(Array.from({ length: 300 }, () => connectFrom(a.port, '127.0.0.2')));
    let closed = 0;
    for (const f of flood) void f.closed.then(() => closed++);
    await expect.poll(() => closed, { timeout: 10_000 }).toBe(284);
    // The 16 let in are held, and the agent holds no more descriptors than those.
    expect(flood.filter((f) => !f.socket.destroyed)).toHaveLength(16);
    expect(await fdCount(a)).toBeLessThanOrEqual(baselineFds + 16 + FD_SLACK);
    expectServed(await storescu({ port: a.port, callingAe: 'MODALITY', files: [SAMPLE], timeoutMs: 30_000 }));
    // Refusals after the first are logged together once the 1 s window ends, and the agent's lines
    // leave in batches (up to 100 ms late): wait past both.
    await expect
      .poll(() => events(a, 'dicom.connection_refused').reduce((n, e) => n + Number(e.refused), 0), {
        timeout: 5_000,
      })
      .toBe(284);
    for (const e of events(a, 'dicom.connection_refused')) {
      expect(e.peers).toEqual(['127.0.0.2']);
      expect(String(e.reason)).toMatch(/from this address are already waiting to associate \(limit 16\)$/);
    }
    // A flood of 300 refusals is a few log lines, not 300.
    expect(events(a, 'dicom.connection_refused').length).toBeLessThan(20);

    for (const f of flood) f.socket.destroy();
    await expectResourcesFreed(a, baselineFds);
    // Once the flood is gone, its own address gets in again.
    const after = await connectFrom(a.port, '127.0.0.2');
    after.socket.write(encodeAssociateRq({ callingAe: 'AFTER', contexts: [verificationContext()] }));
    const [reply] = (await once(after.socket, 'data')) as [Buffer];
    expect(reply[0]).toBe(PduType.AssociateAc);
    after.socket.destroy();
  }, 60_000);

  it('aborts an A-ASSOCIATE-RQ claiming 900 KiB on its header, so 64 of them leave the RSS flat', async () => {
    const a = await agentWith('big-rq', { timeouts: { artimMs: 20_000 } });
    const baselineFds = await warmUp(a);
    const rssBefore = await rssBytes(a);

    // 64 peers (16 from each of four addresses, the per-address cap) each send a whole 900 KiB
    // A-ASSOCIATE-RQ: 57.6 MiB if it were buffered until ARTIM, as up to 1 MiB was before.
    const claimed = 900 * 1024;
    const pdu = Buffer.alloc(6 + claimed);
    pdu[0] = PduType.AssociateRq;
    pdu.writeUInt32BE(claimed, 2);
    const peers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => connectFrom(a.port, `127.0.0.${3 + (i % 4)}`)),
    );
    const firstReplies = peers.map(async (p) => {
      const data = once(p.socket, 'data').then(([b]) => (b as Buffer)[0]);
      p.socket.write(pdu);
      return Promise.race([data, p.closed.then(() => undefined)]);
    });
    expect(await Promise.all(firstReplies)).toEqual(peers.map(() => PduType.Abort));
    const grew = (await rssBytes(a)) - rssBefore;
    console.log(`attack-dicom: 64 A-ASSOCIATE-RQs of 900 KiB, agent RSS grew ${grew >> 10} KiB`);
    expect(grew, `RSS grew ${grew} bytes`).toBeLessThan(24 << 20);

    await expect.poll(() => events(a, 'dicom.pdu_too_large').length).toBe(64);
    for (const e of events(a, 'dicom.pdu_too_large'))
      expect(e.reason).toBe(`A-ASSOCIATE-RQ of ${claimed} bytes exceeds the maximum ${128 * 1024}`);
    expectServed(await echoscu({ port: a.port, timeoutMs: 30_000 }));
    for (const p of peers) p.socket.destroy();
    await expectResourcesFreed(a, baselineFds);
  }, 60_000);
});

// ----------------------------------------------------------------------------------------- stall

/** An explicit VR little endian dataset header whose pixel data (OB) announces `pixelBytes`. */
function datasetHeader(sopInstanceUid: string, pixelBytes: number): Buffer {
  const el = (group: number, element: number, vr: string, value: string) => {
    const v = Buffer.from(value.length % 2 ? `${value}${vr === 'UI' ? '\0' : ' '}` : value, 'latin1');
    const h = Buffer.alloc(8);
    h.writeUInt16LE(group, 0);
    h.writeUInt16LE(element, 2);
    h.write(vr, 4, 'latin1');
    h.writeUInt16LE(v.length, 6);
    return Buffer.concat([h, v]);
  };
  const pixel = Buffer.alloc(12);
  pixel.writeUInt16LE(0x7fe0, 0);
  pixel.writeUInt16LE(0x0010, 2);
  pixel.write('OB', 4, 'latin1');
  pixel.writeUInt32LE(pixelBytes, 8);
  return Buffer.concat([
    el(0x0008, 0x0016, 'UI', Uids.SecondaryCaptureImageStorage),
    el(0x0008, 0x0018, 'UI', sopInstanceUid),
    el(0x0010, 0x0010, 'PN', 'STALL^TEST'),
    el(0x0020, 0x000d, 'UI', `${sopInstanceUid}.1`),
    el(0x0020, 0x000e, 'UI', `${sopInstanceUid}.2`),
    pixel,
  ]);
}

describe('senders that stall or dribble inside a PDU, or stop reading', () => {
  let a: AgentProcess;
  let baselineFds: number;

  beforeAll(async () => {
    // Idle is long on purpose: what cuts these peers off must be the PDU deadline.
    const timeouts = { artimMs: 5000, idleMs: 120_000, pduMs: 2000 };
    a = await startAgent({
      dataDir: join(root, 'stall'),
      config: { aeTitle: 'GATEWAY', recipientPublicKey: keys.publicJwk, timeouts },
    });
    baselineFds = await warmUp(a);
  });

  afterAll(async () => {
    await a?.stop();
  });

  it('aborts a PDU stalled halfway and one dribbled a byte at a time, serving others meanwhile', async () => {
    const maxPdu = 1 << 20;

    // Stalled: two full 1 MiB P-DATA PDUs of a large instance, then half of the third.
    const { scu: stalled } = await RawScu.open(a.port, {
      callingAe: 'STALLER',
      maxPduLength: maxPdu,
      contexts: [
        {
          id: 1,
          abstractSyntax: Uids.SecondaryCaptureImageStorage,
          transferSyntaxes: [Uids.ExplicitVRLittleEndian],
        },
      ],
    });
    const uid = '2.25.318409871240981273409812734';
    await stalled.sendRaw(
      encodePData([
        {
          contextId: 1,
          isCommand: true,
          isLast: true,
          data: encodeCStoreRq({
            messageId: 1,
            sopClassUid: Uids.SecondaryCaptureImageStorage,
            sopInstanceUid: uid,
          }),
        },
      ]),
    );
    const pdvBytes = maxPdu - 6;
    const header = datasetHeader(uid, 8 * pdvBytes);
    // Incompressible pixel bytes, so the instance spills to a partial file in spool/tmp.
    const pixels = Buffer.alloc(3 * pdvBytes - header.length);
    for (let i = 0; i + 4 <= pixels.length; i += 4)
      pixels.writeUInt32LE((Math.random() * 0x1_0000_0000) >>> 0, i);
    const dataset = Buffer.concat([header, pixels]);
    const pdus = [0, 1, 2].map((i) =>
      encodePData([
        {
          contextId: 1,
          isCommand: false,
          isLast: false,
          data: dataset.subarray(i * pdvBytes, (i + 1) * pdvBytes),
        },
      ]),
    );
    expect(pdus[2]!.readUInt32BE(2)).toBe(maxPdu);
    await stalled.sendRaw(Buffer.concat([pdus[0]!, pdus[1]!, pdus[2]!.subarray(0, pdus[2]!.length >> 1)]));
    await expect
      .poll(async () => (await spoolDirs(a.dataDir)).tmp.filter((f) => f.endsWith('.part')), {
        timeout: 15_000,
      })
      .toHaveLength(1);

    // Dribbling: a C-ECHO P-DATA one byte every 200 ms, for ever (bounded here by 30 s, idle is 120 s).
    const { scu: dribbler } = await RawScu.open(a.port, {
      callingAe: 'DRIBBLER',
      contexts: [verificationContext()],
    });
    const peers = [stalled, dribbler].map((s) => `127.0.0.1:${s.socket.localPort}`);
    const echo = encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(1) }]);
    const dribbling = (async () => {
      const started = Date.now();
      for (let i = 0; !dribbler.isClosed && Date.now() - started < 30_000; i = (i + 1) % echo.length) {
        await dribbler.sendRaw(echo.subarray(i, i + 1)).catch(() => undefined);
        await sleep(200);
      }
    })();

    // Others are served while both hold on.
    expectServed(await echoscu({ port: a.port, timeoutMs: 30_000 }));
    expectServed(await storescu({ port: a.port, callingAe: 'MODALITY', files: [SAMPLE], timeoutMs: 30_000 }));

    await Promise.race([stalled.closed, sleep(30_000)]);
    expect(stalled.isClosed, 'the stalled sender was not cut off').toBe(true);
    expect((await stalled.nextPdu(1))?.type).toBe(PduType.Abort);
    await dribbling;
    expect(dribbler.isClosed, 'the dribbling sender was not cut off').toBe(true);
    expect((await dribbler.nextPdu(1))?.type).toBe(PduType.Abort);

    await expect
      .poll(() =>
        events(a, 'dicom.pdu_timeout')
          .map((e) => e.peer)
          .sort(),
      )
      .toEqual(peers.sort());
    for (const e of events(a, 'dicom.pdu_timeout'))
      expect(String(e.reason)).toMatch(/^PDU not complete \d+ ms after its first byte \(limit 2000 ms\)$/);
    await expect.poll(() => events(a, 'dicom.store_aborted').map((e) => e.sopInstanceUid)).toEqual([uid]);
    expect(a.child.exitCode).toBeNull();
    await expectResourcesFreed(a, baselineFds);
  }, 90_000);

  it('stops reading from a peer that never reads its responses, and cuts it off', async () => {
    const { scu } = await RawScu.open(a.port, { callingAe: 'DEAF', contexts: [verificationContext()] });
    const peer = `127.0.0.1:${scu.socket.localPort}`;
    // C-ECHO requests sent again and again while we read nothing: the responses pile up unread.
    const limit = 64 << 20;
    const sent = await sendWithoutReading(scu, limit);
    await Promise.race([scu.closed, sleep(30_000)]);
    expect(scu.isClosed, 'the peer that does not read was not cut off').toBe(true);
    // It stopped reading once our responses backed up, long before we sent all of it.
    expect(sent).toBeLessThan(limit);
    expectServed(await echoscu({ port: a.port, timeoutMs: 30_000 }));
    await expect
      .poll(() => events(a, 'dicom.peer_not_reading').filter((e) => e.peer === peer))
      .toHaveLength(1);
    expect(a.child.exitCode).toBeNull();
    await expectResourcesFreed(a, baselineFds);
  }, 90_000);
});

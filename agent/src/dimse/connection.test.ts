import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeAssociateRq,
  encodeCEchoRq,
  encodeCommand,
  encodeCStoreRq,
  encodePData,
  encodeReleaseRq,
  parseResponse,
  PduType as RawPdu,
  RawScu,
  Uids,
} from '../../../test/harness/raw-scu.js';
import { sendWithoutReading } from '../../../test/harness/unread-flood.js';
import { Connection, MAX_ASSOCIATE_RQ_BYTES } from './connection.js';
import type { AssociationPolicy } from './policy.js';
import {
  Status,
  type StoreHandler,
  type StoreOutcome,
  type StoreRequest,
  type StoreWriter,
} from './store-handler.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const policy: AssociationPolicy = {
  aeTitle: 'GATEWAY',
  allowedCallingAeTitles: [],
  maxAssociations: 4,
  maxPduLength: 65536,
  artimTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
};

/**
 * A sink that is always behind: every write() asks the caller to pause, and the drain callback fires
 * only after a timer. It records the bytes and checks that no socket data arrives while it owes a drain.
 */
class SlowSink implements StoreHandler {
  readonly requests: StoreRequest[] = [];
  readonly received: Buffer[] = [];
  drains = 0;
  writes = 0;
  /** 'data' events that reached the connection while a drain was outstanding. */
  dataWhilePaused = 0;
  /** socket.isPaused() observed when each drain timer fired. */
  pausedAtDrain: boolean[] = [];
  private owed = false;
  private pendingCb: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  socket: Socket | undefined;

  constructor(private readonly drainDelayMs: number) {}

  watch(socket: Socket): void {
    this.socket = socket;
    // Runs before the Connection's own 'data' listener: a chunk arriving while we owe a drain means
    // the pause did not take effect.
    socket.prependListener('data', () => {
      if (this.owed) this.dataWhilePaused++;
    });
  }

  begin(req: StoreRequest): StoreWriter {
    this.requests.push(req);
    return {
      write: (slice: Buffer) => {
        this.writes++;
        this.received.push(Buffer.from(slice));
        this.owed = true;
        return false;
      },
      onDrain: (cb: () => void) => {
        this.pendingCb = cb;
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pausedAtDrain.push(this.socket?.isPaused() ?? false);
          this.drains++;
          this.owed = false;
          const fire = this.pendingCb;
          this.pendingCb = undefined;
          fire?.();
        }, this.drainDelayMs);
      },
      end: async (): Promise<StoreOutcome> => ({ status: Status.Success, objectId: 'o-test' }),
      abort: () => undefined,
    };
  }
}

/** A counter pattern dataset: any reordering or loss of a PDV changes the bytes at that offset. */
function counterPattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) b.writeUInt32LE(i / 4, i);
  return b;
}

let server: Server | undefined;
afterEach(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

async function listen(
  sink: SlowSink,
  onClosed: () => void,
  p: AssociationPolicy = policy,
  log: Logger = pino({ level: 'silent' }),
): Promise<number> {
  server = createServer((socket) => {
    sink.watch(socket);
    new Connection(socket, p, sink, log, onClosed);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return addr.port;
}

describe('Connection back-pressure', () => {
  it('pauses the socket until the writer drains, and keeps dataset PDVs in order', async () => {
    const sink = new SlowSink(3);
    let closed = 0;
    const port = await listen(sink, () => closed++);
    const { scu, ac } = await RawScu.open(port, {
      maxPduLength: 65536,
      contexts: [
        {
          id: 1,
          abstractSyntax: Uids.SecondaryCaptureImageStorage,
          transferSyntaxes: [Uids.ExplicitVRLittleEndian],
        },
      ],
    });
    expect(ac.contexts).toEqual([{ id: 1, result: 0, transferSyntax: Uids.ExplicitVRLittleEndian }]);

    const dataset = counterPattern(24 << 20);
    const rsp = await scu.store({
      contextId: 1,
      messageId: 77,
      sopClassUid: Uids.SecondaryCaptureImageStorage,
      sopInstanceUid: '1.2.3.4.5',
      dataset,
      pdvSize: 4096,
    });
    expect(rsp).toMatchObject({ commandField: 0x8001, messageIdBeingRespondedTo: 77, status: 0 });
    expect(sink.requests).toEqual([
      expect.objectContaining({
        sopClassUid: Uids.SecondaryCaptureImageStorage,
        sopInstanceUid: '1.2.3.4.5',
        transferSyntaxUid: Uids.ExplicitVRLittleEndian,
        callingAeTitle: 'RAWSCU',
        messageId: 77,
      }),
    ]);
    const got = Buffer.concat(sink.received);
    expect(got.length).toBe(dataset.length);
    expect(got.equals(dataset)).toBe(true);

    // The pause took effect: the socket was paused whenever a drain came due, no chunk reached the
    // connection while a drain was owed, and the sender's kernel buffers filled up so it had to wait.
    expect(sink.drains).toBeGreaterThan(10);
    expect(sink.pausedAtDrain.every((p) => p)).toBe(true);
    expect(sink.dataWhilePaused).toBe(0);
    expect(scu.drainWaits).toBeGreaterThan(0);

    await scu.release();
    await expect.poll(() => closed).toBe(1);
  }, 60_000);

  it('answers C-ECHO, and aborts a dataset PDV that has no C-STORE command', async () => {
    const sink = new SlowSink(1);
    const port = await listen(sink, () => undefined);
    const { scu } = await RawScu.open(port, {
      contexts: [
        { id: 1, abstractSyntax: Uids.Verification, transferSyntaxes: [Uids.ImplicitVRLittleEndian] },
        { id: 3, abstractSyntax: Uids.CtImageStorage, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
      ],
    });
    expect(await scu.echo(1, 5)).toMatchObject({
      commandField: 0x8030,
      messageIdBeingRespondedTo: 5,
      status: 0,
    });
    const stray = Buffer.from([RawPdu.PData, 0, 0, 0, 0, 10, 0, 0, 0, 6, 3, 0x02, 1, 2, 3, 4]);
    await scu.sendRaw(stray);
    const pdu = await scu.nextPdu();
    expect(pdu?.type).toBe(RawPdu.Abort);
    await scu.closed;
    expect(sink.requests).toHaveLength(0);
  });

  it('aborts a command set that never ends instead of buffering it', async () => {
    const sink = new SlowSink(1);
    const port = await listen(sink, () => undefined);
    const { scu } = await RawScu.open(port, {
      contexts: [
        { id: 1, abstractSyntax: Uids.Verification, transferSyntaxes: [Uids.ImplicitVRLittleEndian] },
      ],
    });
    // Command PDVs (control 0x01: command, not last) of 8 KiB each, well past the 64 KiB cap.
    const fragment = Buffer.alloc(6 + 6 + 8192);
    fragment[0] = RawPdu.PData;
    fragment.writeUInt32BE(6 + 8192, 2);
    fragment.writeUInt32BE(2 + 8192, 6);
    fragment[10] = 1;
    fragment[11] = 0x01;
    for (let i = 0; i < 9; i++) await scu.sendRaw(fragment).catch(() => undefined);
    const pdu = await scu.nextPdu();
    expect(pdu?.type).toBe(RawPdu.Abort);
    await scu.closed;
  });
});

/** A logger whose JSON lines land in `lines`. */
function recordingLogger(lines: Record<string, unknown>[]): Logger {
  return pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
}

/** Keeps a reference to every slice it is given; copies their bytes first only when it says it does. */
class KeepingSink implements StoreHandler {
  readonly slices: Buffer[] = [];
  readonly copies: Buffer[] = [];

  constructor(private readonly copiesSlices: boolean) {}

  begin(): StoreWriter {
    return {
      ...(this.copiesSlices ? { copiesSlices: true } : {}),
      write: (slice: Buffer) => {
        this.slices.push(slice);
        if (this.copiesSlices) this.copies.push(Buffer.from(slice));
        return true;
      },
      onDrain: (cb: () => void) => cb(),
      end: async (): Promise<StoreOutcome> => ({ status: Status.Success, objectId: 'o-test' }),
      abort: () => undefined,
    };
  }
}

describe('Connection socket chunks', () => {
  async function storeThrough(sink: KeepingSink, dataset: Buffer): Promise<void> {
    server = createServer(
      (socket) => new Connection(socket, policy, sink, pino({ level: 'silent' }), () => {}),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    const { scu } = await RawScu.open(addr.port, {
      maxPduLength: 65536,
      contexts: [
        {
          id: 1,
          abstractSyntax: Uids.SecondaryCaptureImageStorage,
          transferSyntaxes: [Uids.ExplicitVRLittleEndian],
        },
      ],
    });
    const rsp = await scu.store({
      contextId: 1,
      messageId: 5,
      sopClassUid: Uids.SecondaryCaptureImageStorage,
      sopInstanceUid: '1.2.3.4.6',
      dataset,
      pdvSize: 16384,
    });
    expect(rsp).toMatchObject({ status: 0 });
    await scu.release();
  }

  it('frees each chunk whose slices a copying writer took, as soon as it is read', async () => {
    const sink = new KeepingSink(true);
    const dataset = counterPattern(4 << 20);
    await storeThrough(sink, dataset);
    expect(Buffer.concat(sink.copies).equals(dataset)).toBe(true);
    // A slice of a freed chunk reads as empty. Only a chunk that also held the command is kept.
    const freed = sink.slices.filter((s) => s.length === 0).length;
    expect(freed).toBeGreaterThan(sink.slices.length * 0.9);
  });

  it('never frees a chunk a writer that keeps its slices still holds', async () => {
    const sink = new KeepingSink(false);
    const dataset = counterPattern(4 << 20);
    await storeThrough(sink, dataset);
    expect(Buffer.concat(sink.slices).equals(dataset)).toBe(true);
  });
});

describe('Connection PDU deadline', () => {
  const slowPolicy: AssociationPolicy = { ...policy, idleTimeoutMs: 30_000, pduTimeoutMs: 400 };
  const verification = [
    { id: 1, abstractSyntax: Uids.Verification, transferSyntaxes: [Uids.ImplicitVRLittleEndian] },
  ];

  it('cuts off a peer dribbling a PDU a byte at a time, though every byte restarts the idle timer', async () => {
    const lines: Record<string, unknown>[] = [];
    let closed = 0;
    const port = await listen(new SlowSink(1), () => closed++, slowPolicy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts: verification });
    const echo = encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(1) }]);
    // One byte every 50 ms would take far longer than 400 ms; keep going for up to 10 s (idle is 30 s).
    const started = Date.now();
    for (let i = 0; i < echo.length - 1 && !scu.isClosed && Date.now() - started < 10_000; i++) {
      await scu.sendRaw(echo.subarray(i, i + 1)).catch(() => undefined);
      await sleep(50);
    }
    expect(scu.isClosed, 'the dribbling peer was not cut off').toBe(true);
    expect((await scu.nextPdu(1000))?.type).toBe(RawPdu.Abort);
    expect(closed).toBe(1);
    const timeouts = lines.filter((l) => l.event === 'dicom.pdu_timeout');
    expect(timeouts).toHaveLength(1);
    expect(String(timeouts[0]?.reason)).toMatch(
      /^PDU not complete \d+ ms after its first byte \(limit 400 ms\)$/,
    );
  });

  it('aborts a PDU that stalls halfway, and leaves whole PDUs sent with pauses between them alone', async () => {
    const lines: Record<string, unknown>[] = [];
    const port = await listen(new SlowSink(1), () => undefined, slowPolicy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts: verification });
    // Pauses longer than the PDU deadline between whole PDUs are idleness, which is allowed for 30 s.
    for (let i = 1; i <= 3; i++) {
      expect((await scu.echo(1, i)).status).toBe(0);
      await sleep(600);
    }
    expect(lines.filter((l) => l.event === 'dicom.pdu_timeout')).toEqual([]);
    const echo = encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(9) }]);
    await scu.sendRaw(echo.subarray(0, echo.length >> 1));
    expect((await scu.nextPdu(10_000))?.type).toBe(RawPdu.Abort);
    await scu.closed;
    expect(lines.filter((l) => l.event === 'dicom.pdu_timeout')).toHaveLength(1);
  });

  it('stops reading from a peer that does not read its responses, and cuts it off', async () => {
    const lines: Record<string, unknown>[] = [];
    const port = await listen(new SlowSink(1), () => undefined, slowPolicy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts: verification });
    const limit = 64 << 20;
    const sent = await sendWithoutReading(scu, limit);
    await scu.closed;
    expect(sent).toBeLessThan(limit);
    const cut = lines.filter((l) => l.event === 'dicom.peer_not_reading');
    expect(cut).toHaveLength(1);
    expect(String(cut[0]?.reason)).toMatch(/^peer has not read our responses for \d+ ms \(limit 400 ms\)$/);
  });
});

describe('Connection A-ASSOCIATE-RQ size', () => {
  it('accepts a large but real A-ASSOCIATE-RQ (128 contexts of 28 transfer syntaxes)', async () => {
    const contexts = Array.from({ length: 128 }, (_, i) => ({
      id: 2 * i + 1,
      abstractSyntax: Uids.Verification,
      transferSyntaxes: Array.from({ length: 28 }, () => Uids.ExplicitVRLittleEndian),
    }));
    const size = encodeAssociateRq({ contexts }).length;
    expect(size).toBeGreaterThan(64 * 1024);
    expect(size).toBeLessThan(MAX_ASSOCIATE_RQ_BYTES);
    const port = await listen(new SlowSink(1), () => undefined);
    const { scu, ac } = await RawScu.open(port, { contexts });
    expect(ac.contexts).toHaveLength(128);
    await scu.release();
  });

  it('aborts an A-ASSOCIATE-RQ claiming 900 KiB on its header, before reading its body', async () => {
    const lines: Record<string, unknown>[] = [];
    let closed = 0;
    const port = await listen(new SlowSink(1), () => closed++, policy, recordingLogger(lines));
    const scu = await RawScu.connect(port);
    const head = Buffer.alloc(6);
    head[0] = RawPdu.AssociateRq;
    head.writeUInt32BE(900 * 1024, 2);
    // Only the header and 1 KiB of body: the agent must not wait for the rest to decide.
    await scu.sendRaw(Buffer.concat([head, Buffer.alloc(1024)]));
    expect((await scu.nextPdu(5000))?.type).toBe(RawPdu.Abort);
    await expect.poll(() => closed).toBe(1);
    const tooLarge = lines.filter((l) => l.event === 'dicom.pdu_too_large');
    expect(tooLarge).toHaveLength(1);
    expect(tooLarge[0]?.reason).toBe(
      `A-ASSOCIATE-RQ of ${900 * 1024} bytes exceeds the maximum ${MAX_ASSOCIATE_RQ_BYTES}`,
    );
    scu.destroy();
  });
});

describe('Connection unsupported DIMSE commands', () => {
  const contexts = [
    { id: 1, abstractSyntax: Uids.Verification, transferSyntaxes: [Uids.ImplicitVRLittleEndian] },
    { id: 3, abstractSyntax: Uids.CtImageStorage, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
  ];
  const command = (contextId: number, data: Buffer) =>
    encodePData([{ contextId, isCommand: true, isLast: true, data }]);
  const dataset = (contextId: number, data: Buffer, isLast: boolean) =>
    encodePData([{ contextId, isCommand: false, isLast, data }]);

  it('answers C-FIND, C-MOVE, C-GET and N-GET with 0x0211, drops their datasets, ignores C-CANCEL, and carries on', async () => {
    const sink = new SlowSink(1);
    const lines: Record<string, unknown>[] = [];
    const port = await listen(sink, () => undefined, policy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts });
    const find = '1.2.840.10008.5.1.4.1.2.2.1';
    // C-FIND-RQ with an identifier in two PDVs: read, dropped, then answered.
    await scu.sendRaw(
      command(
        3,
        encodeCommand([
          [0x0002, find],
          [0x0100, 0x0020],
          [0x0110, 11],
          [0x0700, 0],
          [0x0800, 0],
        ]),
      ),
    );
    await scu.sendRaw(dataset(3, Buffer.alloc(1000, 7), false));
    await scu.sendRaw(dataset(3, Buffer.alloc(500, 8), true));
    expect(parseResponse(await scu.readCommand(5000))).toMatchObject({
      commandField: 0x8020,
      messageIdBeingRespondedTo: 11,
      affectedSopClassUid: find,
      status: 0x0211,
    });
    // C-CANCEL-RQ (Message ID Being Responded To, no Message ID): no answer, no abort.
    await scu.sendRaw(
      command(
        3,
        encodeCommand([
          [0x0100, 0x0fff],
          [0x0120, 11],
          [0x0800, 0x0101],
        ]),
      ),
    );
    for (const [field, id] of [
      [0x0021, 12],
      [0x0010, 13],
    ] as const) {
      await scu.sendRaw(
        command(
          3,
          encodeCommand([
            [0x0002, find],
            [0x0100, field],
            [0x0110, id],
            [0x0800, 0],
          ]),
        ),
      );
      await scu.sendRaw(dataset(3, Buffer.alloc(64, 1), true));
      expect(parseResponse(await scu.readCommand(5000))).toMatchObject({
        commandField: field | 0x8000,
        messageIdBeingRespondedTo: id,
        status: 0x0211,
      });
    }
    // N-GET-RQ names its class in Requested SOP Class UID (0000,0003): no Affected SOP Class in the answer.
    await scu.sendRaw(
      command(
        3,
        encodeCommand([
          [0x0003, Uids.CtImageStorage],
          [0x0100, 0x0110],
          [0x0110, 14],
          [0x0800, 0x0101],
        ]),
      ),
    );
    const nget = parseResponse(await scu.readCommand(5000));
    expect(nget).toMatchObject({ commandField: 0x8110, messageIdBeingRespondedTo: 14, status: 0x0211 });
    expect(nget.elements.has(0x0002)).toBe(false);
    // The association carries on.
    expect(await scu.echo(1, 15)).toMatchObject({
      commandField: 0x8030,
      messageIdBeingRespondedTo: 15,
      status: 0,
    });
    const rsp = await scu.store({
      contextId: 3,
      messageId: 16,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: '1.2.3.16',
      dataset: Buffer.alloc(256, 3),
    });
    expect(rsp).toMatchObject({ commandField: 0x8001, messageIdBeingRespondedTo: 16, status: 0 });
    expect(sink.requests.map((r) => r.sopInstanceUid)).toEqual(['1.2.3.16']);
    expect(Buffer.concat(sink.received).equals(Buffer.alloc(256, 3))).toBe(true);
    await scu.release();
    const logged = lines.filter((l) => l.event === 'dicom.command_unsupported');
    expect(logged.map((l) => [l.commandField, l.answered])).toEqual([
      ['0x0020', true],
      ['0x0fff', false],
      ['0x0021', true],
      ['0x0010', true],
      ['0x0110', true],
    ]);
    expect(lines.filter((l) => l.event === 'dicom.abort')).toEqual([]);
  });

  it('refuses a C-STORE on the Verification context with 0x0122, drops its dataset, and carries on', async () => {
    const sink = new SlowSink(1);
    const lines: Record<string, unknown>[] = [];
    const port = await listen(sink, () => undefined, policy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts });
    const refused = await scu.store({
      contextId: 1,
      messageId: 21,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: '1.2.3.21',
      dataset: Buffer.alloc(40_000, 5),
      pdvSize: 16_000,
    });
    expect(refused).toMatchObject({
      commandField: 0x8001,
      messageIdBeingRespondedTo: 21,
      affectedSopClassUid: Uids.CtImageStorage,
      affectedSopInstanceUid: '1.2.3.21',
      status: 0x0122,
    });
    expect(sink.requests).toHaveLength(0);
    expect(await scu.echo(1, 22)).toMatchObject({ status: 0 });
    const ok = await scu.store({
      contextId: 3,
      messageId: 23,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: '1.2.3.23',
      dataset: Buffer.alloc(100, 6),
    });
    expect(ok).toMatchObject({ commandField: 0x8001, messageIdBeingRespondedTo: 23, status: 0 });
    expect(sink.requests.map((r) => r.sopInstanceUid)).toEqual(['1.2.3.23']);
    expect(Buffer.concat(sink.received).equals(Buffer.alloc(100, 6))).toBe(true);
    await scu.release();
    expect(lines.filter((l) => l.event === 'dicom.store_not_storage_context')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'dicom.abort')).toEqual([]);
  });

  it('refuses with 0x0122 a C-STORE whose SOP class is not storage, even on a storage context', async () => {
    const sink = new SlowSink(1);
    const lines: Record<string, unknown>[] = [];
    const port = await listen(sink, () => undefined, policy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, { contexts });
    const refused = await scu.store({
      contextId: 3,
      messageId: 31,
      sopClassUid: '1.2.3',
      sopInstanceUid: '1.2.3.31',
      dataset: Buffer.alloc(2_000, 5),
    });
    expect(refused).toMatchObject({ messageIdBeingRespondedTo: 31, status: 0x0122 });
    expect(sink.requests).toHaveLength(0);
    const ok = await scu.store({
      contextId: 3,
      messageId: 32,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: '1.2.3.32',
      dataset: Buffer.alloc(100, 6),
    });
    expect(ok).toMatchObject({ messageIdBeingRespondedTo: 32, status: 0 });
    expect(sink.requests.map((r) => r.sopInstanceUid)).toEqual(['1.2.3.32']);
    await scu.release();
    expect(lines.filter((l) => l.event === 'dicom.store_class_not_storage')).toHaveLength(1);
  });
});

describe('Connection release after a store', () => {
  it('sends the C-STORE-RSP in flight before A-RELEASE-RP when A-RELEASE-RQ follows the last PDV at once', async () => {
    const sink = new SlowSink(1);
    const begin = sink.begin.bind(sink);
    // The spool takes a while to make the instance durable: the release must wait for its answer.
    sink.begin = (req) => ({
      ...begin(req),
      end: async () => {
        await sleep(300);
        return { status: Status.Success, objectId: 'o-late' };
      },
    });
    const lines: Record<string, unknown>[] = [];
    const port = await listen(sink, () => undefined, policy, recordingLogger(lines));
    const { scu } = await RawScu.open(port, {
      contexts: [
        { id: 3, abstractSyntax: Uids.CtImageStorage, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
      ],
    });
    const rq = encodeCStoreRq({
      messageId: 31,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: '1.2.3.31',
    });
    // Command, dataset and A-RELEASE-RQ in one write: the agent reads them in one chunk.
    await scu.sendRaw(
      Buffer.concat([
        encodePData([{ contextId: 3, isCommand: true, isLast: true, data: rq }]),
        encodePData([{ contextId: 3, isCommand: false, isLast: true, data: Buffer.alloc(512, 9) }]),
        encodeReleaseRq(),
      ]),
    );
    expect(parseResponse(await scu.readCommand(5000))).toMatchObject({
      commandField: 0x8001,
      messageIdBeingRespondedTo: 31,
      status: 0,
    });
    expect((await scu.nextPdu(5000))?.type).toBe(RawPdu.ReleaseRp);
    scu.destroy();
    expect(sink.requests.map((r) => r.sopInstanceUid)).toEqual(['1.2.3.31']);
    expect(lines.filter((l) => l.event === 'dicom.abort')).toEqual([]);
  });
});

// A minimal DICOM upper-layer SCU over node:net (PS3.8 PDUs, PS3.7 command sets), written by hand
// for tests that need to do what DCMTK will not: hold associations open, pick PDV sizes, send
// mismatched requests or raw bytes.
import { readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export const Uids = {
  ApplicationContext: '1.2.840.10008.3.1.1.1',
  Verification: '1.2.840.10008.1.1',
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  SecondaryCaptureImageStorage: '1.2.840.10008.5.1.4.1.1.7',
  CtImageStorage: '1.2.840.10008.5.1.4.1.1.2',
} as const;

export const RAW_SCU_IMPLEMENTATION_CLASS_UID = '2.25.117180925412370312119470390432150346177';

export interface ContextProposal {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateRqOptions {
  /** Default 'GATEWAY'. */
  calledAe?: string;
  /** Default 'RAWSCU'. */
  callingAe?: string;
  /** Default: Verification with implicit VR LE, as context 1. */
  contexts?: ContextProposal[];
  /** User information item 0x51; default 16384. */
  maxPduLength?: number;
  /** User information item 0x52. */
  implementationClassUid?: string;
  /** User information item 0x55, omitted when undefined. */
  implementationVersion?: string;
  /** Default the DICOM application context. */
  applicationContext?: string;
  /** Default 1. */
  protocolVersion?: number;
}

// ---------------------------------------------------------------- encoding

export function encodePdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

function item(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

function aeField(title: string): Buffer {
  const field = Buffer.alloc(16, 0x20);
  field.write(title, 0, 16, 'latin1');
  return field;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** A complete A-ASSOCIATE-RQ PDU. */
export function encodeAssociateRq(opts: AssociateRqOptions = {}): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(opts.protocolVersion ?? 1, 0);
  aeField(opts.calledAe ?? 'GATEWAY').copy(fixed, 4);
  aeField(opts.callingAe ?? 'RAWSCU').copy(fixed, 20);
  const contexts = (opts.contexts ?? [verificationContext()]).map((c) =>
    item(
      0x20,
      Buffer.concat([
        Buffer.from([c.id, 0, 0, 0]),
        item(0x30, latin1(c.abstractSyntax)),
        ...c.transferSyntaxes.map((ts) => item(0x40, latin1(ts))),
      ]),
    ),
  );
  const max = Buffer.alloc(4);
  max.writeUInt32BE(opts.maxPduLength ?? 16384, 0);
  const user = [
    item(0x51, max),
    item(0x52, latin1(opts.implementationClassUid ?? RAW_SCU_IMPLEMENTATION_CLASS_UID)),
  ];
  if (opts.implementationVersion !== undefined) user.push(item(0x55, latin1(opts.implementationVersion)));
  return encodePdu(
    PduType.AssociateRq,
    Buffer.concat([
      fixed,
      item(0x10, latin1(opts.applicationContext ?? Uids.ApplicationContext)),
      ...contexts,
      item(0x50, Buffer.concat(user)),
    ]),
  );
}

export function verificationContext(id = 1): ContextProposal {
  return { id, abstractSyntax: Uids.Verification, transferSyntaxes: [Uids.ImplicitVRLittleEndian] };
}

export interface Pdv {
  contextId: number;
  isCommand: boolean;
  isLast: boolean;
  data: Buffer;
}

/** One P-DATA-TF PDU carrying the given PDVs. */
export function encodePData(pdvs: Pdv[]): Buffer {
  const items = pdvs.map((p) => {
    const head = Buffer.alloc(6);
    head.writeUInt32BE(p.data.length + 2, 0);
    head[4] = p.contextId;
    head[5] = (p.isCommand ? 0x01 : 0) | (p.isLast ? 0x02 : 0);
    return Buffer.concat([head, p.data]);
  });
  return encodePdu(PduType.PData, Buffer.concat(items));
}

export function encodeReleaseRq(): Buffer {
  return encodePdu(PduType.ReleaseRq, Buffer.alloc(4));
}

export function encodeAbort(source = 0, reason = 0): Buffer {
  return encodePdu(PduType.Abort, Buffer.from([0, 0, source, reason]));
}

/** Command elements (group 0000) whose odd-length text is padded with a space rather than NUL. */
const SPACE_PADDED = new Set([0x0902, 0x1030]);

/**
 * An implicit VR little endian command set: (0000,0000) group length first, then the elements in
 * the order given (callers pass ascending tags). Numbers are US (2 bytes), strings are padded to
 * even length.
 */
export function encodeCommand(elements: [element: number, value: number | string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [element, value] of elements) {
    let v: Buffer;
    if (typeof value === 'number') {
      v = Buffer.alloc(2);
      v.writeUInt16LE(value, 0);
    } else {
      v = latin1(value);
      if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from([SPACE_PADDED.has(element) ? 0x20 : 0])]);
    }
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0, 0);
    head.writeUInt16LE(element, 2);
    head.writeUInt32LE(v.length, 4);
    parts.push(head, v);
  }
  const body = Buffer.concat(parts);
  const group = Buffer.alloc(12);
  group.writeUInt32LE(0x00000000, 0);
  group.writeUInt32LE(4, 4);
  group.writeUInt32LE(body.length, 8);
  return Buffer.concat([group, body]);
}

export const Command = { CStoreRq: 0x0001, CStoreRsp: 0x8001, CEchoRq: 0x0030, CEchoRsp: 0x8030 } as const;
const HAS_DATASET = 0x0000;
const NO_DATASET = 0x0101;

export function encodeCEchoRq(messageId: number): Buffer {
  return encodeCommand([
    [0x0002, Uids.Verification],
    [0x0100, Command.CEchoRq],
    [0x0110, messageId],
    [0x0800, NO_DATASET],
  ]);
}

export function encodeCStoreRq(rq: {
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  priority?: number;
}): Buffer {
  return encodeCommand([
    [0x0002, rq.sopClassUid],
    [0x0100, Command.CStoreRq],
    [0x0110, rq.messageId],
    [0x0700, rq.priority ?? 0],
    [0x0800, HAS_DATASET],
    [0x1000, rq.sopInstanceUid],
  ]);
}

// ---------------------------------------------------------------- decoding

export interface AcceptedContext {
  id: number;
  /** 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax not supported, 4 transfer syntaxes not supported. */
  result: number;
  transferSyntax: string;
}

export interface AssociateAc {
  protocolVersion: number;
  calledAe: string;
  callingAe: string;
  applicationContext: string;
  contexts: AcceptedContext[];
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersion: string;
}

const text = (b: Buffer) =>
  b
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');

function items(buf: Buffer, at: number): { type: number; value: Buffer }[] {
  const out: { type: number; value: Buffer }[] = [];
  let off = at;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16BE(off + 2);
    if (off + 4 + len > buf.length) throw new Error(`item 0x${buf[off]?.toString(16)} runs past its parent`);
    out.push({ type: buf[off] ?? 0, value: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  if (off !== buf.length) throw new Error(`${buf.length - off} stray byte(s) after the last item`);
  return out;
}

/** Parses the body (after the 6-byte header) of an A-ASSOCIATE-AC PDU. */
export function parseAssociateAc(body: Buffer): AssociateAc {
  if (body.length < 68) throw new Error(`A-ASSOCIATE-AC body of ${body.length} bytes is too short`);
  const ac: AssociateAc = {
    protocolVersion: body.readUInt16BE(0),
    calledAe: text(body.subarray(4, 20)),
    callingAe: text(body.subarray(20, 36)),
    applicationContext: '',
    contexts: [],
    maxPduLength: 0,
    implementationClassUid: '',
    implementationVersion: '',
  };
  for (const it of items(body, 68)) {
    if (it.type === 0x10) ac.applicationContext = text(it.value);
    else if (it.type === 0x21) {
      const ts = items(it.value, 4).find((s) => s.type === 0x40);
      ac.contexts.push({
        id: it.value[0] ?? 0,
        result: it.value[2] ?? -1,
        transferSyntax: text(ts?.value ?? Buffer.alloc(0)),
      });
    } else if (it.type === 0x50) {
      for (const sub of items(it.value, 0)) {
        if (sub.type === 0x51) ac.maxPduLength = sub.value.readUInt32BE(0);
        else if (sub.type === 0x52) ac.implementationClassUid = text(sub.value);
        else if (sub.type === 0x55) ac.implementationVersion = text(sub.value);
      }
    }
  }
  return ac;
}

/** The elements of an implicit VR LE command set, keyed by element number (group 0000 only). */
export function parseCommandSet(bytes: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off < bytes.length) {
    if (off + 8 > bytes.length) throw new Error(`command set has ${bytes.length - off} trailing byte(s)`);
    const group = bytes.readUInt16LE(off);
    const element = bytes.readUInt16LE(off + 2);
    const len = bytes.readUInt32LE(off + 4);
    if (group !== 0) throw new Error(`command set holds an element of group ${group.toString(16)}`);
    if (off + 8 + len > bytes.length)
      throw new Error(`command element ${element.toString(16)} runs past the end`);
    out.set(element, bytes.subarray(off + 8, off + 8 + len));
    off += 8 + len;
  }
  return out;
}

export interface DimseResponse {
  commandField: number;
  /** (0000,0120) Message ID Being Responded To. */
  messageIdBeingRespondedTo: number;
  status: number;
  /** (0000,0902), trailing padding removed; undefined when absent. */
  errorComment: string | undefined;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  /** (0000,0000) as sent, and the byte count that follows it. */
  groupLength: number;
  bytesAfterGroupLength: number;
  elements: Map<number, Buffer>;
}

export function parseResponse(bytes: Buffer): DimseResponse {
  const el = parseCommandSet(bytes);
  const us = (e: number) => el.get(e)?.readUInt16LE(0) ?? -1;
  const str = (e: number) => {
    const v = el.get(e);
    return v === undefined ? undefined : v.toString('latin1').replace(/[\0 ]+$/, '');
  };
  const groupLength = el.get(0x0000)?.readUInt32LE(0) ?? -1;
  return {
    commandField: us(0x0100),
    messageIdBeingRespondedTo: us(0x0120),
    status: us(0x0900),
    errorComment: str(0x0902),
    affectedSopClassUid: str(0x0002) ?? '',
    affectedSopInstanceUid: str(0x1000) ?? '',
    groupLength,
    bytesAfterGroupLength: el.has(0x0000) ? bytes.length - 12 : -1,
    elements: el,
  };
}

// ---------------------------------------------------------------- the connection

export interface ReceivedPdu {
  type: number;
  body: Buffer;
}

export type AssociateOutcome =
  | { kind: 'accepted'; ac: AssociateAc }
  | { kind: 'rejected'; result: number; source: number; reason: number }
  | { kind: 'aborted'; source: number; reason: number }
  | { kind: 'closed' };

export interface StoreOptions {
  contextId: number;
  messageId?: number;
  sopClassUid: string;
  sopInstanceUid: string;
  dataset: Buffer;
  /** Dataset bytes per PDV (one PDV per P-DATA-TF PDU). Default 16372 (fits a 16 KiB PDU). */
  pdvSize?: number;
}

/** An unexpected PDU or a closed connection while waiting for a DIMSE response. */
export class RawScuError extends Error {
  constructor(
    message: string,
    readonly pdu?: ReceivedPdu,
  ) {
    super(message);
  }
}

export class RawScu {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly pdus: ReceivedPdu[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
  /** How many writes had to wait for 'drain' (evidence the receiver applied back-pressure). */
  drainWaits = 0;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawScu> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ port, host });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawScu(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and associates; throws unless the association is accepted. */
  static async open(port: number, opts: AssociateRqOptions = {}): Promise<{ scu: RawScu; ac: AssociateAc }> {
    const scu = await RawScu.connect(port);
    const outcome = await scu.associate(opts);
    if (outcome.kind !== 'accepted') {
      scu.destroy();
      throw new Error(`association not accepted: ${JSON.stringify(outcome)}`);
    }
    return { scu, ac: outcome.ac };
  }

  get isClosed(): boolean {
    return this.ended;
  }

  private onData(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.bufferedBytes < 6) break;
      const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      this.buffered = [all];
      const length = all.readUInt32BE(2);
      if (all.length < 6 + length) break;
      this.pdus.push({ type: all[0] ?? 0, body: all.subarray(6, 6 + length) });
      const rest = all.subarray(6 + length);
      this.buffered = rest.length > 0 ? [rest] : [];
      this.bufferedBytes = rest.length;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next PDU from the peer, or null once the connection has closed without one (one reader at a time). */
  async nextPdu(timeoutMs = 10_000): Promise<ReceivedPdu | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pdu = this.pdus.shift();
      if (pdu) return pdu;
      if (this.ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new RawScuError(`no PDU within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Writes bytes, waiting for 'drain' when the socket buffer is full; rejects if the socket closes first. */
  async sendRaw(bytes: Buffer): Promise<void> {
    if (this.ended || this.socket.destroyed) throw new RawScuError('socket is closed');
    if (this.socket.write(bytes)) return;
    this.drainWaits++;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.socket.off('drain', onDrain);
        reject(new RawScuError('socket closed while waiting for drain'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  async associate(opts: AssociateRqOptions = {}, timeoutMs = 10_000): Promise<AssociateOutcome> {
    await this.sendRaw(encodeAssociateRq(opts));
    const pdu = await this.nextPdu(timeoutMs);
    if (!pdu) return { kind: 'closed' };
    const b = pdu.body;
    if (pdu.type === PduType.AssociateAc) return { kind: 'accepted', ac: parseAssociateAc(b) };
    if (pdu.type === PduType.AssociateRj)
      return { kind: 'rejected', result: b[1] ?? -1, source: b[2] ?? -1, reason: b[3] ?? -1 };
    if (pdu.type === PduType.Abort) return { kind: 'aborted', source: b[2] ?? -1, reason: b[3] ?? -1 };
    throw new RawScuError(`unexpected PDU 0x${pdu.type.toString(16)} in reply to A-ASSOCIATE-RQ`, pdu);
  }

  /** Reads P-DATA-TF PDUs until a complete command set arrives; returns its bytes. */
  async readCommand(timeoutMs = 60_000): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const pdu = await this.nextPdu(timeoutMs);
      if (!pdu) throw new RawScuError('connection closed while waiting for a DIMSE response');
      if (pdu.type !== PduType.PData)
        throw new RawScuError(`got PDU 0x${pdu.type.toString(16)} while waiting for a DIMSE response`, pdu);
      let off = 0;
      while (off + 6 <= pdu.body.length) {
        const len = pdu.body.readUInt32BE(off);
        const control = pdu.body[off + 5] ?? 0;
        parts.push(pdu.body.subarray(off + 6, off + 4 + len));
        off += 4 + len;
        if (control & 0x01 && control & 0x02) return Buffer.concat(parts);
      }
    }
  }

  async echo(contextId = 1, messageId = 1): Promise<DimseResponse> {
    await this.sendRaw(
      encodePData([{ contextId, isCommand: true, isLast: true, data: encodeCEchoRq(messageId) }]),
    );
    return parseResponse(await this.readCommand());
  }

  /** Sends a C-STORE-RQ and its dataset in PDVs of `pdvSize` bytes, then reads the C-STORE-RSP. */
  async store(opts: StoreOptions, timeoutMs = 120_000): Promise<DimseResponse> {
    await this.sendStoreRequest(opts);
    return parseResponse(await this.readCommand(timeoutMs));
  }

  /** The C-STORE-RQ command and every dataset PDV, without waiting for the response. */
  async sendStoreRequest(opts: StoreOptions): Promise<void> {
    const command = encodeCStoreRq({
      messageId: opts.messageId ?? 1,
      sopClassUid: opts.sopClassUid,
      sopInstanceUid: opts.sopInstanceUid,
    });
    await this.sendRaw(
      encodePData([{ contextId: opts.contextId, isCommand: true, isLast: true, data: command }]),
    );
    const size = opts.pdvSize ?? 16372;
    if (!Number.isInteger(size) || size < 1) throw new Error(`bad pdvSize ${size}`);
    const ds = opts.dataset;
    // Batch many small PDUs per socket write: the wire bytes are the same, the syscalls far fewer.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const count = Math.max(1, Math.ceil(ds.length / size));
    for (let i = 0; i < count; i++) {
      const data = ds.subarray(i * size, Math.min((i + 1) * size, ds.length));
      const pdu = encodePData([
        { contextId: opts.contextId, isCommand: false, isLast: i === count - 1, data },
      ]);
      batch.push(pdu);
      batchBytes += pdu.length;
      if (batchBytes >= 256 << 10) {
        await this.sendRaw(Buffer.concat(batch));
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) await this.sendRaw(Buffer.concat(batch));
  }

  /** A-RELEASE-RQ, then waits for A-RELEASE-RP and closes our side. */
  async release(timeoutMs = 10_000): Promise<void> {
    await this.sendRaw(encodeReleaseRq());
    const pdu = await this.nextPdu(timeoutMs);
    if (pdu?.type !== PduType.ReleaseRp)
      throw new RawScuError(`expected A-RELEASE-RP, got ${pdu ? `0x${pdu.type.toString(16)}` : 'close'}`);
    this.socket.end();
    await this.closed;
  }

  /** Sends A-ABORT (service user) and drops the connection. */
  abort(): void {
    if (!this.socket.destroyed) this.socket.end(encodeAbort(0, 0));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------- Part-10 files

export interface Part10 {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** The dataset after the File Meta Information, as it would travel on the wire. */
  dataset: Buffer;
}

/** Reads a Part-10 file's meta UIDs (explicit VR LE group 0002) and its dataset bytes. */
export async function readPart10(file: string): Promise<Part10> {
  const buf = await readFile(file);
  if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM')
    throw new Error(`${file}: no DICM prefix`);
  const meta = new Map<number, string>();
  let pos = 132;
  while (pos + 8 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
    const element = buf.readUInt16LE(pos + 2);
    const vr = buf.toString('latin1', pos + 4, pos + 6);
    const long = ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'].includes(vr);
    const len = long ? buf.readUInt32LE(pos + 8) : buf.readUInt16LE(pos + 6);
    const start = pos + (long ? 12 : 8);
    if (start + len > buf.length)
      throw new Error(`${file}: meta element (0002,${element.toString(16)}) is truncated`);
    meta.set(element, text(buf.subarray(start, start + len)));
    pos = start + len;
  }
  return {
    sopClassUid: meta.get(0x0002) ?? '',
    sopInstanceUid: meta.get(0x0003) ?? '',
    transferSyntaxUid: meta.get(0x0010) ?? '',
    dataset: buf.subarray(pos),
  };
}

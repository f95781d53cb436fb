import { type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { FerryError } from '@ferry/shared';
import { encodeReleaseRq, item, pdu } from './associate.js';
import { CommandField, NO_DATASET } from './command.js';
import { PduReader } from './pdu-reader.js';
import {
  APPLICATION_CONTEXT,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION,
  PduType,
  PresentationResult,
  VERIFICATION_SOP_CLASS,
} from './pdu-types.js';

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const CONTEXT_ID = 1;
const MESSAGE_ID = 1;
const OUR_MAX_PDU = 16_384;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface EchoOptions {
  host: string;
  port: number;
  calledAeTitle: string;
  callingAeTitle: string;
  /** For the whole exchange: connect, associate, echo and release. */
  timeoutMs?: number;
  /** DICOM TLS: `true` for the system CAs, or node TLS options (ca, cert, key, servername...). */
  tls?: boolean | ConnectionOptions;
}

export interface EchoResult {
  /** The C-ECHO-RSP status (0x0000: success). */
  status: number;
  /** From connecting to the C-ECHO-RSP. */
  ms: number;
}

/**
 * A minimal Verification SCU: one association proposing only Verification in Implicit VR Little
 * Endian, one C-ECHO, then an orderly release. Every failure is `dicom.echo_failed` with a message
 * that names the cause, for the admin who asked for it.
 */
export function echo(opts: EchoOptions): Promise<EchoResult> {
  const peer = `${opts.host}:${opts.port}`;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = performance.now();

  return new Promise<EchoResult>((resolve, reject) => {
    let phase: 'connect' | 'associate' | 'echo' | 'release' | 'done' = 'connect';
    let result: EchoResult | undefined;
    let settled = false;

    const fail = (message: string, cause?: unknown, details: Record<string, unknown> = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(
        new FerryError('dicom.echo_failed', `C-ECHO to ${opts.calledAeTitle} at ${peer}: ${message}`, {
          ...(cause === undefined ? {} : { cause }),
          details: { host: opts.host, port: opts.port, phase, ...details },
        }),
      );
    };
    const finish = () => {
      if (settled || !result) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (result.status !== 0x0000) {
        reject(
          new FerryError(
            'dicom.echo_failed',
            `C-ECHO to ${opts.calledAeTitle} at ${peer}: the peer answered status 0x${hex4(result.status)}, not success`,
            { details: { host: opts.host, port: opts.port, status: result.status } },
          ),
        );
        return;
      }
      resolve(result);
    };

    const socket: Socket = opts.tls
      ? tlsConnect({
          host: opts.host,
          port: opts.port,
          ...(typeof opts.tls === 'object' ? opts.tls : {}),
        })
      : tcpConnect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    // A peer that answered the echo but never confirms the release still answered: that is a success.
    const timer = setTimeout(
      () =>
        result
          ? finish()
          : fail(`no answer within ${timeoutMs} ms while ${PHASE_TEXT[phase]}`, undefined, { timeout: true }),
      timeoutMs,
    );

    const reader = new PduReader(
      {
        pdu: (type, body) => onPdu(type, body),
        pdvStart: (_ctx, isCommand) => {
          if (!isCommand) fail('the peer sent a dataset; a C-ECHO-RSP has none');
          pdv = [];
        },
        pdvData: (slice) => pdv.push(Buffer.from(slice)),
        pdvEnd: () => onCommand(Buffer.concat(pdv)),
        malformed: (reason) => fail(`the peer's answer is malformed (${reason})`),
      },
      { maxPDataLength: 1 << 20, maxControlPduLength: 1 << 16 },
    );
    let pdv: Buffer[] = [];

    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      phase = 'associate';
      socket.write(encodeAssociateRq(opts.calledAeTitle, opts.callingAeTitle));
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => fail(describeSocketError(err, peer), err));
    socket.on('close', () => {
      if (result) return finish();
      fail(`the peer closed the connection while ${PHASE_TEXT[phase]}`);
    });

    function onPdu(type: number, body: Buffer): void {
      if (type === PduType.AssociateAc && phase === 'associate') {
        const accepted = verificationAccepted(body);
        if (accepted !== PresentationResult.Acceptance) {
          return fail(
            `association accepted but Verification was not (${CONTEXT_RESULT_TEXT[accepted] ?? `result ${accepted}`})`,
          );
        }
        phase = 'echo';
        socket.write(encodeEchoRq());
        return;
      }
      if (type === PduType.AssociateRj) {
        const [, res = 0, source = 0, reason = 0] = body;
        return fail(`association rejected (${describeReject(res, source, reason)})`, undefined, {
          rejectResult: res,
          rejectSource: source,
          rejectReason: reason,
        });
      }
      if (type === PduType.Abort) {
        const source = body[2] ?? 0;
        const reason = body[3] ?? 0;
        return fail(`the peer aborted the association (source ${source}, reason ${reason})`);
      }
      if (type === PduType.ReleaseRp && phase === 'release') {
        phase = 'done';
        return finish();
      }
      fail(`unexpected PDU type 0x${type.toString(16).padStart(2, '0')} while ${PHASE_TEXT[phase]}`);
    }

    function onCommand(bytes: Buffer): void {
      if (phase !== 'echo') return fail(`unexpected command while ${PHASE_TEXT[phase]}`);
      let rsp: { commandField: number; status: number };
      try {
        rsp = parseResponse(bytes);
      } catch (err) {
        return fail((err as Error).message);
      }
      if (rsp.commandField !== CommandField.CEchoRsp)
        return fail(`expected a C-ECHO-RSP, got command 0x${hex4(rsp.commandField)}`);
      result = { status: rsp.status, ms: Math.round((performance.now() - started) * 10) / 10 };
      phase = 'release';
      socket.write(encodeReleaseRq());
    }
  });
}

const PHASE_TEXT = {
  connect: 'connecting',
  associate: 'waiting for the association answer',
  echo: 'waiting for the C-ECHO-RSP',
  release: 'releasing the association',
  done: 'closing',
} as const;

const CONTEXT_RESULT_TEXT: Record<number, string> = {
  [PresentationResult.UserRejection]: 'user rejection',
  [PresentationResult.NoReason]: 'no reason given',
  [PresentationResult.AbstractSyntaxNotSupported]: 'abstract syntax not supported',
  [PresentationResult.TransferSyntaxesNotSupported]: 'transfer syntax not supported',
};

/** PS3.8 9.3.4: result, source and reason of an A-ASSOCIATE-RJ in words. */
export function describeReject(result: number, source: number, reason: number): string {
  const kind = result === 1 ? 'permanent' : result === 2 ? 'transient' : `result ${result}`;
  const bySource: Record<number, [string, Record<number, string>]> = {
    1: [
      'service user',
      {
        1: 'no reason given',
        2: 'application context name not supported',
        3: 'calling AE title not recognized',
        7: 'called AE title not recognized',
      },
    ],
    2: ['service provider (ACSE)', { 1: 'no reason given', 2: 'protocol version not supported' }],
    3: ['service provider (presentation)', { 1: 'temporary congestion', 2: 'local limit exceeded' }],
  };
  const [who, reasons] = bySource[source] ?? [`source ${source}`, {}];
  return `${kind}, ${who}: ${reasons[reason] ?? `reason ${reason}`}`;
}

function describeSocketError(err: NodeJS.ErrnoException, peer: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused: nothing listens on ${peer}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${err.code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to the host (${err.code})`;
    case 'ECONNRESET':
      return 'the peer reset the connection';
    default:
      return `connection failed (${err.code ?? err.message})`;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function aeField(title: string): Buffer {
  return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'latin1');
}

/**
 * An A-ASSOCIATE-RQ of one of our SCUs: one presentation context item (0x20), our implementation
 * and maximum PDU, and any further user information sub-items (e.g. role selection, 0x54).
 */
export function encodeScuAssociateRq(
  calledAeTitle: string,
  callingAeTitle: string,
  context: Buffer,
  maxPdu: number,
  extraUserItems: Buffer[] = [],
): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  aeField(calledAeTitle).copy(fixed, 4);
  aeField(callingAeTitle).copy(fixed, 20);
  const max = Buffer.alloc(4);
  max.writeUInt32BE(maxPdu, 0);
  const userInfo = item(
    0x50,
    Buffer.concat([
      item(0x51, max),
      item(0x52, Buffer.from(IMPLEMENTATION_CLASS_UID, 'latin1')),
      ...extraUserItems,
      item(0x55, Buffer.from(IMPLEMENTATION_VERSION, 'latin1')),
    ]),
  );
  return pdu(
    PduType.AssociateRq,
    Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1')), context, userInfo]),
  );
}

export function encodeAssociateRq(calledAeTitle: string, callingAeTitle: string): Buffer {
  const context = item(
    0x20,
    Buffer.concat([
      Buffer.from([CONTEXT_ID, 0, 0, 0]),
      item(0x30, Buffer.from(VERIFICATION_SOP_CLASS, 'latin1')),
      item(0x40, Buffer.from(IMPLICIT_VR_LITTLE_ENDIAN, 'latin1')),
    ]),
  );
  return encodeScuAssociateRq(calledAeTitle, callingAeTitle, context, OUR_MAX_PDU);
}

/** The result of our one presentation context in an A-ASSOCIATE-AC body (-1 when it is missing). */
function verificationAccepted(body: Buffer): number {
  let off = 68;
  while (off + 4 <= body.length) {
    const type = body[off]!;
    const len = body.readUInt16BE(off + 2);
    if (type === 0x21 && len >= 4 && body[off + 4] === CONTEXT_ID) return body[off + 6]!;
    off += 4 + len;
  }
  return -1;
}

function element(tag: number, value: Buffer): Buffer {
  const padded = value.length % 2 === 1 ? Buffer.concat([value, Buffer.from([0])]) : value;
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(tag, 2);
  head.writeUInt32LE(padded.length, 4);
  return Buffer.concat([head, padded]);
}

function us(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
}

/** C-ECHO-RQ as one P-DATA-TF PDU with one command PDV (implicit VR LE, PS3.7 9.3.5). */
export function encodeEchoRq(): Buffer {
  const body = Buffer.concat([
    element(0x0002, Buffer.from(VERIFICATION_SOP_CLASS, 'latin1')),
    element(0x0100, us(CommandField.CEchoRq)),
    element(0x0110, us(MESSAGE_ID)),
    element(0x0800, us(NO_DATASET)),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([element(0x0000, groupLength), body]);
  const pdvHead = Buffer.alloc(6);
  pdvHead.writeUInt32BE(command.length + 2, 0);
  pdvHead[4] = CONTEXT_ID;
  pdvHead[5] = 0x03;
  return pdu(PduType.PData, Buffer.concat([pdvHead, command]));
}

/** Reads Command Field and Status from a response command set. */
function parseResponse(bytes: Buffer): { commandField: number; status: number } {
  let commandField = -1;
  let status = -1;
  let off = 0;
  while (off + 8 <= bytes.length) {
    const group = bytes.readUInt16LE(off);
    const tag = bytes.readUInt16LE(off + 2);
    const len = bytes.readUInt32LE(off + 4);
    const start = off + 8;
    if (group !== 0 || start + len > bytes.length) throw new Error('the response command set is malformed');
    if (tag === 0x0100 && len >= 2) commandField = bytes.readUInt16LE(start);
    if (tag === 0x0900 && len >= 2) status = bytes.readUInt16LE(start);
    off = start + len;
  }
  if (commandField < 0 || status < 0) throw new Error('the response lacks Command Field or Status');
  return { commandField, status };
}

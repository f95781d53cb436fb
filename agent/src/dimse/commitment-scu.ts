import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FerryError, TS } from '@ferry/shared';
import { encodeReleaseRq, item } from './associate.js';
import { type Command, CommandField, parseCommand } from './command.js';
import { type CommitmentResult, STORAGE_COMMITMENT_SOP_CLASS } from './commitment-dataset.js';
import { encodeEventReportRq } from './commitment-messages.js';
import { describeReject, encodeScuAssociateRq } from './echo-scu.js';
import { PduReader } from './pdu-reader.js';
import { PduType, PresentationResult } from './pdu-types.js';

const CONTEXT_ID = 1;
const OUR_MAX_PDU = 65_536;

export interface ReportTarget {
  host: string;
  port: number;
  tls: boolean;
  calledAeTitle: string;
  callingAeTitle: string;
}

/**
 * A-ASSOCIATE-RQ for reporting storage commitment on a new association: the Storage Commitment
 * context, and SCP/SCU Role Selection saying we, the requester, are its SCP (PS3.4 J.3.3, PS3.7 D.3.3.4).
 */
export function encodeReportAssociateRq(calledAeTitle: string, callingAeTitle: string): Buffer {
  const latin1 = (s: string) => Buffer.from(s, 'latin1');
  const context = item(
    0x20,
    Buffer.concat([
      Buffer.from([CONTEXT_ID, 0, 0, 0]),
      item(0x30, latin1(STORAGE_COMMITMENT_SOP_CLASS)),
      item(0x40, latin1(TS.ExplicitVRLittleEndian)),
      item(0x40, latin1(TS.ImplicitVRLittleEndian)),
    ]),
  );
  const uidLength = Buffer.alloc(2);
  uidLength.writeUInt16BE(STORAGE_COMMITMENT_SOP_CLASS.length, 0);
  const role = Buffer.concat([uidLength, latin1(STORAGE_COMMITMENT_SOP_CLASS), Buffer.from([0, 1])]);
  return encodeScuAssociateRq(calledAeTitle, callingAeTitle, context, OUR_MAX_PDU, [item(0x54, role)]);
}

/** Our context's result and transfer syntax, and the peer's maximum PDU, from an A-ASSOCIATE-AC body. */
export function readAssociateAc(body: Buffer): { result: number; transferSyntax: string; maxPdu: number } {
  let result = -1;
  let transferSyntax = '';
  let maxPdu = 0;
  let off = 68;
  while (off + 4 <= body.length) {
    const type = body[off]!;
    const len = body.readUInt16BE(off + 2);
    const value = body.subarray(off + 4, off + 4 + len);
    if (type === 0x21 && len >= 4 && value[0] === CONTEXT_ID) {
      result = value[2]!;
      if (len >= 8 && value[4] === 0x40)
        transferSyntax = value.toString('latin1', 8, 8 + value.readUInt16BE(6)).replace(/[\0 ]+$/, '');
    }
    if (type === 0x50) {
      for (let u = 0; u + 4 <= value.length; u += 4 + value.readUInt16BE(u + 2))
        if (value[u] === 0x51 && value.readUInt16BE(u + 2) === 4) maxPdu = value.readUInt32BE(u + 4);
    }
    off += 4 + len;
  }
  return { result, transferSyntax, maxPdu };
}

/**
 * Opens an association to the requester, sends the N-EVENT-REPORT-RQ of `result` and releases.
 * Resolves with the N-EVENT-REPORT-RSP status; every failure is `dicom.commitment_report_failed`.
 */
export function sendCommitmentReport(
  target: ReportTarget,
  result: CommitmentResult,
  timeoutMs = 30_000,
): Promise<number> {
  const peer = `${target.host}:${target.port}`;
  return new Promise<number>((resolve, reject) => {
    let phase: 'connect' | 'associate' | 'report' | 'release' = 'connect';
    let status: number | undefined;
    let settled = false;
    let pdv: Buffer[] = [];
    const end = (err?: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err === undefined && status !== undefined) return resolve(status);
      reject(
        new FerryError(
          'dicom.commitment_report_failed',
          `storage commitment report to ${target.calledAeTitle} at ${peer}: ${err ?? 'closed early'}`,
          { ...(cause === undefined ? {} : { cause }), details: { phase } },
        ),
      );
    };
    const socket: Socket = target.tls
      ? tlsConnect({ host: target.host, port: target.port, servername: target.host })
      : tcpConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    // A peer that answered the report but never confirms the release still has it.
    const timer = setTimeout(
      () => (status !== undefined ? end() : end(`no answer within ${timeoutMs} ms (${phase})`)),
      timeoutMs,
    );
    const reader = new PduReader(
      {
        pdu: (type, body) => onPdu(type, body),
        pdvStart: () => undefined,
        pdvData: (slice) => pdv.push(Buffer.from(slice)),
        pdvEnd: () => {
          const bytes = Buffer.concat(pdv);
          pdv = [];
          onCommand(bytes);
        },
        malformed: (reason) => end(`malformed answer (${reason})`),
      },
      { maxPDataLength: OUR_MAX_PDU, maxControlPduLength: 1 << 16 },
    );
    socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      phase = 'associate';
      socket.write(encodeReportAssociateRq(target.calledAeTitle, target.callingAeTitle));
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      end(`connection failed (${err.code ?? err.message})`, err),
    );
    socket.on('close', () =>
      status !== undefined ? end() : end(`the peer closed the connection (${phase})`),
    );

    function onPdu(type: number, body: Buffer): void {
      if (type === PduType.AssociateAc && phase === 'associate') {
        const ac = readAssociateAc(body);
        if (ac.result !== PresentationResult.Acceptance)
          return end(`the peer did not accept the Storage Commitment context (result ${ac.result})`);
        phase = 'report';
        for (const p of encodeEventReportRq(CONTEXT_ID, 1, result, ac.transferSyntax, ac.maxPdu))
          socket.write(p);
        return;
      }
      if (type === PduType.AssociateRj)
        return end(`association rejected (${describeReject(body[1] ?? 0, body[2] ?? 0, body[3] ?? 0)})`);
      if (type === PduType.Abort) return end('the peer aborted the association');
      if (type === PduType.ReleaseRp && phase === 'release') return end();
      end(`unexpected PDU type 0x${type.toString(16)} (${phase})`);
    }

    function onCommand(bytes: Buffer): void {
      let rsp: Command;
      try {
        rsp = parseCommand(bytes);
      } catch (err) {
        return end('unreadable response', err);
      }
      if (phase !== 'report' || rsp.commandField !== CommandField.NEventReportRsp)
        return end(`expected an N-EVENT-REPORT-RSP, got command 0x${rsp.commandField.toString(16)}`);
      status = rsp.status ?? -1;
      phase = 'release';
      socket.write(encodeReleaseRq());
    }
  });
}

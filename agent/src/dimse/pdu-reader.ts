import { PduType } from './pdu-types.js';

export interface PduSink {
  /** A whole non-P-DATA PDU (its body after the 6-byte header). */
  pdu(type: number, body: Buffer): void;
  /** A PDV begins; `isCommand` and `isLast` come from its message control header. */
  pdvStart(contextId: number, isCommand: boolean, isLast: boolean, length: number): void;
  /** Bytes of the current PDV, as zero-copy slices of the socket chunks, in order. */
  pdvData(slice: Buffer): void;
  pdvEnd(): void;
  /** The stream broke the framing rules; the connection must be aborted. */
  malformed(reason: string, tooLarge: boolean): void;
}

const PDU_NAMES: Record<number, string> = {
  [PduType.AssociateRq]: 'A-ASSOCIATE-RQ',
  [PduType.AssociateAc]: 'A-ASSOCIATE-AC',
  [PduType.AssociateRj]: 'A-ASSOCIATE-RJ',
  [PduType.ReleaseRq]: 'A-RELEASE-RQ',
  [PduType.ReleaseRp]: 'A-RELEASE-RP',
  [PduType.Abort]: 'A-ABORT',
};

enum State {
  PduHeader,
  Body,
  PdvHeader,
  PdvData,
}

/**
 * Incremental PDU reader. P-DATA bodies are never reassembled: PDV fragments are handed on as slices
 * of the socket chunks they arrived in, so a 2 GB dataset costs no copies and no growing buffers.
 * Parsing is synchronous per chunk, which keeps PDV order by construction.
 */
export class PduReader {
  private state = State.PduHeader;
  private head = Buffer.alloc(6);
  private headFill = 0;
  private pduType = 0;
  private pduRemaining = 0;
  /** The body of the non-P-DATA PDU being read, sized to its (checked) length; filled up to bodyFill. */
  private body = Buffer.alloc(0);
  private bodyFill = 0;
  private pdvRemaining = 0;
  private failed = false;
  /** PDUs read whole so far (the connection times each PDU from its first byte). */
  pdusCompleted = 0;

  constructor(
    private readonly sink: PduSink,
    private readonly limits: { maxPDataLength: number; maxControlPduLength: number },
  ) {}

  /** True between a PDU's first byte and its last. */
  get midPdu(): boolean {
    return this.state !== State.PduHeader || this.headFill > 0;
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.failed) {
      switch (this.state) {
        case State.PduHeader: {
          const n = Math.min(6 - this.headFill, chunk.length - off);
          chunk.copy(this.head, this.headFill, off, off + n);
          this.headFill += n;
          off += n;
          if (this.headFill === 6) this.beginPdu();
          break;
        }
        case State.Body: {
          // Copied, not sliced: slices would keep each socket chunk alive, and a peer sending one
          // byte per chunk would make us hold far more than the PDU's length.
          const n = Math.min(this.pduRemaining, chunk.length - off);
          chunk.copy(this.body, this.bodyFill, off, off + n);
          this.bodyFill += n;
          this.pduRemaining -= n;
          off += n;
          if (this.pduRemaining === 0) this.endControlPdu();
          break;
        }
        case State.PdvHeader: {
          const n = Math.min(6 - this.headFill, chunk.length - off);
          chunk.copy(this.head, this.headFill, off, off + n);
          this.headFill += n;
          off += n;
          this.pduRemaining -= n;
          if (this.headFill === 6) this.beginPdv();
          break;
        }
        case State.PdvData: {
          const n = Math.min(this.pdvRemaining, chunk.length - off);
          if (n > 0) this.sink.pdvData(chunk.subarray(off, off + n));
          this.pdvRemaining -= n;
          this.pduRemaining -= n;
          off += n;
          if (this.pdvRemaining === 0) this.endPdv();
          break;
        }
      }
    }
  }

  private fail(reason: string, tooLarge = false): void {
    this.failed = true;
    this.sink.malformed(reason, tooLarge);
  }

  private beginPdu(): void {
    this.headFill = 0;
    this.pduType = this.head[0] ?? 0;
    this.pduRemaining = this.head.readUInt32BE(2);
    if (this.pduType < PduType.AssociateRq || this.pduType > PduType.Abort) {
      return this.fail(`unrecognized PDU type 0x${this.pduType.toString(16).padStart(2, '0')}`);
    }
    if (this.pduType === PduType.PData) {
      if (this.pduRemaining > this.limits.maxPDataLength) {
        return this.fail(
          `P-DATA-TF PDU of ${this.pduRemaining} bytes exceeds the maximum ${this.limits.maxPDataLength}`,
          true,
        );
      }
      if (this.pduRemaining < 6) return this.fail('P-DATA-TF PDU too short for a PDV');
      this.state = State.PdvHeader;
      return;
    }
    if (this.pduRemaining > this.limits.maxControlPduLength) {
      return this.fail(
        `${PDU_NAMES[this.pduType] ?? 'PDU'} of ${this.pduRemaining} bytes exceeds the maximum ${this.limits.maxControlPduLength}`,
        true,
      );
    }
    this.body = Buffer.allocUnsafe(this.pduRemaining);
    this.bodyFill = 0;
    this.state = State.Body;
    if (this.pduRemaining === 0) this.endControlPdu();
  }

  private endControlPdu(): void {
    const body = this.body;
    this.body = Buffer.alloc(0);
    this.state = State.PduHeader;
    this.pdusCompleted++;
    this.sink.pdu(this.pduType, body);
  }

  private beginPdv(): void {
    this.headFill = 0;
    const itemLength = this.head.readUInt32BE(0);
    if (itemLength < 2 || itemLength - 2 > this.pduRemaining) {
      return this.fail(`PDV item length ${itemLength} does not fit its P-DATA-TF PDU`);
    }
    const contextId = this.head[4] ?? 0;
    const control = this.head[5] ?? 0;
    if (control & 0xfc)
      return this.fail(`PDV message control header 0x${control.toString(16)} has reserved bits set`);
    this.pdvRemaining = itemLength - 2;
    this.state = State.PdvData;
    this.sink.pdvStart(contextId, (control & 0x01) !== 0, (control & 0x02) !== 0, this.pdvRemaining);
    if (this.pdvRemaining === 0) this.endPdv();
  }

  private endPdv(): void {
    this.sink.pdvEnd();
    if (this.pduRemaining === 0) {
      this.state = State.PduHeader;
      this.pdusCompleted++;
    } else if (this.pduRemaining < 6) this.fail('P-DATA-TF PDU ends inside a PDV header');
    else this.state = State.PdvHeader;
  }
}

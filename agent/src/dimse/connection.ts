import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { FerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import { releaseBuffers } from '../spool/buffer-release.js';
import {
  type AssociateRequest,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  encodeReleaseRp,
  parseAssociateRq,
} from './associate.js';
import { type AssociationRejection, judgeAssociateRq } from './association-accept.js';
import { type Command, CommandField, encodeResponsePdu, NO_DATASET, parseCommand } from './command.js';
import { type CommitmentSession, type DatasetSink, routesToCommitment } from './commitment-session.js';
import {
  type AssociationIds,
  logAssociationAccepted,
  logAssociationClosed,
  logAssociationRejected,
  logStore,
} from './connection-log.js';
import { checkUserIdentity, type IdentityVerdict, identityRequiredOf } from './identity-check.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import {
  AbortReason,
  AbortSource,
  PduType,
  PresentationResult,
  VERIFICATION_SOP_CLASS,
} from './pdu-types.js';
import { type AssociationPolicy, pduTimeoutMs } from './policy.js';
import { encodeRefusal, logUnsupported, type Refusal, unsupportedRefusal } from './refusal.js';
import { isStorageSopClass } from './sop-classes.js';
import { Status, type StoreHandler, type StoreWriter } from './store-handler.js';

/** A command set is a few hundred bytes; this bounds what a hostile peer can make us buffer. */
const MAX_COMMAND_BYTES = 64 * 1024;

/**
 * The largest PDU other than P-DATA-TF we read. Only an A-ASSOCIATE-RQ is ever more than a few
 * bytes, and it is read whole into memory before the peer is associated or counted against a slot,
 * so this is what each pending connection can make us hold. A real one is a few KB. Its largest
 * legitimate part is the User Information item (PS3.8 9.3.2.3, PS3.7 D.3.3.7: user identity with a
 * Kerberos ticket, SAML assertion or JWT), which its 16-bit item length caps at 64 KiB; the other
 * 64 KiB leave room for the application context and up to 128 presentation contexts of about 500
 * bytes each (an abstract syntax and some 18 transfer syntaxes). The peer's declared length is
 * checked before any of its body is read, so nothing larger is ever buffered.
 */
export const MAX_ASSOCIATE_RQ_BYTES = 128 * 1024;

enum Phase {
  AwaitingAssociate,
  Established,
  Released,
  Closed,
}

/** What the listener decides and counts; called on the receive path, so they must stay cheap. */
export interface ConnectionHooks {
  /**
   * An A-ASSOCIATE-RQ passed the policy: undefined admits it (the listener counts it until the
   * connection closes), a reason refuses it as busy (transient, local limit exceeded).
   */
  admit(callingAeTitle: string): string | undefined;
  stored(callingAeTitle: string): void;
  /** An association was accepted on an AE title alias rather than the AE title itself. */
  calledAlias?(alias: string): void;
  /** Storage commitment on this association (commitment-session.ts), when the agent offers it. */
  commitment?(assoc: string, req: AssociateRequest, send: (pdu: Buffer) => void): CommitmentSession;
}

interface PendingCommand {
  contextId: number;
  command: Command;
  /** Where the dataset goes; without one it is read and dropped, then `refusal` answers it. */
  writer?: StoreWriter;
  sink?: DatasetSink;
  refusal?: Refusal;
  started: number;
  bytes: number;
}

/**
 * One association, from TCP accept to close. It speaks the DICOM upper layer itself: the PDU reader
 * hands PDV slices straight to the spool writer, and responses are encoded from fixed layouts.
 */
export class Connection implements PduSink {
  readonly id = randomBytes(6).toString('hex');
  private phase = Phase.AwaitingAssociate;
  private readonly reader: PduReader;
  private readonly peer: string;
  private readonly ids: AssociationIds;
  private request: AssociateRequest | undefined;
  private contexts = new Map<number, { abstractSyntax: string; transferSyntax: string }>();
  private pdvContext = -1;
  private pdvIsCommand = false;
  private pdvIsLast = false;
  private commandParts: Buffer[] = [];
  private commandBytes = 0;
  private current: PendingCommand | undefined;
  private commitment: CommitmentSession | undefined;
  private storesInFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  /** When the PDU being read began (0 between PDUs); only timed on an established association. */
  private pduStartedAt = 0;
  private readonly pduTimeoutMs: number;
  /** Since when our responses have waited for the peer to read them (0: they do not). */
  private unreadSince = 0;
  private pausedForSpool = false;
  /** Some slice of the socket chunk being read went to a consumer that may keep it. */
  private chunkKept = false;
  private stats = { stored: 0, failed: 0, bytes: 0 };
  private readonly openedAt = Date.now();
  private released = false;
  /** A-RELEASE-RQ came while stores were still being answered: finishStore sends A-RELEASE-RP after the last. */
  private releasePending = false;
  private lastActivity = Date.now();

  constructor(
    private readonly socket: Socket,
    private readonly policy: AssociationPolicy,
    private readonly store: StoreHandler,
    private readonly log: Logger,
    private readonly onClose: () => void,
    private readonly hooks?: ConnectionHooks,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.ids = { assoc: this.id, peer: this.peer };
    this.pduTimeoutMs = pduTimeoutMs(policy);
    this.reader = new PduReader(this, {
      maxPDataLength: policy.maxPduLength,
      maxControlPduLength: MAX_ASSOCIATE_RQ_BYTES,
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      // Only an established association's idle timer restarts on traffic; ARTIM runs from connect
      // (or release) to the end, so a peer trickling bytes cannot hold a slot.
      if (this.phase !== Phase.Established) return this.reader.push(chunk);
      const now = Date.now();
      this.lastActivity = now;
      const completed = this.reader.pdusCompleted;
      this.chunkKept = false;
      this.reader.push(chunk);
      // Every slice of it was copied or dropped: free it now rather than at the next full GC.
      if (!this.chunkKept) releaseBuffers([chunk]);
      this.timePdu(now, completed !== this.reader.pdusCompleted);
    });
    socket.on('error', (err) =>
      this.log.debug({ assoc: this.id, peer: this.peer, err: err.message }, 'socket error'),
    );
    socket.on('close', () => this.closed());
    this.armTimer();
  }

  /** Sends A-ABORT and drops the connection; anything not yet durable is discarded, never half-kept. */
  abort(reason: string, abortReason: number = AbortReason.NotSpecified): void {
    if (this.phase === Phase.Closed) return;
    this.log.warn({ event: 'dicom.abort', assoc: this.id, peer: this.peer, reason }, 'association aborted');
    // Nothing more it sends is read: the rest of a refused 900 KiB PDU stays in the kernel's buffers.
    this.socket.pause();
    this.socket.write(encodeAbort(AbortSource.ServiceProvider, abortReason));
    this.hangUp();
    this.closed();
  }

  /** Starts the timer of the phase just entered: ARTIM before association and after release, else idle. */
  private armTimer(): void {
    if (this.phase === Phase.Closed) return;
    const established = this.phase === Phase.Established;
    this.lastActivity = Date.now();
    this.pduStartedAt = 0;
    this.schedule(established ? this.policy.idleTimeoutMs : this.policy.artimTimeoutMs);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerDueAt = Date.now() + ms;
    this.timer = setTimeout(() => this.timerFired(), ms);
    this.timer.unref();
  }

  /**
   * Notes when a PDU began after a chunk was read. The timer is moved only when this PDU's deadline
   * comes before it is due, which is rare: a timer per PDU is measurable on the data path.
   */
  private timePdu(now: number, completedOne: boolean): void {
    if (this.phase !== Phase.Established) return;
    if (!this.reader.midPdu) {
      this.pduStartedAt = 0;
      return;
    }
    if (this.pduStartedAt !== 0 && !completedOne) return;
    this.pduStartedAt = now;
    if (this.timerDueAt > now + this.pduTimeoutMs) this.schedule(this.pduTimeoutMs);
  }

  /**
   * Writes a response. A peer that sends requests but does not read the answers would make us
   * buffer them without end, so once the socket's buffer is full we stop reading its requests until
   * it drains, and give it pduTimeoutMs to do so.
   */
  private send(bytes: Buffer): void {
    if (this.socket.write(bytes) || this.unreadSince !== 0) return;
    const now = Date.now();
    this.unreadSince = now;
    this.socket.pause();
    this.socket.once('drain', () => {
      this.unreadSince = 0;
      this.resumeReading();
    });
    if (this.timerDueAt > now + this.pduTimeoutMs) this.schedule(this.pduTimeoutMs);
  }

  private resumeReading(): void {
    if (this.phase !== Phase.Closed && !this.pausedForSpool && this.unreadSince === 0) this.socket.resume();
  }

  /** Traffic only stamps times; the timer checks them when it fires and re-arms for the nearest. */
  private timerFired(): void {
    if (this.phase === Phase.Closed) return;
    if (this.phase !== Phase.Established)
      return this.abort(`ARTIM timer expired after ${this.policy.artimTimeoutMs} ms`);
    const now = Date.now();
    const idleMs = this.policy.idleTimeoutMs;
    if (this.unreadSince !== 0) {
      // We stopped reading because the peer does not read: its deadline is the only one that runs.
      const unreadLeft = this.unreadSince + this.pduTimeoutMs - now;
      if (unreadLeft > 0) return this.schedule(unreadLeft);
      const reason = `peer has not read our responses for ${now - this.unreadSince} ms (limit ${this.pduTimeoutMs} ms)`;
      this.log.warn(
        { event: 'dicom.peer_not_reading', assoc: this.id, peer: this.peer, reason },
        'peer does not read',
      );
      return this.abort(reason);
    }
    // A store waiting on the disk, or a socket we paused for it, is not slowness on the peer's part:
    // both clocks restart once we are ready again.
    if (this.storesInFlight > 0 || this.pausedForSpool) {
      this.lastActivity = now;
      if (this.pduStartedAt !== 0) this.pduStartedAt = now;
      return this.schedule(Math.min(idleMs, this.pduTimeoutMs));
    }
    const pduLeft = this.pduStartedAt === 0 ? Infinity : this.pduStartedAt + this.pduTimeoutMs - now;
    if (pduLeft <= 0) {
      const reason = `PDU not complete ${now - this.pduStartedAt} ms after its first byte (limit ${this.pduTimeoutMs} ms)`;
      this.log.warn({ event: 'dicom.pdu_timeout', assoc: this.id, peer: this.peer, reason }, 'PDU too slow');
      return this.abort(reason);
    }
    const idleLeft = this.lastActivity + idleMs - now;
    if (idleLeft <= 0) return this.abort(`idle for ${idleMs} ms`);
    this.schedule(Math.min(idleLeft, pduLeft));
  }

  private closed(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    if (this.timer) clearTimeout(this.timer);
    if (this.current?.writer) {
      this.current.writer.abort();
      this.log.warn(
        {
          event: 'dicom.store_aborted',
          assoc: this.id,
          peer: this.peer,
          sopInstanceUid: this.current.command.affectedSopInstanceUid,
        },
        'connection closed inside a dataset; partial instance discarded',
      );
    }
    this.current = undefined;
    this.commitment?.closed();
    if (!this.socket.writableEnded) this.socket.destroy();
    if (this.request) {
      const end = { released: this.released, ms: Date.now() - this.openedAt, stats: this.stats };
      logAssociationClosed(this.log, this.ids, this.request, end);
    }
    this.onClose();
  }

  // PduSink

  malformed(reason: string, tooLarge: boolean): void {
    const code = tooLarge ? 'dicom.pdu_too_large' : 'dicom.pdu_malformed';
    this.log.warn({ event: code, assoc: this.id, peer: this.peer, reason }, 'bad PDU');
    this.abort(reason, tooLarge ? AbortReason.InvalidPduParameterValue : AbortReason.UnrecognizedPdu);
  }

  pdu(type: number, body: Buffer): void {
    switch (type) {
      case PduType.AssociateRq:
        if (this.phase !== Phase.AwaitingAssociate)
          return this.abort('A-ASSOCIATE-RQ on an established association', AbortReason.UnexpectedPdu);
        if (this.request) return this.abort('a second A-ASSOCIATE-RQ', AbortReason.UnexpectedPdu);
        return this.associate(body);
      case PduType.ReleaseRq:
        if (this.phase !== Phase.Established)
          return this.abort('A-RELEASE-RQ outside an association', AbortReason.UnexpectedPdu);
        if (this.current || this.releasePending)
          return this.abort('A-RELEASE-RQ inside a DIMSE message', AbortReason.UnexpectedPdu);
        if (this.storesInFlight > 0) this.releasePending = true;
        else this.release();
        return;
      case PduType.Abort:
        this.log.info({ event: 'dicom.peer_abort', assoc: this.id, peer: this.peer }, 'peer aborted');
        this.socket.destroy();
        return this.closed();
      default:
        return this.abort(`unexpected PDU type 0x${type.toString(16)}`, AbortReason.UnexpectedPdu);
    }
  }

  pdvStart(contextId: number, isCommand: boolean, isLast: boolean): void {
    if (this.phase !== Phase.Established || this.releasePending)
      return this.abort('P-DATA-TF outside an association', AbortReason.UnexpectedPdu);
    if (!this.contexts.has(contextId))
      return this.abort(
        `PDV on presentation context ${contextId}, which was not accepted`,
        AbortReason.InvalidPduParameterValue,
      );
    this.pdvContext = contextId;
    this.pdvIsCommand = isCommand;
    this.pdvIsLast = isLast;
    if (!isCommand) {
      const cur = this.current;
      if (!cur || cur.contextId !== contextId)
        return this.abort('dataset PDV without a command that announced it', AbortReason.UnexpectedPdu);
    } else if (this.current) {
      return this.abort('command PDV inside a dataset', AbortReason.UnexpectedPdu);
    }
  }

  pdvData(slice: Buffer): void {
    if (this.phase !== Phase.Established) return;
    if (this.pdvIsCommand) {
      this.commandBytes += slice.length;
      if (this.commandBytes > MAX_COMMAND_BYTES) {
        return this.abort(
          `command set larger than ${MAX_COMMAND_BYTES} bytes`,
          AbortReason.InvalidPduParameterValue,
        );
      }
      this.commandParts.push(slice);
      this.chunkKept = true;
      return;
    }
    const cur = this.current!;
    cur.bytes += slice.length;
    if (cur.sink) {
      this.chunkKept = true;
      return cur.sink.write(slice);
    }
    if (cur.writer && !cur.writer.copiesSlices) this.chunkKept = true;
    // The dataset of a request we refuse is read and dropped.
    if (cur.writer && !cur.writer.write(slice)) {
      // Back-pressure: the spool is behind, so stop reading until it drains.
      this.pausedForSpool = true;
      this.socket.pause();
      cur.writer.onDrain(() => {
        this.pausedForSpool = false;
        this.resumeReading();
      });
    }
  }

  pdvEnd(): void {
    if (this.phase !== Phase.Established || !this.pdvIsLast) return;
    if (this.pdvIsCommand) {
      const bytes = Buffer.concat(this.commandParts);
      this.commandParts = [];
      this.commandBytes = 0;
      let command: Command;
      try {
        command = parseCommand(bytes);
      } catch (err) {
        return this.abort(
          err instanceof FerryError ? err.message : 'unreadable command set',
          AbortReason.InvalidPduParameterValue,
        );
      }
      this.command(this.pdvContext, command);
    } else {
      const cur = this.current!;
      this.current = undefined;
      if (cur.writer) void this.finishStore(cur);
      else if (cur.sink) void this.finishSink(cur.sink);
      else if (cur.refusal) this.send(encodeRefusal(cur.contextId, cur.command, cur.refusal));
    }
  }

  private associate(body: Buffer): void {
    let req: AssociateRequest;
    try {
      req = parseAssociateRq(body);
    } catch (err) {
      return this.abort(
        err instanceof Error ? err.message : 'bad A-ASSOCIATE-RQ',
        AbortReason.InvalidPduParameterValue,
      );
    }
    this.request = req;
    const identity = checkUserIdentity(req.userIdentity, identityRequiredOf(req, this.policy.userIdentity));
    if (!(identity instanceof Promise)) return this.judge(req, identity);
    // A password hash or JWT signature is being checked (ARTIM still runs): read nothing meanwhile.
    this.socket.pause();
    identity
      .catch(
        (err: unknown): IdentityVerdict => ({
          ok: false,
          why: `it could not be checked: ${err instanceof Error ? err.message : String(err)}`,
        }),
      )
      .then((verdict) => {
        if (this.phase !== Phase.AwaitingAssociate) return;
        this.resumeReading();
        this.judge(req, verdict);
      });
  }

  private judge(req: AssociateRequest, identity: IdentityVerdict): void {
    const verdict = judgeAssociateRq(req, this.policy, (ae) => this.hooks?.admit(ae), identity);
    if (!verdict.accepted) return this.reject(verdict);
    const { decisions } = verdict;
    if (verdict.alias !== undefined) this.hooks?.calledAlias?.(verdict.alias);
    for (const d of decisions) {
      if (d.result === PresentationResult.Acceptance)
        this.contexts.set(d.id, { abstractSyntax: d.abstractSyntax, transferSyntax: d.transferSyntax });
    }
    this.phase = Phase.Established;
    this.send(encodeAssociateAc(req, decisions, this.policy.maxPduLength, verdict.identityResponse));
    this.armTimer();
    logAssociationAccepted(this.log, this.ids, req, {
      proposed: decisions.length,
      accepted: this.contexts.size,
    });
  }

  private release(): void {
    this.releasePending = false;
    this.phase = Phase.Released;
    this.released = true;
    this.commitment?.closed();
    this.socket.write(encodeReleaseRp());
    this.armTimer();
  }

  private reject(rejection: AssociationRejection): void {
    logAssociationRejected(this.log, this.ids, this.request, rejection);
    const { result, source, reason } = rejection;
    this.socket.write(encodeAssociateRj(result, source, reason));
    this.hangUp();
    this.closed();
  }

  /** Ends our side, and does not let a peer that never closes hold the socket. */
  private hangUp(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private command(contextId: number, command: Command): void {
    const ctx = this.contexts.get(contextId)!;
    if (command.commandField === CommandField.CEchoRq) {
      this.send(
        encodeResponsePdu(contextId, {
          commandField: CommandField.CEchoRsp,
          messageId: command.messageId,
          sopClassUid: VERIFICATION_SOP_CLASS,
          status: Status.Success,
        }),
      );
      return;
    }
    if (this.hooks?.commitment && routesToCommitment(ctx.abstractSyntax, command)) {
      this.commitment ??= this.hooks.commitment(this.id, this.request!, (b) => this.send(b));
      const sink = this.commitment.command(contextId, ctx.transferSyntax, command);
      if (sink) this.current = { contextId, command, sink, started: Date.now(), bytes: 0 };
      return;
    }
    if (command.commandField !== CommandField.CStoreRq) return this.unsupported(contextId, command);
    if (!isStorageSopClass(ctx.abstractSyntax, this.policy)) {
      // C-STORE on the Verification context: refused 0x0122, its dataset dropped, association kept.
      this.log.warn(
        { event: 'dicom.store_not_storage_context', assoc: this.id, contextClass: ctx.abstractSyntax },
        'C-STORE on a presentation context that is not for storage',
      );
      return this.refuseAfterDataset(contextId, command, {
        commandField: CommandField.CStoreRsp,
        status: Status.SopClassNotSupported,
        errorComment: 'C-STORE on a presentation context that is not for storage',
      });
    }
    if (command.dataSetType === NO_DATASET)
      return this.abort('C-STORE-RQ without a dataset', AbortReason.InvalidPduParameterValue);
    if (!isStorageSopClass(command.affectedSopClassUid, this.policy)) {
      // A class we would refuse as a context (1.2.3) must not get in on another class's context.
      this.log.warn(
        { event: 'dicom.store_class_not_storage', assoc: this.id, requestClass: command.affectedSopClassUid },
        'C-STORE of a SOP class that is not storage',
      );
      return this.refuseAfterDataset(contextId, command, {
        commandField: CommandField.CStoreRsp,
        status: Status.SopClassNotSupported,
        errorComment: `SOP class ${command.affectedSopClassUid} is not a storage class`,
      });
    }
    if (command.affectedSopClassUid !== ctx.abstractSyntax) {
      this.log.warn(
        {
          event: 'dicom.store_context_mismatch',
          assoc: this.id,
          contextClass: ctx.abstractSyntax,
          requestClass: command.affectedSopClassUid,
        },
        'C-STORE SOP class differs from its presentation context',
      );
    }
    const writer = this.store.begin({
      associationId: this.id,
      callingAeTitle: this.request!.callingAeTitle,
      calledAeTitle: this.request!.calledAeTitle,
      peer: this.peer,
      transferSyntaxUid: ctx.transferSyntax,
      sopClassUid: command.affectedSopClassUid,
      sopInstanceUid: command.affectedSopInstanceUid,
      messageId: command.messageId,
    });
    this.current = { contextId, command, writer, started: Date.now(), bytes: 0 };
  }

  /**
   * A command other than C-STORE or C-ECHO is answered 0x0211 and the association carries on;
   * C-CANCEL-RQ and responses are only logged. A dataset that follows is read and dropped first.
   */
  private unsupported(contextId: number, command: Command): void {
    const refusal = unsupportedRefusal(command);
    logUnsupported(this.log, { assoc: this.id, peer: this.peer }, command, refusal);
    this.refuseAfterDataset(contextId, command, refusal);
  }

  /** Answers now, or once the dataset the command announced has been read and dropped. */
  private refuseAfterDataset(contextId: number, command: Command, refusal: Refusal | undefined): void {
    if (command.dataSetType !== NO_DATASET)
      this.current = { contextId, command, ...(refusal ? { refusal } : {}), started: Date.now(), bytes: 0 };
    else if (refusal) this.send(encodeRefusal(contextId, command, refusal));
  }

  /** A storage commitment N-ACTION: as after a store, a pending release waits for its response. */
  private async finishSink(sink: DatasetSink): Promise<void> {
    this.storesInFlight++;
    await sink.end();
    if (--this.storesInFlight === 0 && this.releasePending && this.phase !== Phase.Closed) this.release();
  }

  private async finishStore(cur: PendingCommand): Promise<void> {
    this.storesInFlight++;
    const outcome = await cur.writer!.end();
    this.storesInFlight--;
    this.lastActivity = Date.now();
    const ok = outcome.status === Status.Success;
    if (ok) {
      this.stats.stored++;
      this.hooks?.stored(this.request!.callingAeTitle);
    } else this.stats.failed++;
    this.stats.bytes += cur.bytes;
    // Answer first: the sender is waiting, the log line is not.
    if (this.phase !== Phase.Closed) {
      this.send(
        encodeResponsePdu(cur.contextId, {
          commandField: CommandField.CStoreRsp,
          messageId: cur.command.messageId,
          sopClassUid: cur.command.affectedSopClassUid,
          sopInstanceUid: cur.command.affectedSopInstanceUid,
          status: outcome.status,
          errorComment: outcome.errorComment,
        }),
      );
      if (this.releasePending && this.storesInFlight === 0) this.release();
    }
    logStore(this.log, this.id, this.request?.callingAeTitle, cur.command, outcome, cur);
  }
}

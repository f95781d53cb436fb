import { ERROR_CODES, FerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { AssociateRequest } from './associate.js';
import { type Command, CommandField, NO_DATASET } from './command.js';
import {
  type CommitmentRequest,
  type CommitmentResult,
  MAX_COMMITMENT_DATASET_BYTES,
  parseCommitmentRequest,
  STORAGE_COMMITMENT_SOP_CLASS,
} from './commitment-dataset.js';
import {
  actionProblem,
  encodeEventReportRq,
  encodeNActionRsp,
  NActionStatus,
} from './commitment-messages.js';
import type { StorageCommitment } from './commitment-service.js';

/** Where a command's dataset goes when it is not a C-STORE's: read whole, then acted on. */
export interface DatasetSink {
  write(slice: Buffer): void;
  /** The dataset is complete; resolves once its response went out. */
  end(): Promise<void>;
}

/** What a session needs of its association. */
export interface CommitmentLink {
  assoc: string;
  callingAeTitle: string;
  calledAeTitle: string;
  /** The requester's maximum P-DATA-TF length (0: no limit). */
  peerMaxPdu: number;
  send(bytes: Buffer): void;
}

/** Does `command` on a context of `abstractSyntax` belong to storage commitment? */
export function routesToCommitment(abstractSyntax: string, command: Command): boolean {
  return (
    abstractSyntax === STORAGE_COMMITMENT_SOP_CLASS &&
    (command.commandField === CommandField.NActionRq || command.commandField === CommandField.NEventReportRsp)
  );
}

/** The connection hook: a session per association that asks for storage commitment. */
export function commitmentSessions(service: StorageCommitment, log: Logger) {
  return (assoc: string, req: AssociateRequest, send: (pdu: Buffer) => void): CommitmentSession =>
    new CommitmentSession(
      service,
      {
        assoc,
        callingAeTitle: req.callingAeTitle,
        calledAeTitle: req.calledAeTitle,
        peerMaxPdu: req.maxPduLength,
        send,
      },
      log,
    );
}

/** A requester that never answers our N-EVENT-REPORT-RQ on its association: try a new one instead. */
const REPORT_RESPONSE_TIMEOUT_MS = 30_000;

/**
 * Storage commitment on one association: answers N-ACTION-RQ once the request is durable, sends the
 * N-EVENT-REPORT-RQ on this association while it is open, and takes its N-EVENT-REPORT-RSP.
 */
export class CommitmentSession {
  private closedDown = false;
  private nextMessageId = 1;
  private readonly waiting = new Map<number, { resolve: (s: number) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly service: StorageCommitment,
    private readonly link: CommitmentLink,
    private readonly log: Logger,
  ) {}

  /**
   * An N-ACTION-RQ or N-EVENT-REPORT-RSP on the Storage Commitment context. Returns where its
   * dataset goes, or undefined when none follows.
   */
  command(contextId: number, transferSyntax: string, command: Command): DatasetSink | undefined {
    const hasDataset = command.dataSetType !== NO_DATASET;
    if (command.commandField === CommandField.NEventReportRsp) {
      const w = this.waiting.get(command.respondingTo ?? -1);
      this.waiting.delete(command.respondingTo ?? -1);
      w?.resolve(command.status ?? -1);
      return hasDataset ? { write: () => undefined, end: async () => undefined } : undefined;
    }
    const problem =
      actionProblem(command) ??
      (hasDataset
        ? undefined
        : { status: NActionStatus.InvalidArgumentValue, comment: 'N-ACTION-RQ without a dataset' });
    if (problem && !hasDataset) {
      this.refuse(contextId, command, problem);
      return undefined;
    }
    const parts: Buffer[] = [];
    let bytes = 0;
    return {
      write: (slice) => {
        bytes += slice.length;
        if (bytes <= MAX_COMMITMENT_DATASET_BYTES) parts.push(Buffer.from(slice));
      },
      end: async () => {
        if (problem) return this.refuse(contextId, command, problem);
        if (bytes > MAX_COMMITMENT_DATASET_BYTES)
          return this.refuse(contextId, command, {
            status: NActionStatus.ResourceLimitation,
            comment: `a commitment request is at most ${MAX_COMMITMENT_DATASET_BYTES} bytes`,
          });
        let req: CommitmentRequest;
        try {
          req = parseCommitmentRequest(Buffer.concat(parts), transferSyntax);
        } catch (err) {
          const message = err instanceof FerryError ? err.message : 'the dataset cannot be read';
          const status = ERROR_CODES['dicom.commitment_invalid'].dimse ?? NActionStatus.InvalidArgumentValue;
          return this.refuse(contextId, command, { status, comment: message });
        }
        await this.accept(contextId, transferSyntax, command, req);
      },
    };
  }

  private open(): boolean {
    return !this.closedDown;
  }

  /** The association is gone: a report waiting for its response goes on a new association. */
  closed(): void {
    this.closedDown = true;
    for (const w of this.waiting.values()) w.reject(new Error('the requesting association closed'));
    this.waiting.clear();
  }

  private async accept(
    contextId: number,
    transferSyntax: string,
    command: Command,
    req: CommitmentRequest,
  ): Promise<void> {
    try {
      await this.service.accept(
        req,
        { callingAeTitle: this.link.callingAeTitle, calledAeTitle: this.link.calledAeTitle },
        {
          isOpen: () => this.open(),
          report: (result) => this.report(contextId, transferSyntax, result),
        },
      );
    } catch (err) {
      const full = err instanceof FerryError && err.code === 'spool.out_of_space';
      this.log.error(
        { event: 'dicom.commitment_not_recorded', assoc: this.link.assoc, err },
        'commitment request not recorded',
      );
      return this.refuse(contextId, command, {
        status: full ? NActionStatus.ResourceLimitation : NActionStatus.ProcessingFailure,
        comment: 'the request could not be recorded',
      });
    }
    if (!this.closedDown) this.link.send(encodeNActionRsp(contextId, command, NActionStatus.Success));
    this.log.info(
      {
        event: 'dicom.commitment_requested',
        assoc: this.link.assoc,
        callingAe: this.link.callingAeTitle,
        transactionUid: req.transactionUid,
        instances: req.refs.length,
      },
      'storage commitment requested',
    );
    this.service.answered(req.transactionUid);
  }

  private refuse(contextId: number, command: Command, problem: { status: number; comment: string }): void {
    this.log.warn(
      {
        event: 'dicom.commitment_refused',
        assoc: this.link.assoc,
        callingAe: this.link.callingAeTitle,
        status: `0x${problem.status.toString(16).padStart(4, '0')}`,
        reason: problem.comment,
      },
      'storage commitment request refused',
    );
    if (!this.closedDown)
      this.link.send(encodeNActionRsp(contextId, command, problem.status, problem.comment));
  }

  private report(contextId: number, transferSyntax: string, result: CommitmentResult): Promise<number> {
    if (!this.open()) return Promise.reject(new Error('the requesting association closed'));
    const messageId = this.nextMessageId++;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(messageId);
        reject(new Error('no N-EVENT-REPORT-RSP on the requesting association'));
      }, REPORT_RESPONSE_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(messageId, {
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      for (const p of encodeEventReportRq(contextId, messageId, result, transferSyntax, this.link.peerMaxPdu))
        this.link.send(p);
    });
  }
}

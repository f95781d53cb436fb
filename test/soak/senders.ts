// The soak's storescu senders (each with its own calling AE) and the tally of what each C-STORE was
// answered, per SOP Instance UID.
import { join } from 'node:path';
import { sleep } from '../harness/agent.js';
import type { Cloud } from '../harness/cloud.js';
import { parseStorescuOutput, storescu } from '../harness/dcmtk.js';
import { type Batch, type Expected, freshGeneration, type SliceSource } from './workload.js';

/** What one SOP Instance UID was answered over the run. */
export interface InstanceTally {
  expected: Expected;
  successes: number;
  /** Explicit failure statuses the agent answered (e.g. 'Refused: OutOfResources'). */
  failureStatuses: string[];
  /** Sends that got no answer at all (the association broke, e.g. the agent was killed). */
  noResponse: number;
}

/** Outcome label of a send without any C-STORE response. */
export const NO_RESPONSE = 'no response';

export class Tally {
  readonly instances = new Map<string, InstanceTally>();
  /** C-STORE requests storescu started (a file it never got to is not counted). */
  sent = 0;
  succeeded = 0;
  /** Failed sends by status text, NO_RESPONSE included. */
  readonly failed = new Map<string, number>();
  associations = 0;
  /** Associations that carried no C-STORE at all (refused, or nobody listening). */
  associationsWithoutStores = 0;
  readonly bySender = new Map<string, { sent: number; succeeded: number }>();

  record(callingAe: string, batch: Batch, stderr: string): void {
    this.associations++;
    const { outcomes } = parseStorescuOutput(stderr);
    if (outcomes.length === 0) this.associationsWithoutStores++;
    const mine = this.bySender.get(callingAe) ?? { sent: 0, succeeded: 0 };
    this.bySender.set(callingAe, mine);
    for (const o of outcomes) {
      const expected = batch.expected.get(o.file);
      if (!expected) throw new Error(`storescu reported a file the soak did not send: ${o.file}`);
      const t = this.instances.get(expected.sopInstanceUid) ?? {
        expected,
        successes: 0,
        failureStatuses: [],
        noResponse: 0,
      };
      this.instances.set(expected.sopInstanceUid, t);
      this.sent++;
      mine.sent++;
      if (o.ok) {
        this.succeeded++;
        mine.succeeded++;
        t.successes++;
        continue;
      }
      const status = o.status ?? NO_RESPONSE;
      this.failed.set(status, (this.failed.get(status) ?? 0) + 1);
      if (o.status === null) t.noResponse++;
      else t.failureStatuses.push(o.status);
    }
  }
}

export interface SendersContext {
  cloud: Cloud;
  tally: Tally;
  /** Senders start no new association after this (ms since epoch). */
  until: number;
  random: () => number;
  log: (line: string) => void;
}

/** One association: the batch's files to the agent as it is now, every outcome into the tally. */
export async function sendBatch(ctx: SendersContext, callingAe: string, batch: Batch): Promise<void> {
  const r = await storescu({
    port: ctx.cloud.agent.port,
    calledAe: ctx.cloud.aeTitle,
    callingAe,
    files: batch.files,
    extraArgs: batch.extraArgs,
    verbose: true,
    noHalt: true,
    // Generous: the S3 link may be throttled, but receiving must never wait on it.
    timeoutMs: 120_000 + Math.ceil(batch.bytes / (4 * 1024 * 1024)) * 1000,
  });
  ctx.tally.record(callingAe, batch, r.stderr);
}

/**
 * Fresh content is paced over the run and capped in total (see SoakOptions.freshBytes): a new
 * generation is allowed while the bytes so far stay under the share of the cap the elapsed time
 * earns, plus a head start.
 */
export class FreshBudget {
  used = 0;
  constructor(
    private readonly total: number,
    private readonly start: number,
    private readonly durationMs: number,
  ) {}

  take(bytes: number, first: boolean): boolean {
    const share = Math.min(1, (Date.now() - this.start) / this.durationMs + 0.2);
    if (!first && this.used + bytes > this.total * share) return false;
    this.used += bytes;
    return true;
  }
}

/**
 * Sends CT and MR slices, one association per round: a fresh generation (new UIDs) while the budget
 * allows, else one of its earlier generations again (an identical resend).
 */
export async function sliceSender(
  ctx: SendersContext,
  opts: { callingAe: string; sources: SliceSource[]; dir: string; budget: FreshBudget; estimate: number },
): Promise<void> {
  const generations: Batch[] = [];
  while (Date.now() < ctx.until) {
    let batch: Batch | undefined;
    if (opts.budget.take(opts.estimate, generations.length === 0)) {
      const tag = `${opts.callingAe}-g${generations.length}`;
      batch = await freshGeneration(opts.sources, tag, join(opts.dir, tag));
      generations.push(batch);
    } else {
      batch = generations[Math.floor(ctx.random() * generations.length)];
    }
    if (batch) await sendBatch(ctx, opts.callingAe, batch);
    await sleep(200 + ctx.random() * 600);
  }
}

/** Sends every batch in turn (one association each), round after round, pausing `pauseMs` between rounds. */
export async function loopSender(
  ctx: SendersContext,
  opts: { callingAe: string; batches: Batch[]; pauseMs: number },
): Promise<void> {
  while (Date.now() < ctx.until) {
    for (const b of opts.batches) {
      if (Date.now() >= ctx.until) return;
      await sendBatch(ctx, opts.callingAe, b);
    }
    await sleep(Math.min(opts.pauseMs * (0.5 + ctx.random()), Math.max(0, ctx.until - Date.now())));
  }
}

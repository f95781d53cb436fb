/**
 * How a completed upload that is not stored ends: `retry` (parts missing, torn upload, storage down:
 * offer it again, on a fresh upload when `reset`) or `refused` (the object itself is bad).
 */
import { type ErrorCode, isFerryError } from '@ferry/shared';

export type Setback =
  | { kind: 'retry'; code: ErrorCode; message: string; reset?: boolean }
  | { kind: 'refused'; code: ErrorCode; message: string };

/** Thrown by the steps of completing an upload: the object's answer, not a failure of the request. */
export class Verdict extends Error {
  constructor(readonly outcome: Setback) {
    super(outcome.message);
  }
}

export const retry = (code: ErrorCode, message: string, reset = false) =>
  new Verdict({ kind: 'retry', code, message, reset });

export const refuse = (message: string) =>
  new Verdict({ kind: 'refused', code: 'upload.object_invalid', message });

/** The object's setback for a failure, or undefined when the failure is the request's own (rethrow it). */
export function setbackOf(err: unknown): Setback | undefined {
  if (err instanceof Verdict) return err.outcome;
  if (isFerryError(err, 'storage.unavailable')) {
    return { kind: 'retry', code: 'storage.unavailable', message: err.message };
  }
  if (isFerryError(err, 'upload.object_invalid')) {
    return { kind: 'refused', code: 'upload.object_invalid', message: err.message };
  }
  return undefined;
}

/** The upload must start over (its bytes are wrong or gone, or the object is refused). */
export const mustReset = (s: Setback) => (s.kind === 'retry' && s.reset === true) || s.kind === 'refused';

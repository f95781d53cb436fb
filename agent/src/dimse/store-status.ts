import { ERROR_CODES, type ErrorCode, type ErrorCodeEntry } from '@ferry/shared';
import type { InstanceStore, StoreResult } from '../spool/store-contract.js';
import { Status, type StoreHandler, type StoreOutcome } from './store-handler.js';

/** The C-STORE failure status for a Ferry error code: the error table's `dimse` column, else 0xC211. */
export function storeFailureStatus(code: ErrorCode): number {
  const entry: ErrorCodeEntry = ERROR_CODES[code];
  return entry.dimse ?? Status.CannotUnderstand;
}

/** The C-STORE response for what the spool answered. */
export function storeOutcomeOf(result: StoreResult): StoreOutcome {
  if (!result.ok) return { status: storeFailureStatus(result.code), errorComment: result.message };
  const { objectId, duplicate, version, plainBytes } = result;
  return { status: Status.Success, objectId, version, plainBytes, ...(duplicate ? { duplicate } : {}) };
}

/** An instance store (the spool) as the DIMSE receiver's store: its results become DIMSE statuses. */
export function dimseStore(store: InstanceStore): StoreHandler {
  return {
    begin(req) {
      const writing = store.begin(req);
      return {
        write: (slice) => writing.write(slice),
        copiesSlices: writing.copiesSlices === true,
        onDrain: (cb) => writing.onDrain(cb),
        end: async () => storeOutcomeOf(await writing.end()),
        abort: () => writing.abort(),
      };
    },
  };
}

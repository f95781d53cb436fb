/**
 * A pack (shared/src/protocol/uploads.ts): several small sealed objects sent in one PUT, back to back,
 * each byte for byte as the spool holds it and hashed on its own on the way. Each member then asks for
 * its own receipt, as any object (send-object.ts `receive`), so a member the control plane refuses is
 * refused alone and its pack-mates are delivered.
 */
import type { Hash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { FerryError, isFerryError, type UploadPack } from '@ferry/shared';
import type { IndexEntry } from '../spool/consumer.js';
import { receive, type SendDeps } from './send-object.js';
import { throttle } from './throttle.js';
import { newObjectHash, releaseSent } from './upload-client.js';
import { verdictOf } from './verdict.js';

/** The pack URL is not used this close to its expiry: offer again for a fresh one. */
const EXPIRY_MARGIN_MS = 30_000;

export interface PackMember {
  entry: IndexEntry;
  uploadId: string;
}

/** Members in pack order, checked to tile the pack exactly with the spool's objects. */
export function packMembers(pack: UploadPack, entryOf: (objectId: string) => IndexEntry | undefined) {
  const members: PackMember[] = [];
  let at = 0;
  for (const m of pack.members) {
    const entry = entryOf(m.objectId);
    if (!entry || m.offset !== at || m.length !== entry.objectBytes) return undefined;
    members.push({ entry, uploadId: m.uploadId });
    at += m.length;
  }
  return at === pack.length ? members : undefined;
}

/** A failed pack is no one member's fault: each is offered again, unless its own read failed. */
async function failed(deps: SendDeps, e: IndexEntry, err: unknown, local: boolean): Promise<void> {
  const verdict = verdictOf(err);
  if (local || verdict === 'reenroll' || deps.signal().aborted) return deps.failures.failed(e, err, false);
  const fe = err instanceof FerryError ? err : undefined;
  deps.failures.retryLater(e, err, { now: fe?.details?.expired === true });
}

/** Sends the pack (in the lane of its size), then asks for each member's receipt apart. */
export async function sendPack(deps: SendDeps, pack: UploadPack, members: PackMember[]): Promise<void> {
  let release: () => void;
  try {
    release = await deps.caps.lane(pack.length).acquire(deps.signal());
  } catch (err) {
    await Promise.all(members.map((m) => deps.failures.failed(m.entry, err, false)));
    return;
  }
  const hashes: Hash[] = members.map(() => newObjectHash());
  let local: { entry: IndexEntry; error: FerryError } | undefined;
  let sent = false;
  let failure: unknown;
  const reader = deps.spool.openObjectReader();
  const read: Buffer[] = [];
  let settled = false;
  try {
    if (Date.now() > Date.parse(pack.expiresAt) - EXPIRY_MARGIN_MS)
      throw new FerryError('upload.url_invalid', 'the pack URL expires before the pack is sent', {
        details: { expired: true },
      });
    // Each member (at most 2 MiB) in one read of its own, not through a ReadStream.
    async function* bytes(): AsyncGenerator<Buffer> {
      for (const [i, m] of members.entries()) {
        let member: Buffer;
        try {
          member = await reader.read(m.entry.id);
        } catch (err) {
          const error = isFerryError(err) ? err : deps.spool.readFailure(m.entry.id, err);
          // A read still running once the PUT is over (read ahead, then closed) is nobody's fault.
          if (!settled) local = { entry: m.entry, error };
          throw error;
        }
        hashes[i]!.update(member);
        read.push(member);
        yield member;
      }
    }
    const body = pipeline(Readable.from(bytes()), throttle(deps.caps.bucket), () => undefined);
    await deps.api.putPart(pack.url, body, pack.length, deps.signal());
    sent = true;
    releaseSent(read);
  } catch (err) {
    failure = err;
  } finally {
    settled = true;
    release();
    await reader.close();
  }
  if (!sent) {
    deps.tally.sent(0);
    await Promise.all(
      members.map((m) =>
        local?.entry === m.entry
          ? failed(deps, m.entry, local.error, true)
          : failed(deps, m.entry, local ? local.error : failure, false),
      ),
    );
    return;
  }
  deps.tally.sent(pack.length);
  members.forEach((m, i) => {
    deps.track(m.entry, receive(deps, m.entry, m.uploadId, hashes[i]!.digest('hex')));
  });
}

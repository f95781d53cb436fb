/**
 * The parts of a WADO-RS retrieve: each instance as stored, or transcoded to the syntax the client
 * takes (accept.ts decides which). A transcode holds one instance in memory, so it is capped, and
 * parts are produced one at a time as the response streams.
 */
import { FerryError } from '@ferry/shared';
import type { AppDeps } from '../../app-deps.js';
import { overLimit, TRANSCODE_MAX_BYTES, transcodeStream } from '../../dicom/transcode.js';
import type { StoredInstance } from '../../services/list-stored-instances.js';
import { openStudyObjects } from '../../services/open-study-objects.js';
import { type AcceptedSyntaxes, chooseDicomSyntax } from './accept.js';
import type { MultipartPart } from './multipart.js';

export interface RetrievePlan {
  parts: MultipartPart[];
  /** How many instances are transcoded (for the log). */
  transcoded: number;
}

/**
 * Decides every instance's syntax before anything is sent, so a refusal is a clean 406: an
 * instance stored in a syntax the client does not take and that cannot be transcoded, or one
 * over the transcoding limit. The first instance to transcode is transcoded here too, so that a
 * single-instance retrieve whose pixels do not decode is refused rather than cut off.
 */
export async function planRetrieve(input: {
  deps: Pick<AppDeps, 'blobStore' | 'recipientPrivateKeys' | 'transcodeMaxBytes'>;
  accepted: AcceptedSyntaxes;
  accept: string | undefined;
  instances: StoredInstance[];
}): Promise<RetrievePlan> {
  const { deps, accepted, accept, instances } = input;
  const maxBytes = deps.transcodeMaxBytes ?? TRANSCODE_MAX_BYTES;
  const chosen = new Map<string, string>();
  for (const i of instances) {
    const ts = chosen.get(i.transferSyntaxUid) ?? chooseDicomSyntax(accepted, i.transferSyntaxUid, accept);
    chosen.set(i.transferSyntaxUid, ts);
    if (ts !== i.transferSyntaxUid && i.plainBytes > maxBytes) throw overLimit(maxBytes);
  }
  const open = openStudyObjects(deps);
  let first: { instance: StoredInstance; bytes: Buffer } | undefined;
  let transcoded = 0;
  const parts: MultipartPart[] = [];
  for (const i of instances) {
    const ts = chosen.get(i.transferSyntaxUid)!;
    let body: MultipartPart['body'] = () => open(i);
    if (ts !== i.transferSyntaxUid) {
      transcoded++;
      if (!first) first = { instance: i, bytes: await transcodeStream(open(i), ts, { maxBytes }) };
      const ready = first.instance === i ? first : undefined;
      body = async function* () {
        if (ready) {
          // Handed over once: the buffer is not kept for the rest of the response.
          const bytes = ready.bytes;
          ready.bytes = Buffer.alloc(0);
          yield bytes;
        } else yield await transcodeStream(open(i), ts, { maxBytes });
      };
    }
    parts.push({ headers: { 'Content-Type': `application/dicom; transfer-syntax=${ts}` }, body });
  }
  if (parts.length === 0) throw new FerryError('resource.not_found', 'no instance to retrieve');
  return { parts, transcoded };
}

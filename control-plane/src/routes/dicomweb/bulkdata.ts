/**
 * WADO-RS bulk data (PS3.18 10.4.1.1.5): the values /metadata gives as BulkDataURIs, by their path in
 * the dataset (`tag`, `tag/item/tag`…). Native Pixel Data is the whole value, little endian; encapsulated
 * Pixel Data is one part per frame (its fragments joined). multipart/related application/octet-stream,
 * or the bare value when the client asks for application/octet-stream alone. In the caller's group
 * only, audited.
 */
import { FerryError, isEncapsulated } from '@ferry/shared';
import type { Context } from 'hono';
import { PIXEL_DATA } from '../../dicom/dicom-json.js';
import { ctxOf } from '../../edge/context.js';
import { streamBody } from '../../edge/stream-body.js';
import type { AppEnv } from '../../edge/types.js';
import { openBulkData } from '../../services/open-bulk-data.js';
import { recordStudyRead } from '../../services/record-study-reads.js';
import { parseAccept } from './accept.js';
import { multipartContentType, multipartRelated, newBoundary } from './multipart.js';
import { uidParam } from './params.js';

const OCTET_STREAM = 'application/octet-stream';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** Multipart (PS3.18's answer) unless the client takes only the bare value. */
function wantsMultipart(header: string | undefined): boolean {
  const ranges = parseAccept(header);
  const ok = (t: string) => ranges.some((r) => r.type === t);
  if (ok('multipart/related') || ok('multipart/*') || ok('*/*')) return true;
  if (ok(OCTET_STREAM) || ok('application/*')) return false;
  throw new FerryError(
    'request.not_acceptable',
    `cannot answer Accept: ${(header ?? '').slice(0, 200)}; bulk data is available as ` +
      `multipart/related; type="${OCTET_STREAM}" or ${OCTET_STREAM}`,
  );
}

export async function bulkdataHandler(c: Context<AppEnv>): Promise<Response> {
  const multipart = wantsMultipart(c.req.header('accept'));
  const path = (c.req.param('path') ?? '').toUpperCase();
  const ctx = ctxOf(c);
  const input = {
    studyUid: uidParam(c, 'studyUid'),
    seriesUid: uidParam(c, 'seriesUid'),
    sopInstanceUid: uidParam(c, 'sopUid'),
  };
  const {
    study,
    transferSyntaxUid: stored,
    bodies,
  } = await openBulkData({
    ctx,
    deps: c.get('deps'),
    input: { ...input, path },
  });
  await recordStudyRead(ctx, 'dicomweb.retrieve', study, { what: 'bulkdata', instances: 1, path });
  const onError = (err: unknown) =>
    ctx.log.error({ err, ...input }, 'WADO-RS bulk data failed midway; response aborted');
  const headers = { 'cache-control': 'no-store' };
  if (!multipart) {
    async function* bare() {
      for (const body of bodies) yield* body();
    }
    return c.body(streamBody(bare(), onError), 200, { ...headers, 'content-type': OCTET_STREAM });
  }
  const transferSyntaxUid = isEncapsulated(stored) ? stored : EXPLICIT_LE;
  const partType =
    path === PIXEL_DATA ? `${OCTET_STREAM}; transfer-syntax=${transferSyntaxUid}` : OCTET_STREAM;
  const boundary = newBoundary();
  const parts = bodies.map((body) => ({ headers: { 'Content-Type': partType }, body }));
  return c.body(streamBody(multipartRelated(parts, boundary), onError), 200, {
    ...headers,
    'content-type': multipartContentType(OCTET_STREAM, boundary),
  });
}

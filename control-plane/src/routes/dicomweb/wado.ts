/**
 * WADO-RS (PS3.18 10.4): instances as multipart/related application/dicom, decrypted on the fly one
 * object at a time (as stored, or transcoded one at a time: retrieve-parts.ts), and their stored
 * headers as DICOM JSON (/metadata). In the caller's group only.
 */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import { ctxOf } from '../../edge/context.js';
import { streamBody } from '../../edge/stream-body.js';
import type { AppEnv } from '../../edge/types.js';
import { listInstanceMetadata } from '../../services/list-instance-metadata.js';
import { listStoredInstances } from '../../services/list-stored-instances.js';
import { recordStudyRead } from '../../services/record-study-reads.js';
import { acceptedDicomSyntaxes, requireDicomJson } from './accept.js';
import { instanceUrl, metadataResult } from './dicom-json.js';
import { multipartContentType, multipartRelated, newBoundary } from './multipart.js';
import { resultUrls, uidParam } from './params.js';
import { planRetrieve } from './retrieve-parts.js';

const METADATA_PAGE = 200;

function target(c: Context<AppEnv>) {
  return {
    studyUid: uidParam(c, 'studyUid'),
    seriesUid: c.req.param('seriesUid') === undefined ? undefined : uidParam(c, 'seriesUid'),
    sopInstanceUid: c.req.param('sopUid') === undefined ? undefined : uidParam(c, 'sopUid'),
  };
}

/** GET …/studies/{s}[/series/{se}[/instances/{i}]]: the current instances' Part-10 files. */
export async function retrieveHandler(c: Context<AppEnv>): Promise<Response> {
  const accept = c.req.header('accept');
  const accepted = acceptedDicomSyntaxes(accept);
  const ctx = ctxOf(c);
  const input = target(c);
  const { study, instances } = await listStoredInstances({ ctx, input });
  if (instances.length === 0) {
    throw new FerryError(
      'resource.not_found',
      `study ${input.studyUid} holds no current instance to retrieve`,
    );
  }
  const deps = c.get('deps');
  const plan = await planRetrieve({ deps, accepted, accept, instances });
  // The answer is decided (these instances, in an accepted syntax): audit it before streaming.
  await recordStudyRead(ctx, 'dicomweb.retrieve', study, { what: 'instances', instances: instances.length });
  if (plan.transcoded > 0) ctx.log.info({ transcoded: plan.transcoded }, 'WADO-RS retrieve transcodes');
  const boundary = newBoundary();
  const body = streamBody(multipartRelated(plan.parts, boundary), (err) =>
    ctx.log.error({ err, ...input }, 'WADO-RS retrieve failed midway; response aborted'),
  );
  return c.body(body, 200, {
    'content-type': multipartContentType('application/dicom', boundary),
    'cache-control': 'no-store',
  });
}

/** GET …/metadata at each level: the stored headers as a DICOM JSON array, streamed page by page. */
export async function metadataHandler(c: Context<AppEnv>): Promise<Response> {
  requireDicomJson(c.req.header('accept'));
  const ctx = ctxOf(c);
  const input = target(c);
  // The first page is read before answering, so an unknown study, series or instance is a 404.
  const first = await listInstanceMetadata({ ctx, input: { ...input, limit: METADATA_PAGE } });
  const urls = resultUrls(c);
  async function* json(): AsyncGenerator<Uint8Array> {
    let page = first;
    let n = 0;
    try {
      yield Buffer.from('[');
      for (;;) {
        for (const item of page.items) {
          yield Buffer.from(
            `${n++ === 0 ? '' : ','}${JSON.stringify(
              metadataResult(
                item.metadata,
                item.transferSyntaxUid,
                instanceUrl(urls, input.studyUid, item.seriesInstanceUid, item.sopInstanceUid),
              ),
            )}`,
          );
        }
        if (page.next === null) break;
        page = await listInstanceMetadata({
          ctx,
          input: { ...input, after: page.next, limit: METADATA_PAGE },
        });
      }
      yield Buffer.from(']');
    } finally {
      // Written once the count is known, also when the client left early or a page failed: the
      // headers already went out.
      if (n > 0) {
        await recordStudyRead(ctx, 'dicomweb.retrieve', first.study, {
          what: 'metadata',
          instances: n,
        }).catch((err: unknown) =>
          ctx.log.error({ err, ...input }, 'WADO-RS metadata read could not be audited'),
        );
      }
    }
  }
  const body = streamBody(json(), (err) =>
    ctx.log.error({ err, ...input }, 'WADO-RS metadata failed midway; response aborted'),
  );
  return c.body(body, 200, { 'content-type': 'application/dicom+json', 'cache-control': 'no-store' });
}

/**
 * WADO-RS frames (PS3.18 10.4.1.1.3): `…/instances/{i}/frames/1,3,5`, one part per frame in the order
 * asked, as stored (frame-accept.ts). A frame costs a ranged read of the sealed frames holding it once
 * the instance is indexed (storage/instance-index.ts). In the caller's group only, audited.
 */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import { ctxOf } from '../../edge/context.js';
import { streamBody } from '../../edge/stream-body.js';
import type { AppEnv } from '../../edge/types.js';
import { openInstancePixels } from '../../services/open-instance-pixels.js';
import { recordStudyRead } from '../../services/record-study-reads.js';
import { negotiateFrameMedia } from './frame-accept.js';
import { multipartContentType, multipartRelated, newBoundary } from './multipart.js';
import { uidParam } from './params.js';

const MAX_FRAMES_PER_REQUEST = 10_000;

/** `1,3,5` as frame numbers (1-based, in order, repeats kept); 400 dicomweb.bad_frame_list otherwise. */
export function parseFrameList(list: string | undefined): number[] {
  const items = (list ?? '').split(',').map((s) => s.trim());
  const numbers = items.map((s) => (/^\d{1,9}$/.test(s) ? Number(s) : Number.NaN));
  if (numbers.length === 0 || numbers.length > MAX_FRAMES_PER_REQUEST || numbers.some((n) => !(n >= 1))) {
    throw new FerryError(
      'dicomweb.bad_frame_list',
      `frames: "${(list ?? '').slice(0, 100)}" is not a list of frame numbers from 1 (e.g. 1,3,5; at most ${MAX_FRAMES_PER_REQUEST})`,
    );
  }
  return numbers;
}

export async function framesHandler(c: Context<AppEnv>): Promise<Response> {
  const numbers = parseFrameList(c.req.param('frames'));
  const ctx = ctxOf(c);
  const input = {
    studyUid: uidParam(c, 'studyUid'),
    seriesUid: uidParam(c, 'seriesUid'),
    sopInstanceUid: uidParam(c, 'sopUid'),
  };
  const pixels = await openInstancePixels({ ctx, deps: c.get('deps'), input });
  const missing = numbers.find((n) => n > pixels.numberOfFrames);
  if (missing !== undefined) {
    throw new FerryError(
      'dicomweb.frame_not_found',
      `frame ${missing} does not exist: instance ${input.sopInstanceUid} has ${pixels.numberOfFrames}`,
    );
  }
  const media = negotiateFrameMedia(c.req.header('accept'), pixels.transferSyntaxUid);
  // The first frame is read before answering, so a broken object is an error response, not a cut one.
  const first = await pixels.frame(numbers[0]!);
  await recordStudyRead(ctx, 'dicomweb.retrieve', pixels.study, {
    what: 'frames',
    instances: 1,
    frames: numbers.length,
  });
  const headers = { 'Content-Type': media.contentType };
  const parts = numbers.map((n, i) => ({
    headers,
    body: async function* () {
      yield i === 0 ? first : await pixels.frame(n);
    },
  }));
  const boundary = newBoundary();
  const body = streamBody(multipartRelated(parts, boundary), (err) =>
    ctx.log.error({ err, ...input }, 'WADO-RS frames failed midway; response aborted'),
  );
  return c.body(body, 200, {
    'content-type': multipartContentType(media.type, boundary),
    'cache-control': 'no-store',
  });
}

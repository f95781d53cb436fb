/**
 * WADO-RS rendered and thumbnail resources (PS3.18 10.4.1.1.6 and 10.4.1.1.9): one frame as
 * image/jpeg (the default) or image/png, windowed from the request's `window`, else the dataset's own.
 *
 * - An instance's rendered resource is its first frame as one image (PS3.18 allows that or a
 *   multipart of every frame; one image is what viewers and <img> tags can use); `frames/{n}/rendered`
 *   is frame n. A study's or series' rendered resource is a multipart/related of the first frame of
 *   each of its images, rendered one at a time as the response streams (instances without pixels, or
 *   that cannot be decoded, are left out: never a broken part).
 * - A thumbnail fits 128x128 unless `viewport` says otherwise: a series shows its middle image by
 *   instance number, a study the middle image of its first series (by number) that holds images.
 * - Parameters: `window=center,width[,linear|linear-exact|sigmoid]`, `viewport=vw,vh[,sx,sy,sw,sh]`
 *   (fit inside, aspect kept; the optional region crops first), `quality=1..100` (JPEG), and `accept`
 *   as a query parameter in place of the header.
 *
 * `cache-control: no-store` like every other PHI answer: a reading-room workstation is often shared, and
 * every view must reach the audit log. Repeated thumbnails are served from a small in-memory cache
 * instead (after the access check, and still audited).
 */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import {
  RENDER_MEDIA_TYPES,
  type RenderFormat,
  type RenderOptions,
  renderFrame,
} from '../../dicom/render-frame.js';
import { RenderedCache } from '../../dicom/rendered-cache.js';
import { ctxOf } from '../../edge/context.js';
import { streamBody } from '../../edge/stream-body.js';
import type { AppEnv } from '../../edge/types.js';
import { listStoredInstances } from '../../services/list-stored-instances.js';
import { openInstancePixels } from '../../services/open-instance-pixels.js';
import { pickRenderedInstance } from '../../services/pick-rendered-instance.js';
import { recordStudyRead } from '../../services/record-study-reads.js';
import { parseAccept } from './accept.js';
import { type MultipartPart, multipartContentType, multipartRelated, newBoundary } from './multipart.js';
import { uidParam } from './params.js';

type Resource = 'rendered' | 'thumbnail';

const THUMBNAIL_SIZE = 128;
const THUMBNAIL_QUALITY = 80;
/** A viewport larger than this is refused: it would only cost memory and time. */
const MAX_VIEWPORT = 4096;

/** ~ a worklist's worth of thumbnails many times over, and at most 32 MB. */
const thumbnails = new RenderedCache(2000, 32 * 1024 * 1024);

const FORMAT_BY_TYPE: Record<string, RenderFormat> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/*': 'jpeg',
  '*/*': 'jpeg',
};

/**
 * The format the client accepts best (highest q; the first listed on a tie), else 406. Study and
 * series resources are multiparts: `multipart/related; type="image/…"` names their parts' format.
 */
export function renderFormat(accept: string | undefined): RenderFormat {
  let best: { format: RenderFormat; q: number } | undefined;
  for (const range of parseAccept(accept)) {
    const type =
      range.type === 'multipart/related'
        ? (range.params.get('type') ?? 'image/jpeg').toLowerCase()
        : range.type;
    const format = FORMAT_BY_TYPE[type];
    if (format && (!best || range.q > best.q)) best = { format, q: range.q };
  }
  if (!best) {
    throw new FerryError(
      'request.not_acceptable',
      `cannot answer Accept: ${(accept ?? '').slice(0, 200)}; rendered images are available as image/jpeg or image/png`,
    );
  }
  return best.format;
}

function invalid(name: string, why: string): FerryError {
  return new FerryError('request.invalid', `${name}: ${why}`);
}

function numbers(name: string, value: string, count: number[]): (number | undefined)[] {
  const parts = value.split(',').map((p) => p.trim());
  if (!count.includes(parts.length))
    throw invalid(name, `expected ${count.join(' or ')} comma-separated values`);
  return parts.map((p) => {
    if (p === '') return undefined;
    const n = Number(p);
    if (!Number.isFinite(n)) throw invalid(name, `"${p.slice(0, 20)}" is not a number`);
    return n;
  });
}

const VOI_FUNCTIONS: Record<string, 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID'> = {
  linear: 'LINEAR',
  'linear-exact': 'LINEAR_EXACT',
  sigmoid: 'SIGMOID',
};

function windowParam(value: string | undefined): RenderOptions['window'] {
  if (value === undefined) return undefined;
  const parts = value.split(',');
  const [center, width] = numbers('window', parts.slice(0, 2).join(','), [2]);
  const fn = parts[2]?.trim().toLowerCase();
  if (center === undefined || width === undefined) throw invalid('window', 'center and width are required');
  if (parts.length > 3 || (fn !== undefined && !(fn in VOI_FUNCTIONS))) {
    throw invalid('window', 'expected center,width[,linear|linear-exact|sigmoid]');
  }
  if (!(width >= 1)) throw invalid('window', 'the width must be at least 1');
  return { center, width, function: fn === undefined ? 'LINEAR' : VOI_FUNCTIONS[fn] };
}

function viewportParam(value: string | undefined): RenderOptions['viewport'] {
  if (value === undefined) return undefined;
  const [vw, vh, sx, sy, sw, sh] = numbers('viewport', value, [2, 6]);
  const size = (n: number | undefined) =>
    n !== undefined && Number.isInteger(n) && n >= 1 && n <= MAX_VIEWPORT;
  if (!size(vw) || !size(vh))
    throw invalid('viewport', `vw and vh must be whole numbers from 1 to ${MAX_VIEWPORT}`);
  const region = [sx, sy, sw, sh];
  if (region.every((n) => n === undefined)) return { width: vw!, height: vh! };
  const whole = (n: number | undefined, min: number) => n !== undefined && Number.isInteger(n) && n >= min;
  if (!whole(sx, 0) || !whole(sy, 0) || !whole(sw, 1) || !whole(sh, 1)) {
    throw invalid(
      'viewport',
      'sx,sy must be whole numbers from 0 and sw,sh from 1 (flipping is not supported)',
    );
  }
  return { width: vw!, height: vh!, region: { left: sx!, top: sy!, width: sw!, height: sh! } };
}

function qualityParam(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const q = Number(value);
  if (!Number.isInteger(q) || q < 1 || q > 100) throw invalid('quality', 'a whole number from 1 to 100');
  return q;
}

/** The frame of `frames/{n}/rendered`: one number (a rendered list would be a multipart). */
function frameParam(value: string | undefined): number {
  if (value === undefined) return 1;
  if (!/^[1-9][0-9]{0,8}$/.test(value.trim())) {
    throw new FerryError(
      'dicomweb.bad_frame_list',
      `frames/${value.slice(0, 40)}: a rendered or thumbnail resource is one frame, numbered from 1`,
    );
  }
  return Number(value);
}

async function renderResource(c: Context<AppEnv>, resource: Resource): Promise<Response> {
  const format = renderFormat(c.req.query('accept') ?? c.req.header('accept'));
  const thumbnail = resource === 'thumbnail';
  const options: RenderOptions = {
    format,
    window: windowParam(c.req.query('window')),
    viewport:
      viewportParam(c.req.query('viewport')) ??
      (thumbnail ? { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE } : undefined),
    quality: qualityParam(c.req.query('quality')) ?? (thumbnail ? THUMBNAIL_QUALITY : undefined),
  };
  const frameNumber = frameParam(c.req.param('frames'));
  const ctx = ctxOf(c);
  const input = {
    studyUid: uidParam(c, 'studyUid'),
    seriesUid: c.req.param('seriesUid') === undefined ? undefined : uidParam(c, 'seriesUid'),
    sopInstanceUid: c.req.param('sopUid') === undefined ? undefined : uidParam(c, 'sopUid'),
  };
  if (resource === 'rendered' && input.sopInstanceUid === undefined) {
    return renderedMultipart(c, input, options);
  }
  const target = await pickRenderedInstance({ ctx, input });
  const key = JSON.stringify([target.objectId, frameNumber, options]);
  let image = thumbnail ? thumbnails.get(key) : undefined;
  if (!image) {
    const pixels = await openInstancePixels({
      ctx,
      deps: c.get('deps'),
      input: {
        studyUid: input.studyUid,
        seriesUid: target.seriesInstanceUid,
        sopInstanceUid: target.sopInstanceUid,
      },
    });
    if (frameNumber > pixels.numberOfFrames) {
      throw new FerryError(
        'dicomweb.frame_not_found',
        `instance ${target.sopInstanceUid} has ${pixels.numberOfFrames} frame(s), not ${frameNumber}`,
      );
    }
    image = await renderFrame(
      {
        metadata: pixels.metadata,
        transferSyntaxUid: pixels.transferSyntaxUid,
        frameNumber,
        frame: await pixels.frame(frameNumber),
      },
      options,
    );
    if (thumbnail) thumbnails.set(key, image);
  }
  await recordStudyRead(ctx, 'dicomweb.retrieve', target.study, { what: resource, instances: 1 });
  return c.body(new Uint8Array(image), 200, {
    'content-type': RENDER_MEDIA_TYPES[format],
    'cache-control': 'no-store',
  });
}

/** The first frame of each image of a study or series, as a multipart/related streamed part by part. */
async function renderedMultipart(
  c: Context<AppEnv>,
  input: { studyUid: string; seriesUid?: string | undefined },
  options: RenderOptions,
): Promise<Response> {
  const ctx = ctxOf(c);
  const deps = c.get('deps');
  const { study, instances } = await listStoredInstances({ ctx, input });
  await recordStudyRead(ctx, 'dicomweb.retrieve', study, { what: 'rendered', instances: instances.length });
  const type = RENDER_MEDIA_TYPES[options.format];
  async function* parts(): AsyncGenerator<MultipartPart> {
    for (const i of instances) {
      let image: Buffer;
      try {
        const pixels = await openInstancePixels({
          ctx,
          deps,
          input: {
            studyUid: input.studyUid,
            seriesUid: i.seriesInstanceUid,
            sopInstanceUid: i.sopInstanceUid,
          },
        });
        image = await renderFrame(
          {
            metadata: pixels.metadata,
            transferSyntaxUid: pixels.transferSyntaxUid,
            frameNumber: 1,
            frame: await pixels.frame(1),
          },
          options,
        );
      } catch (err) {
        if (!(err instanceof FerryError) || !SKIPPED.has(err.code)) throw err;
        ctx.log.info({ code: err.code }, 'rendered multipart: an instance left out');
        continue;
      }
      yield {
        headers: { 'Content-Type': type },
        body: async function* () {
          yield image;
        },
      };
    }
  }
  const boundary = newBoundary();
  const body = streamBody(multipartRelated(parts(), boundary), (err) =>
    ctx.log.error({ err }, 'rendered multipart failed midway; response aborted'),
  );
  return c.body(body, 200, {
    'content-type': multipartContentType(type, boundary),
    'cache-control': 'no-store',
  });
}

/** Instances a study's or series' rendered multipart leaves out rather than failing on. */
const SKIPPED = new Set(['dicomweb.no_pixel_data', 'dicomweb.cannot_decode']);

/** GET …/rendered at the study, series, instance and frame levels. */
export function renderedHandler(c: Context<AppEnv>): Promise<Response> {
  return renderResource(c, 'rendered');
}

/** GET …/thumbnail at the study, series, instance and frame levels. */
export function thumbnailHandler(c: Context<AppEnv>): Promise<Response> {
  return renderResource(c, 'thumbnail');
}

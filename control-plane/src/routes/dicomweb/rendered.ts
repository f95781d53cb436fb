/** WADO-RS rendered and thumbnail resources (PS3.18 10.4.1.1.6/9). Owned by the rendering work; a stub until then. */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../http/types.js';

export async function renderedHandler(_c: Context<AppEnv>): Promise<Response> {
  throw new FerryError('request.not_acceptable', 'rendered images are not served yet');
}

export async function thumbnailHandler(_c: Context<AppEnv>): Promise<Response> {
  throw new FerryError('request.not_acceptable', 'thumbnails are not served yet');
}

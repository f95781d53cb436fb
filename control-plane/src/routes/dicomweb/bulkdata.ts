/** WADO-RS bulk data (PS3.18 10.4.1.1.5). Owned by the frames work; a stub until then. */
import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../http/types.js';

export async function bulkdataHandler(_c: Context<AppEnv>): Promise<Response> {
  throw new FerryError('request.not_acceptable', 'bulk data is not served yet');
}

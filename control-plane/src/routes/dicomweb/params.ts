import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../edge/types.js';
import type { ResultUrls } from './dicom-json.js';

/** UIDs are at most 64 characters of digits and dots; letters and `-` are let through so any id is a 404, not a 400. */
const UID_PARAM = /^[0-9A-Za-z.-]{1,64}$/;

/** A UID path parameter, checked. */
export function uidParam(c: Context<AppEnv>, name: string): string {
  const value = c.req.param(name);
  if (value === undefined || !UID_PARAM.test(value)) {
    throw new FerryError('request.invalid', `${name}: not a UID (1-64 characters: digits and dots)`);
  }
  return value;
}

/** Where RetrieveURLs point: the configured public URL, never the request's Host header. */
export function resultUrls(c: Context<AppEnv>): ResultUrls {
  return { base: `${c.get('deps').publicUrl.replace(/\/+$/, '')}/dicomweb` };
}

/** A DICOM JSON answer, with the Warning header when there is something to warn about. */
export function dicomJsonResponse(c: Context<AppEnv>, body: unknown, warnings: string[] = []): Response {
  const headers: Record<string, string> = {
    'content-type': 'application/dicom+json',
    'cache-control': 'no-store',
  };
  if (warnings.length > 0) headers.warning = warnings.join(', ');
  return c.body(JSON.stringify(body), 200, headers);
}

/**
 * `PUT /blobs/packs/:packId`: a pack of small sealed objects, back to back (shared/src/protocol/
 * uploads.ts), on either store. Outside /api like the part PUTs: the body is raw sealed bytes of up
 * to a pack's size. The signed URL is the only credential, honoured while a member is still open.
 */
import { FerryError } from '@ferry/shared';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { type PackUrls, receivePackUpload } from '../services/receive-pack-upload.js';

export function registerBlobPacks(app: OpenAPIHono<AppEnv>, urls: PackUrls): void {
  app.put('/blobs/packs/:packId', async (c) => {
    // Signature and expiry first, so an unsigned caller learns nothing and costs no memory.
    const fields = urls.verify({ packId: c.req.param('packId'), query: c.req.query() });
    const declared = c.req.header('content-length');
    if (declared === undefined || !/^[0-9]+$/.test(declared) || Number(declared) !== fields.length)
      throw new FerryError(
        'request.invalid',
        `send exactly ${fields.length} bytes with Content-Length: ${fields.length} (got ${declared ?? 'none'})`,
      );
    const body = c.req.raw.body;
    if (!body) throw new FerryError('request.invalid', `the body is missing; send ${fields.length} bytes`);
    const { blobStore, recipientPrivateKeys } = c.get('deps');
    await receivePackUpload({
      ctx: ctxOf(c),
      deps: { blobStore, privateKeys: recipientPrivateKeys },
      input: { fields, body },
    });
    return c.body(null, 200);
  });
}

/**
 * `PUT /blobs/packs/:packId`: a pack of small sealed objects, back to back (shared/src/protocol/
 * uploads.ts), on either store. Outside /api like the part PUTs: the body is raw sealed bytes of up
 * to a pack's size. The signed URL is the only credential, honoured while a member is still open.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { type PackUrls, receivePackUpload } from '../services/receive-pack-upload.js';
import { exactBody } from './raw-body.js';

export function registerBlobPacks(app: OpenAPIHono<AppEnv>, urls: PackUrls): void {
  app.put('/blobs/packs/:packId', async (c) => {
    // Signature and expiry first, so an unsigned caller learns nothing and costs no memory.
    const fields = urls.verify({ packId: c.req.param('packId'), query: c.req.query() });
    const body = exactBody(c, fields.length);
    const { blobStore, recipientPrivateKeys } = c.get('deps');
    await receivePackUpload({
      ctx: ctxOf(c),
      deps: { blobStore, privateKeys: recipientPrivateKeys },
      input: { fields, body },
    });
    return c.body(null, 200);
  });
}

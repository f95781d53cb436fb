/**
 * `PUT /blobs/uploads/:uploadId/parts/:partNumber`: the fs store's stand-in for S3's presigned PUT.
 * Outside /api on purpose: the body is raw sealed bytes (no JSON rule) of up to a part's size (no
 * 1 MiB limit). The signed URL is the only credential, as with S3, and it is honoured only while its
 * upload is open: after the receipt (or a cancel) it is refused with upload.not_found.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { type PartReceivingStore, receivePartUpload } from '../services/receive-part-upload.js';
import { exactBody } from './raw-body.js';

export function registerBlobParts(app: OpenAPIHono<AppEnv>, store: PartReceivingStore): void {
  app.put('/blobs/uploads/:uploadId/parts/:partNumber', async (c) => {
    // Signature and expiry before anything else, so an unsigned caller learns nothing and costs no disk.
    const fields = store.verifyPartRequest({
      uploadId: c.req.param('uploadId'),
      partNumber: c.req.param('partNumber'),
      query: c.req.query(),
    });
    const body = exactBody(c, fields.length);
    const privateKeys = c.get('deps').recipientPrivateKeys;
    const { etag } = await receivePartUpload({ ctx: ctxOf(c), store, input: { fields, body, privateKeys } });
    c.header('ETag', etag);
    return c.body(null, 200);
  });
}

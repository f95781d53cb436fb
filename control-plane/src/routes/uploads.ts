import {
  uploadCompleteRequestSchema,
  uploadCompleteResponseSchema,
  uploadOfferRequestSchema,
  uploadOfferResponseSchema,
} from '@ferry/shared';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { completeUploads } from '../services/complete-uploads.js';
import { offerUploads } from '../services/offer-uploads.js';
import { json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const offerRoute = createRoute({
  method: 'post',
  path: '/api/v1/agents/uploads',
  tags: ['agents'],
  summary: 'Offer spooled objects; get part URLs for those the cloud does not hold yet',
  description:
    'Up to 500 objects. Each comes back `stored` (with a receipt: the group already holds that SOP Instance UID ' +
    'with that hash, `duplicate` when under another object id), `upload` (presigned part URLs valid for 5 ' +
    'minutes, and only until the upload is completed or cancelled; parts already held are `done`, so offering ' +
    'again resumes with fresh URLs), or `refused`.',
  middleware: [authenticate('agent')] as const,
  request: { body: { required: true, content: json(uploadOfferRequestSchema) } },
  responses: {
    200: { description: 'One result per object, in order', content: json(uploadOfferResponseSchema) },
    ...errorResponses(400, 401, 403, 413, 415, 503),
  },
});

const completeRoute = createRoute({
  method: 'post',
  path: '/api/v1/agents/uploads/complete',
  tags: ['agents'],
  summary: 'Ask for receipts once every part of an object is sent',
  description:
    'Each object is assembled, hashed and compared with `objectSha256`, opened (every GCM frame), its ' +
    'plaintext hashed and compared with the offer, and indexed. `stored` carries the receipt that lets the ' +
    'agent delete its copy; `retry` (upload.incomplete, upload.hash_mismatch, storage.unavailable) means ' +
    'offer it again; `refused` (upload.not_found, upload.object_invalid) is final for that upload.',
  middleware: [authenticate('agent')] as const,
  request: { body: { required: true, content: json(uploadCompleteRequestSchema) } },
  responses: {
    200: { description: 'One result per object, in order', content: json(uploadCompleteResponseSchema) },
    ...errorResponses(400, 401, 403, 413, 415),
  },
});

export function registerUploads(app: OpenAPIHono<AppEnv>): void {
  app.openapi(offerRoute, async (c) => {
    const { blobStore } = c.get('deps');
    const result = await offerUploads({ ctx: ctxOf(c), input: c.req.valid('json'), deps: { blobStore } });
    return c.json(result, 200);
  });

  app.openapi(completeRoute, async (c) => {
    const { blobStore, recipientPrivateKeys } = c.get('deps');
    const result = await completeUploads({
      ctx: ctxOf(c),
      input: c.req.valid('json'),
      deps: { blobStore, recipientPrivateKeys },
    });
    return c.json(result, 200);
  });
}

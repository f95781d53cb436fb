import {
  UPLOAD_TEST_PATH,
  uploadTestStartResponseSchema,
  uploadTestVerifyRequestSchema,
  uploadTestVerifyResponseSchema,
} from '@ferry/shared';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { startUploadTest } from '../services/start-upload-test.js';
import { verifyUploadTest } from '../services/verify-upload-test.js';
import { json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const startRoute = createRoute({
  method: 'post',
  path: UPLOAD_TEST_PATH,
  tags: ['agents'],
  summary: 'Start an upload round-trip test: a presigned URL for 1 MiB of test bytes',
  description:
    "PUT exactly `bytes` bytes (with Content-Length) to `url` before `expiresAt`, then call verify with the bytes' SHA-256. " +
    "The object lives under the calling gateway's own diagnostics prefix.",
  middleware: [authenticate('agent')] as const,
  responses: {
    200: { description: 'Where to PUT the test bytes', content: json(uploadTestStartResponseSchema) },
    ...errorResponses(401, 403, 503),
  },
});

const verifyRoute = createRoute({
  method: 'post',
  path: `${UPLOAD_TEST_PATH}/{testId}/verify`,
  tags: ['agents'],
  summary: 'Read the upload test object back, compare its SHA-256 and delete it',
  middleware: [authenticate('agent')] as const,
  request: {
    params: z.object({
      testId: z.uuid().openapi({ param: { name: 'testId', in: 'path' } }),
    }),
    body: { required: true, content: json(uploadTestVerifyRequestSchema) },
  },
  responses: {
    200: {
      description: '`ok` when the store holds exactly what the gateway sent',
      content: json(uploadTestVerifyResponseSchema),
    },
    ...errorResponses(400, 401, 403, 404, 415, 503),
  },
});

export function registerAgentDiagnostics(app: OpenAPIHono<AppEnv>): void {
  app.openapi(startRoute, async (c) => {
    const { blobStore } = c.get('deps');
    return c.json(await startUploadTest({ ctx: ctxOf(c), deps: { blobStore } }), 200);
  });

  app.openapi(verifyRoute, async (c) => {
    const { blobStore } = c.get('deps');
    const { testId } = c.req.valid('param');
    const { sha256 } = c.req.valid('json');
    return c.json(
      await verifyUploadTest({ ctx: ctxOf(c), input: { testId, sha256 }, deps: { blobStore } }),
      200,
    );
  });
}

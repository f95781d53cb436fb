import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, listAudit } from '../services/list-audit.js';
import { errorResponses } from './openapi-common.js';

const auditEntrySchema = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime({ offset: true }),
    actorType: z.enum(['user', 'agent', 'system']),
    actorId: z.string().nullable(),
    action: z.string(),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    ip: z.string().nullable(),
    requestId: z.string().nullable(),
  })
  .openapi('AuditEntry');

const listAuditRoute = createRoute({
  method: 'get',
  path: '/api/v1/audit',
  tags: ['audit'],
  summary: "Your group's audit log, newest first (admin)",
  middleware: [authenticate('user')] as const,
  request: {
    query: z.object({
      action: z.string().min(1).max(100).optional().openapi({ example: 'facility.update' }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(AUDIT_PAGE_MAX)
        .optional()
        .openapi({ description: `Page size (default ${AUDIT_PAGE_DEFAULT})` }),
      before: z.coerce
        .number()
        .int()
        .min(1)
        .optional()
        .openapi({ description: 'Only entries older than this id: pass the previous page nextBefore' }),
    }),
  },
  responses: {
    200: {
      description: 'Entries, newest first',
      content: {
        'application/json': {
          schema: z.object({
            entries: z.array(auditEntrySchema),
            nextBefore: z
              .number()
              .int()
              .nullable()
              .openapi({ description: 'Pass as before= for the next page; null on the last page' }),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 403),
  },
});

export function registerAudit(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listAuditRoute, async (c) => {
    const { entries, nextBefore } = await listAudit({ ctx: ctxOf(c), input: c.req.valid('query') });
    return c.json(
      {
        entries: entries.map((e) => ({
          id: e.id,
          at: e.at.toISOString(),
          actorType: e.actorType,
          actorId: e.actorId,
          action: e.action,
          targetType: e.targetType,
          targetId: e.targetId,
          details: e.details,
          ip: e.ip,
          requestId: e.requestId,
        })),
        nextBefore,
      },
      200,
    );
  });
}

import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { createGroup } from '../services/create-group.js';
import { listGroups } from '../services/list-groups.js';
import { emailSchema, json, nameSchema, passwordSchema } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const groupSchema = z
  .object({ id: z.uuid(), name: z.string(), createdAt: z.iso.datetime({ offset: true }) })
  .openapi('Group');

const createGroupRoute = createRoute({
  method: 'post',
  path: '/api/v1/groups',
  tags: ['groups'],
  summary: 'Create a group and its first admin (platform operator)',
  middleware: [authenticate('user')] as const,
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({
            name: nameSchema,
            admin: z.object({ email: emailSchema, password: passwordSchema }).strict(),
          })
          .strict(),
      ),
    },
  },
  responses: {
    201: {
      description: 'Created',
      content: json(
        z.object({
          group: groupSchema,
          admin: z.object({ id: z.uuid(), email: z.string(), role: z.literal('admin') }),
        }),
      ),
    },
    ...errorResponses(400, 401, 403, 409, 413, 415),
  },
});

const listGroupsRoute = createRoute({
  method: 'get',
  path: '/api/v1/groups',
  tags: ['groups'],
  summary: 'Every group (platform operator)',
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'Groups, oldest first', content: json(z.object({ groups: z.array(groupSchema) })) },
    ...errorResponses(401, 403),
  },
});

export function registerGroups(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createGroupRoute, async (c) => {
    const { group, admin } = await createGroup({ ctx: ctxOf(c), input: c.req.valid('json') });
    return c.json(
      { group: { id: group.id, name: group.name, createdAt: group.createdAt.toISOString() }, admin },
      201,
    );
  });
  app.openapi(listGroupsRoute, async (c) => {
    const groups = await listGroups({ ctx: ctxOf(c) });
    return c.json(
      { groups: groups.map((g) => ({ id: g.id, name: g.name, createdAt: g.createdAt.toISOString() })) },
      200,
    );
  });
}

import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { createUser } from '../services/create-user.js';
import { listUsers } from '../services/list-users.js';
import { resetUserPassword } from '../services/reset-user-password.js';
import { updateUser } from '../services/update-user.js';
import {
  emailSchema,
  idParamSchema,
  json,
  passwordSchema,
  roleSchema,
  userDto,
  userSchema,
} from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const createUserRoute = createRoute({
  method: 'post',
  path: '/api/v1/users',
  tags: ['users'],
  summary: 'Add a user to your group (admin)',
  middleware: [authenticate('user')] as const,
  request: {
    body: {
      required: true,
      content: json(z.object({ email: emailSchema, password: passwordSchema, role: roleSchema }).strict()),
    },
  },
  responses: {
    201: { description: 'Created', content: json(userSchema) },
    ...errorResponses(400, 401, 403, 409, 413, 415),
  },
});

const listUsersRoute = createRoute({
  method: 'get',
  path: '/api/v1/users',
  tags: ['users'],
  summary: "Your group's users (admin)",
  middleware: [authenticate('user')] as const,
  responses: {
    200: { description: 'Users, oldest first', content: json(z.object({ users: z.array(userSchema) })) },
    ...errorResponses(401, 403),
  },
});

const updateUserRoute = createRoute({
  method: 'patch',
  path: '/api/v1/users/{id}',
  tags: ['users'],
  summary: "Change a user's role or (de)activate them (admin)",
  description: 'An admin cannot deactivate themselves or drop their own admin role.',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema,
    body: {
      required: true,
      content: json(
        z
          .object({ role: roleSchema.optional(), deactivated: z.boolean().optional() })
          .strict()
          .refine(
            (v) => v.role !== undefined || v.deactivated !== undefined,
            'give role, deactivated or both',
          ),
      ),
    },
  },
  responses: {
    200: { description: 'The user as changed', content: json(userSchema) },
    ...errorResponses(400, 401, 403, 404, 413, 415),
  },
});

const resetPasswordRoute = createRoute({
  method: 'post',
  path: '/api/v1/users/{id}/reset-password',
  tags: ['users'],
  summary: "Reset a user's password (admin)",
  description:
    'Answers a new temporary password, shown only here: the user must change it at the next sign-in. ' +
    "Ends all of the user's sessions and API tokens. Not for your own account (change it instead).",
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'The user and their temporary password',
      content: json(z.object({ user: userSchema, temporaryPassword: z.string() })),
    },
    ...errorResponses(401, 403, 404),
  },
});

export function registerUsers(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createUserRoute, async (c) => {
    const user = await createUser({ ctx: ctxOf(c), input: c.req.valid('json') });
    return c.json(userDto(user), 201);
  });
  app.openapi(listUsersRoute, async (c) => {
    const users = await listUsers({ ctx: ctxOf(c) });
    return c.json({ users: users.map(userDto) }, 200);
  });
  app.openapi(updateUserRoute, async (c) => {
    const user = await updateUser({
      ctx: ctxOf(c),
      input: { ...c.req.valid('json'), id: c.req.valid('param').id },
    });
    return c.json(userDto(user), 200);
  });
  app.openapi(resetPasswordRoute, async (c) => {
    const { user, temporaryPassword } = await resetUserPassword({
      ctx: ctxOf(c),
      input: { id: c.req.valid('param').id },
    });
    c.header('cache-control', 'no-store');
    return c.json({ user: userDto(user), temporaryPassword }, 200);
  });
}

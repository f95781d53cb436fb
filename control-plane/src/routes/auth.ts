import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SESSION_TTL_SECONDS } from '../auth/session.js';
import { setSessionCookie } from '../http/auth-middleware.js';
import { ctxOf } from '../http/context.js';
import type { AppEnv } from '../http/types.js';
import { loginUser } from '../services/login-user.js';
import { errorResponses } from './openapi-common.js';

const login = createRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  tags: ['auth'],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .object({ email: z.string().min(3).max(320), password: z.string().min(1).max(1024) })
            .strict(),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'Signed in. The token is also set as an HttpOnly session cookie.',
      content: {
        'application/json': { schema: z.object({ token: z.string(), expiresIn: z.number().int() }) },
      },
    },
    ...errorResponses(400, 401, 429),
  },
});

export function registerAuth(app: OpenAPIHono<AppEnv>): void {
  app.openapi(login, async (c) => {
    const input = c.req.valid('json');
    const { token } = await loginUser({ ctx: ctxOf(c), input, sessionSecret: c.get('deps').sessionSecret });
    setSessionCookie(c, token);
    return c.json({ token, expiresIn: SESSION_TTL_SECONDS }, 200);
  });
}

import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { deleteCookie, getCookie } from 'hono/cookie';
import { SESSION_TTL_SECONDS } from '../auth/session.js';
import {
  authenticateWithTemporaryPassword,
  SESSION_COOKIE,
  setSessionCookie,
} from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { changePassword } from '../services/change-password.js';
import { loginUser } from '../services/login-user.js';
import { logoutUser } from '../services/logout-user.js';
import { json, passwordSchema } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const sessionSchema = z.object({
  token: z.string(),
  expiresIn: z.number().int(),
  passwordMustChange: z.boolean().openapi({
    description:
      'The password is temporary: every other call answers 403 auth.password_change_required until ' +
      'POST /api/v1/me/password has replaced it',
  }),
});

const login = createRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  tags: ['auth'],
  description:
    'Wrong passwords are throttled per account and client address with growing delays (429 with ' +
    'Retry-After); a right password from another address is not held up.',
  request: {
    body: {
      required: true,
      content: json(
        z.object({ email: z.string().min(3).max(320), password: z.string().min(1).max(1024) }).strict(),
      ),
    },
  },
  responses: {
    200: {
      description: 'Signed in. The token is also set as an HttpOnly session cookie.',
      content: json(sessionSchema),
    },
    ...errorResponses(400, 401, 429),
  },
});

const logout = createRoute({
  method: 'post',
  path: '/api/v1/auth/logout',
  tags: ['auth'],
  summary: 'Sign out everywhere',
  description:
    'Ends this session and every other session and API token of the caller, and clears the cookie.',
  middleware: [authenticateWithTemporaryPassword()] as const,
  responses: {
    204: { description: 'Signed out' },
    ...errorResponses(401, 403),
  },
});

const changeOwnPassword = createRoute({
  method: 'post',
  path: '/api/v1/me/password',
  tags: ['auth'],
  summary: 'Change your own password',
  description:
    'Needs the current password (wrong guesses are throttled like sign-ins). Ends every other session ' +
    'and API token of the caller and replaces a temporary password; answers a new session token.',
  middleware: [authenticateWithTemporaryPassword()] as const,
  request: {
    body: {
      required: true,
      content: json(
        z.object({ currentPassword: z.string().min(1).max(1024), newPassword: passwordSchema }).strict(),
      ),
    },
  },
  responses: {
    200: {
      description: 'Changed; the new session token is also set as the cookie',
      content: json(sessionSchema),
    },
    ...errorResponses(400, 401, 403, 413, 415, 429),
  },
});

export function registerAuth(app: OpenAPIHono<AppEnv>): void {
  app.openapi(login, async (c) => {
    const input = c.req.valid('json');
    const { token, user } = await loginUser({
      ctx: ctxOf(c),
      input,
      sessionSecret: c.get('deps').sessionSecret,
    });
    setSessionCookie(c, token);
    return c.json(
      { token, expiresIn: SESSION_TTL_SECONDS, passwordMustChange: user.passwordMustChange },
      200,
    );
  });
  app.openapi(logout, async (c) => {
    await logoutUser({ ctx: ctxOf(c) });
    if (getCookie(c, SESSION_COOKIE) !== undefined) deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.body(null, 204);
  });
  app.openapi(changeOwnPassword, async (c) => {
    const { token } = await changePassword({
      ctx: ctxOf(c),
      input: c.req.valid('json'),
      sessionSecret: c.get('deps').sessionSecret,
    });
    // A browser that called with its cookie keeps a working one; bearer callers take the token.
    if (getCookie(c, SESSION_COOKIE) !== undefined) setSessionCookie(c, token);
    return c.json({ token, expiresIn: SESSION_TTL_SECONDS, passwordMustChange: false }, 200);
  });
}

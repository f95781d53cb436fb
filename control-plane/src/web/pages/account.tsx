import type { Hono } from 'hono';
import type { AppEnv } from '../../http/types.js';
import { Layout } from '../layout.js';
import { pageUser, requirePage } from '../page-context.js';

/** Who is signed in, in which role, and until when. */
export function registerAccount(web: Hono<AppEnv>): void {
  web.get('/account', requirePage(), (c) => {
    const user = pageUser(c);
    return c.html(
      <Layout title="Your account" user={user}>
        <dl class="facts">
          <dt>Email</dt>
          <dd>{user.email}</dd>
          <dt>Role</dt>
          <dd>{user.role}</dd>
          <dt>Session ends</dt>
          <dd>
            <time datetime={user.sessionExpiresAt.toISOString()}>{user.sessionExpiresAt.toISOString()}</time>
          </dd>
        </dl>
      </Layout>,
    );
  });
}

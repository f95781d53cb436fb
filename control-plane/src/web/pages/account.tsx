import { ERROR_CODES, FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { setSessionCookie } from '../../edge/auth-middleware.js';
import { ctxOf } from '../../edge/context.js';
import { retryAfterOf } from '../../edge/errors.js';
import type { AppEnv } from '../../edge/types.js';
import { changePassword } from '../../services/change-password.js';
import { Csrf, fieldAria, Labelled, NewPasswordField } from '../components/field.js';
import { Moment } from '../components/moment.js';
import { formText } from '../facility-fields.js';
import { Layout } from '../layout.js';
import { pageUser, requirePage } from '../page-context.js';

const NOTICES: Record<string, string> = {
  'password-changed': 'Password changed. Every other session of yours has been signed out.',
};

type PasswordErrors = Partial<Record<'currentPassword' | 'newPassword', string>>;

function renderAccount(
  c: Context<AppEnv>,
  errors: PasswordErrors = {},
  status: ContentfulStatusCode = 200,
): Response | Promise<Response> {
  const user = pageUser(c);
  const temporary = user.passwordMustChange;
  c.status(status);
  return c.html(
    <Layout
      title="Your account"
      user={user}
      nav="account"
      notice={temporary ? undefined : NOTICES[c.req.query('notice') ?? '']}
    >
      {temporary ? (
        <p class="notice warn" role="alert" id="password-temporary">
          Your password is temporary. Choose a new one to continue.
        </p>
      ) : null}
      <dl class="facts">
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
        <dt>Session ends</dt>
        <dd>
          <Moment at={user.sessionExpiresAt} />
        </dd>
      </dl>
      <section aria-labelledby="password-heading">
        <h2 id="password-heading">Change password</h2>
        <p>Changing your password signs you out everywhere else, API tokens included.</p>
        <form method="post" action="/account/password" class="narrow" novalidate>
          <Csrf user={user} />
          <Labelled id="current-password" label="Current password" error={errors.currentPassword}>
            <input
              type="password"
              id="current-password"
              name="currentPassword"
              required
              autocomplete="current-password"
              {...fieldAria('current-password', errors.currentPassword)}
            />
          </Labelled>
          <NewPasswordField
            id="new-password"
            name="newPassword"
            label="New password"
            error={errors.newPassword}
          />
          <button type="submit">Change password</button>
        </form>
      </section>
    </Layout>,
  );
}

/** Who is signed in, in which role and until when; and changing one's own password (a temporary one first). */
export function registerAccount(web: Hono<AppEnv>): void {
  const page = requirePage({ temporaryPasswordOk: true });

  web.get('/account', page, (c) => renderAccount(c));

  web.post('/account/password', page, async (c) => {
    const form = await c.req.parseBody();
    const wasTemporary = pageUser(c).passwordMustChange;
    try {
      const { token } = await changePassword({
        ctx: ctxOf(c),
        input: {
          currentPassword: formText(form, 'currentPassword'),
          newPassword: formText(form, 'newPassword'),
        },
        sessionSecret: c.get('deps').sessionSecret,
      });
      setSessionCookie(c, token);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      const status = ERROR_CODES[err.code].http as ContentfulStatusCode;
      if (err.code === 'auth.wrong_password' || err.code === 'auth.rate_limited') {
        const retryAfter = retryAfterOf(err);
        if (retryAfter !== undefined) c.header('retry-after', String(retryAfter));
        return renderAccount(c, { currentPassword: err.message }, status);
      }
      if (err.code === 'request.invalid')
        return renderAccount(
          c,
          { newPassword: `New password ${err.message.replace(/^newPassword: /, '')}` },
          status,
        );
      throw err;
    }
    return c.redirect(wasTemporary ? '/' : '/account?notice=password-changed', 303);
  });
}

import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ctxOf } from '../../edge/context.js';
import type { AppEnv } from '../../edge/types.js';
import { createUser } from '../../services/create-user.js';
import { listUsers, type UserRole, userRoles } from '../../services/list-users.js';
import { resetUserPassword } from '../../services/reset-user-password.js';
import { updateUser } from '../../services/update-user.js';
import { Csrf, fieldAria, Labelled, NewPasswordField } from '../components/field.js';
import { StackTable } from '../components/stack-table.js';
import { formText, requireUuid, When } from '../facility-fields.js';
import { Layout } from '../layout.js';
import { pageUser, requirePage } from '../page-context.js';

const NOTICES: Record<string, string> = {
  created:
    'User created. Give them their e-mail address and temporary password: they choose their own at the first sign-in.',
  'role-changed': 'Role changed',
  deactivated: 'User deactivated',
  reactivated: 'User reactivated',
};

interface NewUserValues {
  email: string;
  role: string;
}
type NewUserErrors = Partial<Record<'email' | 'role' | 'password', string>>;

function isRole(v: string): v is UserRole {
  return (userRoles as readonly string[]).includes(v);
}

/** The field a create-user refusal is about, in the console's words. */
function newUserErrors(err: unknown): NewUserErrors {
  if (!(err instanceof FerryError)) throw err;
  const m = err.message;
  if (err.code === 'resource.conflict') return { email: `Not created: ${m}` };
  if (err.code === 'request.invalid' && m.startsWith('email: ')) return { email: `E-mail ${m.slice(7)}` };
  if (err.code === 'request.invalid' && m.startsWith('password: '))
    return { password: `Temporary password ${m.slice(10)}` };
  throw err;
}

async function renderUsers(
  c: Context<AppEnv>,
  state: {
    values?: NewUserValues;
    errors?: NewUserErrors;
    rowError?: string;
    /** Shown once, right after a reset: it is nowhere else. */
    reset?: { email: string; temporaryPassword: string };
  } = {},
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const user = pageUser(c);
  const rows = await listUsers({ ctx: ctxOf(c) });
  const values = state.values ?? { email: '', role: 'reader' };
  const errors = state.errors ?? {};
  const notice = NOTICES[c.req.query('notice') ?? ''];
  c.status(status);
  return c.html(
    <Layout title="Users" user={user} nav="users" notice={notice}>
      {state.reset ? (
        <div class="notice" role="status" id="reset-password">
          <p>
            {`Temporary password for ${state.reset.email}: `}
            <code id="temporary-password">{state.reset.temporaryPassword}</code>
          </p>
          <p>
            Shown only now: give it to them yourself. They are signed out everywhere and choose a new password
            at their next sign-in.
          </p>
        </div>
      ) : null}
      {state.rowError ? (
        <p class="notice bad" role="alert">
          {state.rowError}
        </p>
      ) : null}
      <section aria-labelledby="members-heading">
        <h2 id="members-heading">Members of your group</h2>
        <StackTable label="Users" columns={['Email', 'Role', 'State', 'Created', 'Actions']}>
          {rows.map((u) => {
            const active = u.deactivatedAt === null;
            const self = u.id === user.id;
            const roleId = `role-${u.id}`;
            return (
              <tr>
                <td data-label="Email">
                  {u.email}
                  {self ? <span class="muted"> (you)</span> : null}
                </td>
                <td data-label="Role">{u.role}</td>
                <td data-label="State">
                  <span class={`badge ${active ? 'online' : 'revoked'}`}>
                    {active ? 'active' : 'deactivated'}
                  </span>
                </td>
                <td data-label="Created">
                  <When at={u.createdAt} />
                </td>
                <td data-label="Actions">
                  {self ? (
                    <span class="muted">Another admin can change your account.</span>
                  ) : (
                    <>
                      <form method="post" action={`/users/${u.id}/role`} class="inline-form">
                        <Csrf user={user} />
                        <label for={roleId}>{`Role for ${u.email}`}</label>
                        <select id={roleId} name="role">
                          {userRoles.map((r) => (
                            <option value={r} selected={r === u.role}>
                              {r}
                            </option>
                          ))}
                        </select>
                        <button type="submit" class="secondary">
                          Change role
                        </button>
                      </form>
                      <form
                        method="post"
                        action={`/users/${u.id}/reset-password`}
                        data-confirm={`Reset the password of ${u.email}? They are signed out everywhere and get a temporary password.`}
                      >
                        <Csrf user={user} />
                        <button type="submit" class="secondary" aria-label={`Reset password of ${u.email}`}>
                          Reset password
                        </button>
                      </form>
                      {active ? (
                        <form
                          method="post"
                          action={`/users/${u.id}/deactivate`}
                          data-confirm={`Deactivate ${u.email}? They are signed out and cannot sign in again.`}
                        >
                          <Csrf user={user} />
                          <button type="submit" class="danger">
                            Deactivate
                          </button>
                        </form>
                      ) : (
                        <form method="post" action={`/users/${u.id}/reactivate`}>
                          <Csrf user={user} />
                          <button type="submit" class="secondary">
                            Reactivate
                          </button>
                        </form>
                      )}
                    </>
                  )}
                </td>
              </tr>
            );
          })}
        </StackTable>
      </section>

      <section aria-labelledby="new-user-heading">
        <h2 id="new-user-heading">Add a user</h2>
        <p>
          Ferry does not send e-mail, so there are no invitation mails: creating a user with a temporary
          password is the invitation. Give the new user their e-mail address and password yourself.
        </p>
        <form method="post" action="/users" class="narrow" novalidate>
          <Csrf user={user} />
          <Labelled id="email" label="Email" error={errors.email}>
            <input
              type="email"
              id="email"
              name="email"
              value={values.email}
              required
              autocomplete="off"
              {...fieldAria('email', errors.email)}
            />
          </Labelled>
          <Labelled id="role" label="Role" error={errors.role}>
            <select id="role" name="role" {...fieldAria('role', errors.role)}>
              {userRoles.map((r) => (
                <option value={r} selected={r === values.role}>
                  {r}
                </option>
              ))}
            </select>
          </Labelled>
          <NewPasswordField
            id="password"
            name="password"
            label="Temporary password"
            error={errors.password}
          />
          <button type="submit">Create user</button>
        </form>
      </section>
    </Layout>,
  );
}

/** A refusal of a row action (e.g. deactivating yourself) shown on the list, as the service words it. */
async function rowAction(
  c: Context<AppEnv>,
  input: { role?: UserRole; deactivated?: boolean },
  notice: string,
): Promise<Response> {
  const id = requireUuid(c.req.param('id') ?? '', 'user');
  try {
    await updateUser({ ctx: ctxOf(c), input: { id, ...input } });
  } catch (err) {
    if (err instanceof FerryError && err.code === 'auth.forbidden')
      return renderUsers(c, { rowError: `Not changed: ${err.message}.` }, 403);
    throw err;
  }
  return c.redirect(`/users?notice=${notice}`, 303);
}

/** Users (admins): list, create with a temporary password, reset a password, change role, deactivate. */
export function registerUsers(web: Hono<AppEnv>): void {
  const admin = requirePage({ admin: true });

  web.get('/users', admin, (c) => renderUsers(c));

  web.post('/users', admin, async (c) => {
    const form = await c.req.parseBody();
    const values = { email: formText(form, 'email'), role: formText(form, 'role') };
    const password = formText(form, 'password');
    if (!isRole(values.role))
      return renderUsers(c, { values, errors: { role: 'Choose the role admin or reader' } }, 400);
    try {
      await createUser({ ctx: ctxOf(c), input: { email: values.email, password, role: values.role } });
    } catch (err) {
      const errors = newUserErrors(err);
      return renderUsers(
        c,
        { values, errors },
        err instanceof FerryError && err.code === 'resource.conflict' ? 409 : 400,
      );
    }
    return c.redirect('/users?notice=created', 303);
  });

  web.post('/users/:id/role', admin, async (c) => {
    const role = formText(await c.req.parseBody(), 'role');
    if (!isRole(role))
      return renderUsers(c, { rowError: 'Not changed: choose the role admin or reader.' }, 400);
    return rowAction(c, { role }, 'role-changed');
  });
  web.post('/users/:id/reset-password', admin, async (c) => {
    const id = requireUuid(c.req.param('id') ?? '', 'user');
    let reset: Awaited<ReturnType<typeof resetUserPassword>>;
    try {
      reset = await resetUserPassword({ ctx: ctxOf(c), input: { id } });
    } catch (err) {
      if (err instanceof FerryError && err.code === 'auth.forbidden')
        return renderUsers(c, { rowError: `Not reset: ${err.message}.` }, 403);
      throw err;
    }
    // Rendered, not redirected: the temporary password must not travel in a URL or be cached.
    c.header('cache-control', 'no-store');
    return renderUsers(c, { reset: { email: reset.user.email, temporaryPassword: reset.temporaryPassword } });
  });
  web.post('/users/:id/deactivate', admin, (c) => rowAction(c, { deactivated: true }, 'deactivated'));
  web.post('/users/:id/reactivate', admin, (c) => rowAction(c, { deactivated: false }, 'reactivated'));
}

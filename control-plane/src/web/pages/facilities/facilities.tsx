import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { countGatewaysByFacility } from '../../../services/count-gateways-by-facility.js';
import {
  createEnrollmentToken,
  DEFAULT_ENROLLMENT_TOKEN_HOURS,
} from '../../../services/create-enrollment-token.js';
import { createFacility } from '../../../services/create-facility.js';
import { deleteFacility } from '../../../services/delete-facility.js';
import { getFacility } from '../../../services/get-facility.js';
import { getGatewaySettings } from '../../../services/get-gateway-settings.js';
import { type InstallCommand, installCommandFor } from '../../../services/install-command.js';
import {
  type EnrollmentTokenSummary,
  listEnrollmentTokens,
} from '../../../services/list-enrollment-tokens.js';
import { type FacilityRow, listFacilities } from '../../../services/list-facilities.js';
import { revokeEnrollmentToken } from '../../../services/revoke-enrollment-token.js';
import { STABLE_PERIOD_DEFAULT_SECONDS } from '../../../services/stable-period.js';
import { updateFacility } from '../../../services/update-facility.js';
import { formInt, formText, requireUuid, When } from '../../facility-fields.js';
import { Csrf, FieldError, Layout } from '../../layout.js';
import { type PageUser, pageUser, requirePage } from '../../page-context.js';

/** The same bounds the enrollment-token API route enforces. */
const TOKEN_MAX_HOURS = 30 * 24;
const TOKEN_MAX_USES = 1000;

/** Notices a redirect can ask for by key (never echoed text, so a link cannot put words on the page). */
const NOTICES: Record<string, string> = {
  created: 'Facility created',
  saved: 'Facility saved',
  deleted: 'Facility deleted',
  'token-revoked': 'Enrollment token revoked',
};

function noticeOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.query('notice');
  return key ? NOTICES[key] : undefined;
}

interface FacilityValues {
  name: string;
  aeTitle: string;
  stablePeriodSeconds: string;
}
type FacilityErrors = Partial<Record<keyof FacilityValues, string>>;

/**
 * Which form field a service's refusal is about, in the console's words. The AE title reason is the
 * API's own text (the API prefixes it with the field name, `aeTitle: `).
 */
function facilityFieldErrors(err: unknown): FacilityErrors {
  if (!(err instanceof FerryError)) throw err;
  const m = err.message;
  if (err.code === 'dicom.ae_title_invalid') return { aeTitle: m.replace(/^aeTitle: /, '') };
  if (err.code === 'resource.conflict' && m.startsWith('AE title')) return { aeTitle: m };
  if (err.code === 'request.invalid' && m.startsWith('name: ')) return { name: `Name ${m.slice(6)}` };
  if (err.code === 'request.invalid' && m.startsWith('stablePeriodSeconds'))
    return { stablePeriodSeconds: `Stable period ${m.slice('stablePeriodSeconds '.length)} seconds` };
  throw err;
}

function statusOf(err: FacilityErrors, fallback: ContentfulStatusCode = 400): ContentfulStatusCode {
  return err.aeTitle?.includes('already used') ? 409 : fallback;
}

function Field({
  id,
  label,
  value,
  error,
  type = 'text',
  hint,
  attrs = {},
}: {
  id: string;
  label: string;
  value: string;
  error?: string | undefined;
  type?: string;
  hint?: string;
  attrs?: Record<string, string | number | boolean>;
}) {
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div>
      <label for={id}>{label}</label>
      {hint ? (
        <p class="muted" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      <input
        type={type}
        id={id}
        name={id}
        value={value}
        required
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy || undefined}
        {...attrs}
      />
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

function FacilityForm({
  user,
  action,
  button,
  values,
  errors,
}: {
  user: PageUser;
  action: string;
  button: string;
  values: FacilityValues;
  errors: FacilityErrors;
}) {
  return (
    <form method="post" action={action} class="narrow" novalidate data-facility-form="">
      <Csrf user={user} />
      <Field id="name" label="Name" value={values.name} error={errors.name} attrs={{ maxlength: 200 }} />
      <Field
        id="aeTitle"
        label="AE title"
        value={values.aeTitle}
        error={errors.aeTitle}
        hint="What the modalities send to: 1 to 16 printable ASCII characters, no backslash. Unique in your group."
        attrs={{ autocomplete: 'off', spellcheck: false, 'data-ae-title': '' }}
      />
      <Field
        id="stablePeriodSeconds"
        label="Stable period (seconds)"
        type="number"
        value={values.stablePeriodSeconds}
        error={errors.stablePeriodSeconds}
        hint="A study is complete once no new image has arrived for this long."
        attrs={{ min: 1, max: 86400, step: 1, inputmode: 'numeric' }}
      />
      <button type="submit">{button}</button>
    </form>
  );
}

function tokenState(t: EnrollmentTokenSummary, now: number): 'active' | 'used' | 'expired' | 'revoked' {
  if (t.revokedAt) return 'revoked';
  if (t.uses >= t.maxUses) return 'used';
  if (t.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

const STATE_BADGE = { active: 'online', used: 'info', expired: 'offline', revoked: 'revoked' } as const;

interface TokenFormValues {
  expiresInHours: string;
  maxUses: string;
}

interface FacilityPageState {
  values?: FacilityValues;
  errors?: FacilityErrors;
  tokenValues?: TokenFormValues;
  tokenErrors?: Partial<Record<keyof TokenFormValues, string>>;
  deleteError?: string;
  /** The install line of a token created by this very request (and the token itself): shown once. */
  install?: InstallCommand & { token: string };
  notice?: string | undefined;
}

async function renderFacilityPage(
  c: Context<AppEnv>,
  facility: FacilityRow,
  state: FacilityPageState,
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const user = pageUser(c);
  const ctx = ctxOf(c);
  const [tokens, gatewayCounts, group] = await Promise.all([
    listEnrollmentTokens({ ctx, input: { facilityId: facility.id } }),
    countGatewaysByFacility({ ctx }),
    getGatewaySettings({ ctx }),
  ]);
  const now = Date.now();
  const base = `/facilities/${facility.id}`;
  const values = state.values ?? {
    name: facility.name,
    aeTitle: facility.aeTitle,
    stablePeriodSeconds: String(facility.stablePeriodSeconds),
  };
  const tokenValues = state.tokenValues ?? {
    expiresInHours: String(DEFAULT_ENROLLMENT_TOKEN_HOURS),
    maxUses: '1',
  };
  const tokenErrors = state.tokenErrors ?? {};
  const gatewayCount = gatewayCounts.get(facility.id) ?? 0;
  const settings = facility.gatewaySettings ?? {};
  // The facility's list wins over the group's, as in the config its gateways get.
  const allowedCallers = settings.allowedCallingAeTitles ?? group.settings.allowedCallingAeTitles ?? [];
  c.status(status);
  return c.html(
    <Layout
      title={facility.name}
      user={user}
      nav="facilities"
      notice={state.notice}
      scripts={['facilities.js']}
      styles={['facilities.css']}
    >
      <p>
        <a href="/facilities">All facilities</a>
      </p>
      {state.install ? (
        <section class="card install-box" aria-labelledby="install-heading">
          <h2 id="install-heading">Install command</h2>
          {state.install.installCommand ? (
            <>
              <p>
                Run this on the gateway host (Linux x64, with curl and sudo) to install the agent from this
                control plane and enroll it into {facility.name}:
              </p>
              <pre id="install-command">{state.install.installCommand}</pre>
              <button type="button" data-copy="install-command">
                Copy install command
              </button>
            </>
          ) : (
            <>
              <p role="alert">
                There is no install command: {state.install.unavailable} The enrollment token, for an agent
                installed by other means:
              </p>
              <pre id="enrollment-token">{state.install.token}</pre>
            </>
          )}
          <p>
            It enrolls only with this control plane's encryption key, thumbprint{' '}
            <code id="key-thumbprint">{state.install.keyThumbprint}</code>.
          </p>
          <p>
            <strong>This command is shown only once.</strong> Ferry keeps only a hash of the token; if you
            lose it, revoke the token and create a new one.
          </p>
        </section>
      ) : null}

      <section aria-labelledby="details-heading">
        <h2 id="details-heading">Details</h2>
        <dl class="facts">
          <dt>Gateways</dt>
          <dd>{gatewayCount}</dd>
          <dt>Created</dt>
          <dd>
            <When at={facility.createdAt} />
          </dd>
        </dl>
        <FacilityForm user={user} action={base} button="Save" values={values} errors={state.errors ?? {}} />
      </section>

      <section aria-labelledby="settings-heading">
        <h2 id="settings-heading">Gateway settings</h2>
        {allowedCallers.length === 0 ? (
          <p class="notice bad" id="open-to-any-caller">
            Any machine on the network can store images to this facility's gateways: they accept every calling
            AE title. Set <code>allowedCallingAeTitles</code> in the gateway settings to accept only your
            modalities.
          </p>
        ) : (
          <p id="allowed-callers">
            Only these calling AE titles can store to this facility's gateways:{' '}
            {allowedCallers.map((t, i) => (
              <>
                {i > 0 ? ', ' : ''}
                <code>{t}</code>
              </>
            ))}
            .
          </p>
        )}
        {Object.keys(settings).length === 0 ? (
          <p>This facility's gateways use your group's gateway settings.</p>
        ) : (
          <>
            <p>
              This facility overrides these of your group's gateway settings (change them through the API):
            </p>
            <pre>
              <code>{JSON.stringify(settings, null, 2)}</code>
            </pre>
          </>
        )}
      </section>

      <section aria-labelledby="tokens-heading">
        <h2 id="tokens-heading">Enrollment tokens</h2>
        <p>A token lets a new gateway enroll into this facility. It is shown once, when you create it.</p>
        <form method="post" action={`${base}/enrollment-tokens`} class="narrow" novalidate>
          <Csrf user={user} />
          <Field
            id="expiresInHours"
            label="Expires in (hours)"
            type="number"
            value={tokenValues.expiresInHours}
            error={tokenErrors.expiresInHours}
            attrs={{ min: 1, max: TOKEN_MAX_HOURS, step: 1, inputmode: 'numeric' }}
          />
          <Field
            id="maxUses"
            label="Uses"
            type="number"
            value={tokenValues.maxUses}
            error={tokenErrors.maxUses}
            hint="How many gateways may enroll with it."
            attrs={{ min: 1, max: TOKEN_MAX_USES, step: 1, inputmode: 'numeric' }}
          />
          <button type="submit">Create enrollment token</button>
        </form>
        {tokens.length === 0 ? (
          <p class="muted">No enrollment tokens yet.</p>
        ) : (
          <div class="table-wrap">
            <table class="stack" aria-label="Enrollment tokens">
              <thead>
                <tr>
                  <th scope="col">Token</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Uses left</th>
                  <th scope="col">State</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((t) => {
                  const st = tokenState(t, now);
                  return (
                    <tr>
                      <td data-label="Token">
                        <code>{t.id.slice(0, 8)}</code>
                      </td>
                      <td data-label="Created">
                        <When at={t.createdAt} />
                      </td>
                      <td data-label="Expires">
                        <When at={t.expiresAt} />
                      </td>
                      <td data-label="Uses left">
                        {Math.max(t.maxUses - t.uses, 0)} of {t.maxUses}
                      </td>
                      <td data-label="State">
                        <span class={`badge ${STATE_BADGE[st]}`}>{st}</span>
                      </td>
                      <td data-label="Actions">
                        {st === 'active' ? (
                          <form
                            method="post"
                            action={`${base}/enrollment-tokens/${t.id}/revoke`}
                            data-confirm="Revoke this enrollment token? Gateways can no longer enroll with it."
                          >
                            <Csrf user={user} />
                            <button type="submit" class="secondary">
                              Revoke
                            </button>
                          </form>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete facility</h2>
        <p>Only a facility without active gateways can be deleted; revoke its gateways first.</p>
        {state.deleteError ? (
          <p class="field-error" id="delete-error" role="alert">
            {state.deleteError}
          </p>
        ) : null}
        <form
          method="post"
          action={`${base}/delete`}
          aria-label="Delete facility"
          data-confirm={`Delete facility "${facility.name}"? This cannot be undone.`}
        >
          <Csrf user={user} />
          <button type="submit" class="danger">
            Delete facility
          </button>
        </form>
      </section>
    </Layout>,
  );
}

function facilityValuesOf(form: Record<string, unknown>): FacilityValues {
  return {
    name: formText(form, 'name'),
    aeTitle: formText(form, 'aeTitle'),
    stablePeriodSeconds: formText(form, 'stablePeriodSeconds'),
  };
}

function renderNewFacility(
  c: Context<AppEnv>,
  values: FacilityValues,
  errors: FacilityErrors,
  status: ContentfulStatusCode = 200,
): Response | Promise<Response> {
  c.status(status);
  return c.html(
    <Layout
      title="New facility"
      user={pageUser(c)}
      nav="facilities"
      scripts={['facilities.js']}
      styles={['facilities.css']}
    >
      <p>
        <a href="/facilities">All facilities</a>
      </p>
      <FacilityForm
        user={pageUser(c)}
        action="/facilities"
        button="Create facility"
        values={values}
        errors={errors}
      />
    </Layout>,
  );
}

/** Facilities (admins): list, create, edit, delete, and their enrollment tokens. */
export function registerFacilities(web: Hono<AppEnv>): void {
  const admin = requirePage({ admin: true });

  web.get('/facilities', admin, async (c) => {
    const user = pageUser(c);
    const ctx = ctxOf(c);
    const [rows, counts] = await Promise.all([listFacilities({ ctx }), countGatewaysByFacility({ ctx })]);
    return c.html(
      <Layout
        title="Facilities"
        user={user}
        nav="facilities"
        notice={noticeOf(c)}
        styles={['facilities.css']}
      >
        <p>
          <a class="button" href="/facilities/new">
            New facility
          </a>
        </p>
        {rows.length === 0 ? (
          <p>No facilities yet. Create one, then an enrollment token to connect its gateway.</p>
        ) : (
          <div class="table-wrap">
            <table class="stack" aria-label="Facilities">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">AE title</th>
                  <th scope="col">Gateways</th>
                  <th scope="col">Stable period</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((f) => (
                  <tr>
                    <td data-label="Name">
                      <a href={`/facilities/${f.id}`}>{f.name}</a>
                    </td>
                    <td data-label="AE title">
                      <code>{f.aeTitle}</code>
                    </td>
                    <td data-label="Gateways">{counts.get(f.id) ?? 0}</td>
                    <td data-label="Stable period">{f.stablePeriodSeconds} s</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Layout>,
    );
  });

  web.get('/facilities/new', admin, (c) =>
    renderNewFacility(
      c,
      { name: '', aeTitle: '', stablePeriodSeconds: String(STABLE_PERIOD_DEFAULT_SECONDS) },
      {},
    ),
  );

  web.post('/facilities', admin, async (c) => {
    const values = facilityValuesOf(await c.req.parseBody());
    try {
      const facility = await createFacility({
        ctx: ctxOf(c),
        input: {
          name: values.name,
          aeTitle: values.aeTitle,
          stablePeriodSeconds: formInt(values.stablePeriodSeconds),
        },
      });
      return c.redirect(`/facilities/${facility.id}?notice=created`, 303);
    } catch (err) {
      const errors = facilityFieldErrors(err);
      return renderNewFacility(c, values, errors, statusOf(errors));
    }
  });

  web.get('/facilities/:id', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const facility = await getFacility({ ctx: ctxOf(c), input: { id } });
    return renderFacilityPage(c, facility, { notice: noticeOf(c) });
  });

  web.post('/facilities/:id', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const ctx = ctxOf(c);
    const facility = await getFacility({ ctx, input: { id } });
    const values = facilityValuesOf(await c.req.parseBody());
    try {
      await updateFacility({
        ctx,
        input: {
          id,
          name: values.name,
          aeTitle: values.aeTitle,
          stablePeriodSeconds: formInt(values.stablePeriodSeconds),
        },
      });
      return c.redirect(`/facilities/${id}?notice=saved`, 303);
    } catch (err) {
      const errors = facilityFieldErrors(err);
      return renderFacilityPage(c, facility, { values, errors }, statusOf(errors));
    }
  });

  web.post('/facilities/:id/delete', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const ctx = ctxOf(c);
    try {
      await deleteFacility({ ctx, input: { id } });
      return c.redirect('/facilities?notice=deleted', 303);
    } catch (err) {
      if (!(err instanceof FerryError) || err.code !== 'resource.conflict') throw err;
      const facility = await getFacility({ ctx, input: { id } });
      return renderFacilityPage(c, facility, { deleteError: `Not deleted: ${err.message}.` }, 409);
    }
  });

  web.post('/facilities/:id/enrollment-tokens', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const ctx = ctxOf(c);
    const facility = await getFacility({ ctx, input: { id } });
    const form = await c.req.parseBody();
    const tokenValues = {
      expiresInHours: formText(form, 'expiresInHours'),
      maxUses: formText(form, 'maxUses'),
    };
    const hours = formInt(tokenValues.expiresInHours);
    const uses = formInt(tokenValues.maxUses);
    const tokenErrors: FacilityPageState['tokenErrors'] = {};
    if (!(hours >= 1 && hours <= TOKEN_MAX_HOURS))
      tokenErrors.expiresInHours = `Expires in must be a whole number of hours from 1 to ${TOKEN_MAX_HOURS} (30 days)`;
    if (!(uses >= 1 && uses <= TOKEN_MAX_USES))
      tokenErrors.maxUses = `Uses must be a whole number from 1 to ${TOKEN_MAX_USES}`;
    if (tokenErrors.expiresInHours || tokenErrors.maxUses)
      return renderFacilityPage(c, facility, { tokenValues, tokenErrors }, 400);
    const created = await createEnrollmentToken({
      ctx,
      input: { facilityId: id, expiresInHours: hours, maxUses: uses },
    });
    return renderFacilityPage(c, facility, {
      notice: 'Enrollment token created',
      install: {
        ...(await installCommandFor({ ...c.get('deps'), token: created.token })),
        token: created.token,
      },
    });
  });

  web.post('/facilities/:id/enrollment-tokens/:tokenId/revoke', admin, async (c) => {
    const id = requireUuid(c.req.param('id'), 'facility');
    const tokenId = requireUuid(c.req.param('tokenId'), 'enrollment token');
    const ctx = ctxOf(c);
    await getFacility({ ctx, input: { id } });
    await revokeEnrollmentToken({ ctx, input: { tokenId } });
    return c.redirect(`/facilities/${id}?notice=token-revoked`, 303);
  });
}

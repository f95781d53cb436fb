import { FerryError } from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { countGatewaysByFacility } from '../../../services/count-gateways-by-facility.js';
import { createEnrollmentToken } from '../../../services/create-enrollment-token.js';
import { createFacility } from '../../../services/create-facility.js';
import { deleteFacility } from '../../../services/delete-facility.js';
import { getFacility } from '../../../services/get-facility.js';
import { installCommandFor } from '../../../services/install-command.js';
import { listFacilities } from '../../../services/list-facilities.js';
import { revokeEnrollmentToken } from '../../../services/revoke-enrollment-token.js';
import { STABLE_PERIOD_DEFAULT_SECONDS } from '../../../services/stable-period.js';
import { updateFacility } from '../../../services/update-facility.js';
import { StackTable } from '../../components/stack-table.js';
import { formInt, requireUuid } from '../../facility-fields.js';
import { Layout } from '../../layout.js';
import { pageUser, requirePage } from '../../page-context.js';
import { aliasesOnSave } from './ae-title-change.js';
import { parseTokenForm } from './enrollment-tokens.js';
import { facilityFieldErrors, facilityValuesOf, renderNewFacility, statusOf } from './facility-form.js';
import { renderFacilityPage } from './facility-page.js';
import { registerFacilitySettings } from './facility-settings.js';

/** Notices a redirect can ask for by key (never echoed text, so a link cannot put words on the page). */
const NOTICES: Record<string, string> = {
  created: 'Facility created',
  saved: 'Facility saved',
  'settings-saved': 'Gateway settings saved',
  deleted: 'Facility deleted',
  'token-revoked': 'Enrollment token revoked',
};

function noticeOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.query('notice');
  return key ? NOTICES[key] : undefined;
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
          <StackTable label="Facilities" columns={['Name', 'AE title', 'Gateways', 'Stable period']}>
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
          </StackTable>
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
          aeTitleAliases: aliasesOnSave(
            { aeTitle: facility.aeTitle, aliases: facility.aeTitleAliases },
            values.aeTitle,
            values.keepOldAeTitle ?? false,
          ),
          stablePeriodSeconds: formInt(values.stablePeriodSeconds),
        },
      });
      return c.redirect(`/facilities/${id}?notice=saved`, 303);
    } catch (err) {
      const errors = facilityFieldErrors(err);
      return renderFacilityPage(c, facility, { values, errors }, statusOf(errors));
    }
  });

  registerFacilitySettings(web);

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
    const parsed = parseTokenForm(await c.req.parseBody());
    if (!parsed.ok)
      return renderFacilityPage(c, facility, { tokenValues: parsed.values, tokenErrors: parsed.errors }, 400);
    const created = await createEnrollmentToken({
      ctx,
      input: { facilityId: id, expiresInHours: parsed.expiresInHours, maxUses: parsed.maxUses },
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

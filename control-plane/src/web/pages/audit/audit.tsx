import type { Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { type AuditEntry, listAudit } from '../../../services/list-audit.js';
import { listUsers } from '../../../services/list-users.js';
import { DayInput, TimeZoneField, timeZoneMinutes } from '../../components/day-input.js';
import { Labelled } from '../../components/field.js';
import { StackTable } from '../../components/stack-table.js';
import { When } from '../../facility-fields.js';
import { Layout } from '../../layout.js';
import { pageUser, requirePage } from '../../page-context.js';

/** Actions and target types the services write, offered as suggestions (the filter takes any name). */
export const AUDIT_ACTIONS = [
  'auth.login',
  'auth.login_failed',
  'dicomweb.query',
  'dicomweb.retrieve',
  'enrollment_token.create',
  'enrollment_token.revoke',
  'facility.create',
  'facility.delete',
  'facility.update',
  'gateway.diagnostic',
  'gateway.enroll',
  'gateway.enroll_refused',
  'gateway.revoke',
  'gateway.rotate_key',
  'group.create',
  'group.gateway_settings.update',
  'study.download',
  'study.read',
  'user.bootstrap_admin',
  'user.create',
  'user.deactivate',
  'user.update',
  'webhook.create',
  'webhook.delete',
];
export const AUDIT_TARGET_TYPES = [
  'enrollment_token',
  'facility',
  'gateway',
  'group',
  'study',
  'user',
  'webhook',
];

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

/**
 * A YYYY-MM-DD date field as the midnight it names in the viewer's time zone (`tz` minutes east of
 * UTC, the zone the times are shown in), or an error saying why not.
 */
function parseDay(raw: string, label: string, tz: number): { at?: Date; error?: string } {
  if (raw === '') return {};
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw);
  const utc = m ? new Date(`${raw}T00:00:00Z`) : undefined;
  if (!utc || Number.isNaN(utc.getTime()) || utc.toISOString().slice(0, 10) !== raw)
    return { error: `${label} must be a date like 2026-11-28` };
  return { at: new Date(utc.getTime() - tz * 60_000) };
}

function Who({ entry, emails }: { entry: AuditEntry; emails: Map<string, string> }) {
  if (entry.actorType === 'system') return <span class="muted">system</span>;
  if (entry.actorType === 'agent')
    return (
      <span>
        gateway <code>{entry.actorId ?? '?'}</code>
      </span>
    );
  const email = entry.actorId ? emails.get(entry.actorId) : undefined;
  return email ? <span>{email}</span> : <code>{entry.actorId ?? 'unknown user'}</code>;
}

/** The group's audit log (admins), newest first, filterable, paged by the service's cursor. */
export function registerAudit(web: Hono<AppEnv>): void {
  web.get('/audit', requirePage({ admin: true }), async (c) => {
    const user = pageUser(c);
    const ctx = ctxOf(c);
    const q = {
      action: (c.req.query('action') ?? '').trim().slice(0, 100),
      targetType: (c.req.query('targetType') ?? '').trim().slice(0, 100),
      from: (c.req.query('from') ?? '').trim(),
      to: (c.req.query('to') ?? '').trim(),
    };
    const before = Number(c.req.query('before') ?? '');
    const tz = timeZoneMinutes(c.req.query('tz'));
    const from = parseDay(q.from, 'From', tz);
    const to = parseDay(q.to, 'To', tz);
    const bad = Boolean(from.error || to.error);
    const [page, users] = await Promise.all([
      bad
        ? Promise.resolve({ entries: [] as AuditEntry[], nextBefore: null })
        : listAudit({
            ctx,
            input: {
              action: q.action || undefined,
              targetType: q.targetType || undefined,
              from: from.at,
              // "To" is a whole day: entries up to the end of it.
              to: to.at ? new Date(to.at.getTime() + DAY_MS) : undefined,
              before: Number.isInteger(before) && before > 0 ? before : undefined,
              limit: PAGE_SIZE,
            },
          }),
      listUsers({ ctx }),
    ]);
    const emails = new Map(users.map((u) => [u.id, u.email]));
    const older = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== ''));
    if (page.nextBefore !== null) older.set('before', String(page.nextBefore));
    if (tz !== 0) older.set('tz', String(tz));
    const filtered = Object.values(q).some((v) => v !== '');
    c.status(bad ? 400 : 200);
    return c.html(
      <Layout title="Audit log" user={user} nav="audit" styles={['audit.css']}>
        <form method="get" action="/audit" class="filters" aria-label="Filter the audit log">
          <TimeZoneField minutes={tz} />
          <div>
            <label for="action">Action</label>
            <input
              type="text"
              id="action"
              name="action"
              value={q.action}
              list="audit-actions"
              maxlength={100}
            />
            <datalist id="audit-actions">
              {AUDIT_ACTIONS.map((a) => (
                <option value={a} />
              ))}
            </datalist>
          </div>
          <div>
            <label for="targetType">Target type</label>
            <select id="targetType" name="targetType">
              <option value="">Any</option>
              {AUDIT_TARGET_TYPES.map((t) => (
                <option value={t} selected={t === q.targetType}>
                  {t}
                </option>
              ))}
            </select>
          </div>
          <div>
            <Labelled id="from" label="From" error={from.error}>
              <DayInput id="from" name="from" value={q.from} error={from.error} />
            </Labelled>
          </div>
          <div>
            <Labelled id="to" label="To" error={to.error}>
              <DayInput id="to" name="to" value={q.to} error={to.error} />
            </Labelled>
          </div>
          <div>
            <button type="submit">Filter</button>
            {filtered ? (
              <>
                {' '}
                <a href="/audit">Clear filters</a>
              </>
            ) : null}
          </div>
        </form>
        {page.entries.length === 0 ? (
          <p>{filtered ? 'No entries match these filters.' : 'No entries yet.'}</p>
        ) : (
          <StackTable
            label="Audit log"
            columns={['When', 'Who', 'Action', 'Target', 'Details']}
            class="audit"
          >
            {page.entries.map((e) => (
              <tr>
                <td data-label="When">
                  <When at={e.at} />
                </td>
                <td data-label="Who">
                  <Who entry={e} emails={emails} />
                </td>
                <td data-label="Action">
                  <code>{e.action}</code>
                </td>
                <td data-label="Target">
                  {e.targetType ? (
                    <>
                      {e.targetType} <code>{e.targetId ?? ''}</code>
                    </>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
                <td data-label="Details">
                  {e.details && Object.keys(e.details).length > 0 ? (
                    <code class="audit-details">{JSON.stringify(e.details)}</code>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
              </tr>
            ))}
          </StackTable>
        )}
        {page.nextBefore !== null ? (
          <p>
            <a href={`/audit?${older}`}>Older entries</a>
          </p>
        ) : null}
      </Layout>,
    );
  });
}

import {
  type DiagnosticRequest,
  type DicomPeer,
  diagnosticRequestSchema,
  dicomPeersSchema,
  FerryError,
  type HealthReport,
  recipientKeyThumbprint,
} from '@ferry/shared';
import type { Context, Hono } from 'hono';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import { type DiagnosticView, getDiagnostic } from '../../../services/get-diagnostic.js';
import { type GatewayDetail, getGateway } from '../../../services/get-gateway.js';
import { revokeGateway } from '../../../services/revoke-gateway.js';
import { startDiagnostic } from '../../../services/start-diagnostic.js';
import { formatBytes, formatDuration, formatTime, formatVersion } from '../../components/fleet-format.js';
import { Csrf, FieldError, Layout } from '../../layout.js';
import { type PageUser, pageUser, requirePage } from '../../page-context.js';
import { StatusBadge } from '../fleet/fleet.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The revoke form's confirmation, as the browser asks it. */
export const REVOKE_CONFIRM = 'Revoke this gateway? It must be enrolled again to send studies.';

const NOTICES: Record<string, string> = { revoked: 'Gateway revoked' };

/** A path id that is not a UUID names nothing: the same 404 as an unknown or another group's gateway. */
function idParam(c: Context<AppEnv>, name: string, noun = 'gateway'): string {
  const id = c.req.param(name) ?? '';
  if (!UUID.test(id)) throw new FerryError('resource.not_found', `no ${noun} ${id} in your group`);
  return id;
}

function When({ at, empty = 'never' }: { at: Date | string | null | undefined; empty?: string }) {
  if (!at) return <span class="muted">{empty}</span>;
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) return <span>{String(at)}</span>;
  return <time datetime={d.toISOString()}>{formatTime(d)}</time>;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** The numbers of the latest heartbeat, as facts under the status. */
function HealthFacts({ h }: { h: HealthReport }) {
  const plural = (n: number, one: string) => `${n} ${n === 1 ? one : `${one}s`}`;
  return (
    <>
      <dt>Spool backlog</dt>
      <dd data-health="backlog">
        {plural(h.spool.pendingCount, 'object')} / {formatBytes(h.spool.pendingBytes)} in{' '}
        {h.spool.pendingStudies} {h.spool.pendingStudies === 1 ? 'study' : 'studies'}
        {h.spool.quarantined > 0 ? `, ${h.spool.quarantined} quarantined` : ''}
      </dd>
      <dt>Oldest unsent</dt>
      <dd>
        <When at={h.spool.oldestUnsentAt} empty="none" />
      </dd>
      <dt>Upload</dt>
      <dd data-health="upload">
        {formatBytes(h.upload.bytesPerSecond)}/s, {plural(h.upload.objectsDelivered, 'object')} delivered,{' '}
        {plural(h.upload.errors, 'error')}
        {h.upload.lastError ? (
          <>
            {' '}
            (last <code>{h.upload.lastError.code}</code> at <When at={h.upload.lastError.at} />)
          </>
        ) : null}
      </dd>
      <dt>DICOM listener</dt>
      <dd data-health="dicom">
        {h.dicom.listening ? 'listening as ' : 'not listening; configured as '}
        <code>{h.dicom.aeTitle}</code> on port {h.dicom.port},{' '}
        {plural(h.dicom.activeAssociations, 'active association')}
      </dd>
      <dt>Disk</dt>
      <dd data-health="disk">
        {formatBytes(h.disk.freeBytes)} free of {formatBytes(h.disk.totalBytes)}
      </dd>
      <dt>Clock offset</dt>
      <dd>
        {h.clockOffsetMs === null ? (
          <span class="muted">not measured</span>
        ) : (
          `${Math.round(h.clockOffsetMs)} ms`
        )}
      </dd>
    </>
  );
}

/** What the diagnostics forms hold when they are shown again with an error. */
interface DiagnosticForms {
  echo?: { peer: string; callingAeTitle: string };
  lines?: string;
  /** Field errors by input id. */
  errors?: Record<string, string>;
  /** An error for the whole section (the gateway is offline). */
  error?: string;
}

/** The peers of the gateway's desired config: the only nodes a C-ECHO may go to. */
function listedPeers(config: Record<string, unknown> | null): DicomPeer[] {
  const parsed = dicomPeersSchema.safeParse(config?.peers ?? []);
  return parsed.success ? parsed.data : [];
}

function peerLabel(p: DicomPeer): string {
  return `${p.name}: ${p.aeTitle} at ${p.host}:${p.port}${p.tls ? ' (TLS)' : ''}`;
}

/** C-ECHO to one of the listed peers; with none listed, why there is nothing to choose. */
function EchoForm({
  user,
  action,
  peers,
  echo,
  errors,
  ownAeTitle,
}: {
  user: PageUser;
  action: string;
  peers: DicomPeer[];
  echo: { peer: string; callingAeTitle: string };
  errors: Record<string, string>;
  ownAeTitle: string;
}) {
  const described = (id: string) => (errors[id] ? `${id}-error` : undefined);
  if (peers.length === 0)
    return (
      <section class="card" aria-labelledby="diag-echo">
        <h3 id="diag-echo">C-ECHO to a DICOM peer</h3>
        <p id="echo-no-peers">
          This gateway lists no DICOM peers. A gateway only dials the PACS and modalities in its gateway
          settings' <code>peers</code> list, which an admin sets through the API.
        </p>
      </section>
    );
  return (
    <form method="post" action={action} class="card" aria-labelledby="diag-echo">
      <h3 id="diag-echo">C-ECHO to a DICOM peer</h3>
      <Csrf user={user} />
      <label for="echo-peer">Peer</label>
      <select
        id="echo-peer"
        name="peer"
        required
        aria-describedby={described('echo-peer')}
        aria-invalid={errors['echo-peer'] ? 'true' : undefined}
      >
        {peers.map((p) => (
          <option value={p.name} selected={p.name === echo.peer}>
            {peerLabel(p)}
          </option>
        ))}
      </select>
      <FieldError id="echo-peer-error" message={errors['echo-peer']} />
      <label for="echo-calling">Calling AE title</label>
      <input
        id="echo-calling"
        name="callingAeTitle"
        type="text"
        maxlength={16}
        placeholder={ownAeTitle}
        value={echo.callingAeTitle}
        aria-describedby={described('echo-calling')}
        aria-invalid={errors['echo-calling'] ? 'true' : undefined}
      />
      <FieldError id="echo-calling-error" message={errors['echo-calling']} />
      <button type="submit">Run C-ECHO</button>
    </form>
  );
}

/** Which key the gateway seals new objects for, flagged when it is not the control plane's current one. */
function RecipientKeyFacts({
  reported,
  current,
}: {
  reported: string | undefined;
  current: string | undefined;
}) {
  const stale = reported !== undefined && current !== undefined && reported !== current;
  return (
    <>
      <dt>Encryption key</dt>
      <dd id="gw-recipient-key" data-current={stale ? 'false' : reported && current ? 'true' : undefined}>
        {reported ? <code>{reported}</code> : <span class="muted">not reported</span>}
        {stale ? (
          <strong>
            {' '}
            not the control plane's current key (<code>{current}</code>): the gateway is sent it while
            connected
          </strong>
        ) : null}
      </dd>
    </>
  );
}

function GatewayPage({
  user,
  g,
  notice,
  forms = {},
  currentKey,
}: {
  user: PageUser;
  g: GatewayDetail;
  notice?: string | undefined;
  forms?: DiagnosticForms;
  /** RFC 7638 thumbprint of the control plane's current recipient key, to compare with the gateway's. */
  currentKey?: string | undefined;
}) {
  const base = `/gateways/${g.id}`;
  const errors = forms.errors ?? {};
  const echo = forms.echo ?? { peer: '', callingAeTitle: '' };
  const peers = listedPeers(g.config);
  const described = (id: string) => (errors[id] ? `${id}-error` : undefined);
  const configEntries = Object.entries(g.config ?? {});
  return (
    <Layout
      title={`Gateway ${g.hostname}`}
      user={user}
      nav="fleet"
      notice={notice}
      scripts={['fleet.js']}
      styles={['fleet.css']}
    >
      <p>
        <a href="/fleet">Back to the fleet</a>
      </p>
      <section aria-labelledby="gw-status">
        <h2 id="gw-status">Status</h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={g.status} revoked={g.revokedAt !== null} />
          </dd>
          <dt>Since</dt>
          <dd>
            <When at={g.statusSince} />
          </dd>
          <dt>Last heartbeat</dt>
          <dd>
            <When at={g.lastHeartbeatAt} />
          </dd>
          <dt>Last seen</dt>
          <dd>
            <When at={g.lastSeenAt} />
          </dd>
          <dt>Version</dt>
          <dd>{g.health?.agentVersion ?? g.version}</dd>
          <dt>Uptime</dt>
          <dd>
            {g.health ? formatDuration(g.health.uptimeSeconds) : <span class="muted">not reported</span>}
          </dd>
          <dt>Facility</dt>
          <dd>
            {g.facility.name} (AE title <code>{g.facility.aeTitle}</code>)
          </dd>
          <dt>Enrolled</dt>
          <dd>
            <When at={g.enrolledAt} />
          </dd>
          <RecipientKeyFacts reported={g.health?.recipientKeyThumbprint} current={currentKey} />
          {g.health ? <HealthFacts h={g.health} /> : null}
          {g.revokedAt ? (
            <>
              <dt>Revoked</dt>
              <dd>
                <When at={g.revokedAt} />
              </dd>
            </>
          ) : null}
        </dl>
      </section>

      <section aria-labelledby="gw-conditions">
        <h2 id="gw-conditions">Conditions</h2>
        {g.conditions.length === 0 ? (
          <p>No conditions</p>
        ) : (
          <div class="table-wrap">
            <table class="stack" aria-label="Conditions">
              <thead>
                <tr>
                  <th scope="col">Code</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Message</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                {g.conditions.map((cond) => (
                  <tr>
                    <td data-label="Code">
                      <code>{cond.code}</code>
                    </td>
                    <td data-label="Severity">
                      <span class={`badge ${cond.severity}`}>{cond.severity}</span>
                    </td>
                    <td data-label="Message">{cond.message}</td>
                    <td data-label="Since">
                      <When at={cond.since} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="gw-config">
        <h2 id="gw-config">Config</h2>
        <dl class="facts">
          <dt>Desired version</dt>
          <dd data-config="desired">{formatVersion(g.configVersion)}</dd>
          <dt>Applied version</dt>
          <dd data-config="applied">
            {formatVersion(g.appliedConfigVersion)}
            {g.configVersion !== null && g.appliedConfigVersion !== g.configVersion ? (
              <span class="muted"> (not yet applied)</span>
            ) : null}
          </dd>
          {g.rejectedConfig ? (
            <>
              <dt>Rejected version</dt>
              <dd data-config="rejected">
                {formatVersion(g.rejectedConfig.version)}, <When at={g.rejectedConfig.at} />:{' '}
                <span class="rejected-reason">{g.rejectedConfig.reason}</span>
              </dd>
            </>
          ) : null}
        </dl>
        {configEntries.length > 0 ? (
          <div class="table-wrap">
            <table class="stack" aria-label="Desired config">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {configEntries.map(([k, v]) => (
                  <tr>
                    <td data-label="Field">
                      <code>{k}</code>
                    </td>
                    <td data-label="Value">
                      <code>{show(v)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">No desired config yet.</p>
        )}
      </section>

      <section aria-labelledby="gw-diagnostics">
        <h2 id="gw-diagnostics">Diagnostics</h2>
        {forms.error ? (
          <p class="notice bad" id="diagnostics-error" role="alert">
            {forms.error}
          </p>
        ) : null}
        <div class="diagnostics">
          <EchoForm
            user={user}
            action={`${base}/diagnostics/echo`}
            peers={peers}
            echo={echo}
            errors={errors}
            ownAeTitle={g.facility.aeTitle}
          />
          <form
            method="post"
            action={`${base}/diagnostics/upload-test`}
            class="card"
            aria-labelledby="diag-upload"
          >
            <h3 id="diag-upload">Upload test</h3>
            <Csrf user={user} />
            <p class="muted">Uploads a small test object from the gateway to the cloud store and back.</p>
            <button type="submit">Run upload test</button>
          </form>
          <form method="post" action={`${base}/diagnostics/logs`} class="card" aria-labelledby="diag-logs">
            <h3 id="diag-logs">Log bundle</h3>
            <Csrf user={user} />
            <label for="logs-lines">Lines</label>
            <input
              id="logs-lines"
              name="lines"
              type="number"
              min="1"
              max="5000"
              value={forms.lines ?? '200'}
              aria-describedby={described('logs-lines')}
              aria-invalid={errors['logs-lines'] ? 'true' : undefined}
            />
            <FieldError id="logs-lines-error" message={errors['logs-lines']} />
            <button type="submit">Get log bundle</button>
          </form>
        </div>
      </section>

      <section aria-labelledby="gw-events">
        <h2 id="gw-events">Events</h2>
        {g.events.length === 0 ? (
          <p>No events yet</p>
        ) : (
          <ol class="timeline" aria-label="Recent events, newest first">
            {g.events.map((e) => (
              <li data-event-type={e.type}>
                <When at={e.at} /> <strong>{e.type}</strong>
                {Object.keys(e.details).length > 0 ? (
                  <span class="muted">
                    {' '}
                    {Object.entries(e.details)
                      .map(([k, v]) => `${k}: ${show(v)}`)
                      .join(', ')
                      .slice(0, 300)}
                  </span>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="gw-revoke">
        <h2 id="gw-revoke">Revoke</h2>
        {g.revokedAt ? (
          <p>
            This gateway was revoked on <When at={g.revokedAt} />. It must be enrolled again to send studies.
          </p>
        ) : (
          <form method="post" action={`${base}/revoke`} data-confirm={REVOKE_CONFIRM}>
            <Csrf user={user} />
            <p>
              A revoked gateway is refused at its next call and must be enrolled again with a new token.
              Studies it holds stay in its spool.
            </p>
            <button type="submit" class="danger">
              Revoke gateway
            </button>
          </form>
        )}
      </section>
    </Layout>
  );
}

/** Field ids of the diagnostics forms by request field. */
const FIELD_IDS: Record<string, string> = {
  peer: 'echo-peer',
  callingAeTitle: 'echo-calling',
  lines: 'logs-lines',
};

const FIELD_HINTS: Record<string, string> = {
  'echo-peer': 'Choose one of the listed peers.',
  'logs-lines': 'Lines must be a whole number from 1 to 5000.',
};

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** Parses a whole number field; an empty one is undefined, a bad one NaN (the schema then says why). */
function whole(v: string): number | undefined {
  if (v === '') return undefined;
  return /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

type Parsed =
  | { ok: true; request: DiagnosticRequest }
  | { ok: false; forms: DiagnosticForms; errors: Record<string, string> };

function parseDiagnostic(kind: string, form: Record<string, unknown>): Parsed {
  const echo = { peer: text(form.peer), callingAeTitle: text(form.callingAeTitle) };
  const lines = text(form.lines);
  const raw =
    kind === 'echo'
      ? {
          kind,
          ...(echo.peer ? { peer: echo.peer } : {}),
          ...(echo.callingAeTitle ? { callingAeTitle: echo.callingAeTitle } : {}),
        }
      : kind === 'logs'
        ? { kind, ...(lines ? { lines: whole(lines) } : {}) }
        : { kind: 'upload-test' };
  const parsed = diagnosticRequestSchema.safeParse(raw);
  if (parsed.success) return { ok: true, request: parsed.data };
  const errors: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    const id = FIELD_IDS[String(issue.path[0])];
    if (!id || errors[id]) continue;
    errors[id] = FIELD_HINTS[id] ?? `${issue.message}.`;
  }
  return { ok: false, forms: { echo, lines }, errors };
}

function diagnosticLabel(r: DiagnosticRequest): string {
  if (r.kind === 'echo') {
    const as = r.callingAeTitle ? ` as ${r.callingAeTitle}` : '';
    const target = `${r.calledAeTitle ?? 'ANY-SCP'} at ${r.host}:${r.port}${r.tls ? ' over TLS' : ''}`;
    return r.peer ? `C-ECHO to ${r.peer} (${target})${as}` : `C-ECHO to ${target}${as}`;
  }
  if (r.kind === 'logs') return `Log bundle (${r.lines ?? 'default'} lines)`;
  return 'Upload test';
}

function DiagnosticPage({ user, gatewayId, d }: { user: PageUser; gatewayId: string; d: DiagnosticView }) {
  const finished = d.state === 'done' || d.state === 'expired';
  const details = d.result?.details ?? {};
  const lines = Array.isArray(details.lines) ? (details.lines as unknown[]) : null;
  const others = Object.entries(details).filter(([k]) => k !== 'lines');
  return (
    <Layout title="Diagnostic" user={user} nav="fleet" scripts={['fleet.js']} styles={['fleet.css']}>
      <p>
        <a href={`/gateways/${gatewayId}`}>Back to the gateway</a>
      </p>
      <div data-diagnostic-state={d.state} data-refresh-seconds={finished ? undefined : '2'}>
        <dl class="facts">
          <dt>Diagnostic</dt>
          <dd>{diagnosticLabel(d.request)}</dd>
          <dt>Requested</dt>
          <dd>
            <When at={d.createdAt} />
          </dd>
          <dt>State</dt>
          <dd>
            <span class={`badge ${d.state}`} data-state={d.state}>
              {d.state}
            </span>
          </dd>
          {d.completedAt ? (
            <>
              <dt>Completed</dt>
              <dd>
                <When at={d.completedAt} />
              </dd>
            </>
          ) : null}
        </dl>
        {!finished ? (
          <p role="status">Waiting for the gateway to answer. This page refreshes every 2 seconds.</p>
        ) : d.state === 'expired' ? (
          <p role="status" class="notice bad">
            The gateway did not answer in time. Check that it is online and try again.
          </p>
        ) : null}
      </div>
      {d.result ? (
        <section aria-labelledby="diag-result">
          <h2 id="diag-result">Result</h2>
          <p>
            <span
              class={`badge ${d.result.ok ? 'ok' : 'failed'}`}
              data-result={d.result.ok ? 'ok' : 'failed'}
            >
              {d.result.ok ? 'ok' : 'failed'}
            </span>{' '}
            <span id="diag-summary">{d.result.summary}</span>
          </p>
          {d.result.code ? (
            <p>
              Error code <code>{d.result.code}</code>
            </p>
          ) : null}
          {others.length > 0 ? (
            <dl class="facts">
              {others.map(([k, v]) => (
                <>
                  <dt>{k}</dt>
                  <dd>{show(v)}</dd>
                </>
              ))}
            </dl>
          ) : null}
          {lines ? (
            <>
              <h3>Log lines ({lines.length})</h3>
              <pre id="diag-lines">{lines.map((l) => show(l)).join('\n')}</pre>
            </>
          ) : null}
        </section>
      ) : null}
    </Layout>
  );
}

export function registerGateway(web: Hono<AppEnv>): void {
  web.get('/gateways/:id', requirePage({ admin: true }), async (c) => {
    const g = await getGateway({ ctx: ctxOf(c), input: { id: idParam(c, 'id') } });
    const notice = NOTICES[c.req.query('notice') ?? ''];
    const currentKey = await recipientKeyThumbprint(c.get('deps').recipientPublicKey);
    return c.html(<GatewayPage user={pageUser(c)} g={g} notice={notice} currentKey={currentKey} />);
  });

  web.post('/gateways/:id/revoke', requirePage({ admin: true }), async (c) => {
    const g = await revokeGateway({ ctx: ctxOf(c), input: { id: idParam(c, 'id') } });
    return c.redirect(`/gateways/${g.id}?notice=revoked`, 303);
  });

  web.post(
    '/gateways/:id/diagnostics/:kind{echo|upload-test|logs}',
    requirePage({ admin: true }),
    async (c) => {
      const id = idParam(c, 'id');
      const ctx = ctxOf(c);
      const parsed = parseDiagnostic(c.req.param('kind'), await c.req.parseBody());
      if (!parsed.ok) {
        const g = await getGateway({ ctx, input: { id } });
        c.status(400);
        return c.html(
          <GatewayPage
            user={pageUser(c)}
            g={g}
            forms={{ ...parsed.forms, errors: parsed.errors, error: 'Check the highlighted fields.' }}
          />,
        );
      }
      try {
        const started = await startDiagnostic({ ctx, input: { gatewayId: id, request: parsed.request } });
        return c.redirect(`/gateways/${id}/diagnostics/${started.id}`, 303);
      } catch (err) {
        const code = err instanceof FerryError ? err.code : undefined;
        if (code !== 'gateway.offline' && code !== 'diagnostic.peer_not_listed') throw err;
        const message = (err as FerryError).message;
        const g = await getGateway({ ctx, input: { id } });
        const request = parsed.request;
        c.status(code === 'gateway.offline' ? 409 : 400);
        return c.html(
          <GatewayPage
            user={pageUser(c)}
            g={g}
            forms={{
              error: `Could not start the diagnostic: ${message}.`,
              ...(request.kind === 'echo'
                ? { echo: { peer: request.peer ?? '', callingAeTitle: request.callingAeTitle ?? '' } }
                : {}),
            }}
          />,
        );
      }
    },
  );

  web.get('/gateways/:id/diagnostics/:diagnosticId', requirePage({ admin: true }), async (c) => {
    const gatewayId = idParam(c, 'id');
    const diagnosticId = idParam(c, 'diagnosticId', 'diagnostic');
    const d = await getDiagnostic({ ctx: ctxOf(c), input: { gatewayId, diagnosticId } });
    return c.html(<DiagnosticPage user={pageUser(c)} gatewayId={gatewayId} d={d} />);
  });
}

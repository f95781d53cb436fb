import type { DiagnosticRequest } from '@ferry/shared';
import type { DiagnosticView } from '../../../services/get-diagnostic.js';
import { Layout } from '../../layout.js';
import type { PageUser } from '../../page-context.js';
import { show, When } from './gateway-facts.js';

function diagnosticLabel(r: DiagnosticRequest): string {
  if (r.kind === 'echo') {
    const as = r.callingAeTitle ? ` as ${r.callingAeTitle}` : '';
    const target = `${r.calledAeTitle ?? 'ANY-SCP'} at ${r.host}:${r.port}${r.tls ? ' over TLS' : ''}`;
    return r.peer ? `C-ECHO to ${r.peer} (${target})${as}` : `C-ECHO to ${target}${as}`;
  }
  if (r.kind === 'logs') return `Log bundle (${r.lines ?? 'default'} lines)`;
  return 'Upload test';
}

/** One diagnostic: what was asked, its state (refreshing while it runs) and the gateway's answer. */
export function DiagnosticPage({
  user,
  gatewayId,
  d,
}: {
  user: PageUser;
  gatewayId: string;
  d: DiagnosticView;
}) {
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

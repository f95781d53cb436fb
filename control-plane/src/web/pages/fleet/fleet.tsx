import type { Context, Hono } from 'hono';
import { raw } from 'hono/html';
import { streamSSE } from 'hono/streaming';
import { ctxOf } from '../../../edge/context.js';
import type { AppEnv } from '../../../edge/types.js';
import type { FleetSummary } from '../../../services/get-fleet-summary.js';
import { getFleetSummary } from '../../../services/get-fleet-summary.js';
import { listFacilities } from '../../../services/list-facilities.js';
import {
  type FleetFilters,
  type FleetGatewayView,
  type GatewayStatus,
  listFleetGateways,
} from '../../../services/list-fleet-gateways.js';
import { listFleetSparklines } from '../../../services/list-fleet-sparklines.js';
import { formatBytes, formatTime, formatVersion } from '../../components/fleet-format.js';
import { servedReleaseVersion, versionText } from '../../components/served-release.js';
import { StackTable } from '../../components/stack-table.js';
import { Layout } from '../../layout.js';
import { pageUser, requirePage } from '../../page-context.js';
import { sparklineHtml } from './fleet-sparkline.js';
import { FleetUpgrade, registerFleetUpgrade } from './fleet-upgrade.js';

const STATUSES: GatewayStatus[] = ['online', 'degraded', 'offline'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How often a live fleet stream looks for changes, and how often it sends a heartbeat comment. */
export const FLEET_TICK_MS = 1000;
export const FLEET_HEARTBEAT_MS = 15_000;

/** A time as both machine (ISO) and person (text) read it. */
interface Stamp {
  iso: string;
  text: string;
}

/** One fleet row, already formatted: the page renders it and the live stream sends it as it is. */
export interface FleetRow {
  id: string;
  href: string;
  name: string;
  hostname: string;
  facility: string;
  aeTitle: string;
  status: GatewayStatus;
  revoked: boolean;
  lastSeen: Stamp | null;
  backlog: string;
  oldestUnsent: Stamp | null;
  throughput: string;
  version: string;
  config: string;
}

/** The live stream's payload: the counts at the top and the rows under the current filters. */
export interface FleetUpdate {
  counts: {
    online: number;
    degraded: number;
    offline: number;
    total: number;
    studiesWaiting: number;
    oldestUnsent: Stamp | null;
    openErrors: number;
  };
  gateways: FleetRow[];
}

const stamp = (d: Date | null): Stamp | null => (d ? { iso: d.toISOString(), text: formatTime(d) } : null);

/** `served`: the release this control plane serves; a gateway behind it says so beside its version. */
export function fleetRow(g: FleetGatewayView, served?: string): FleetRow {
  return {
    id: g.id,
    href: `/gateways/${g.id}`,
    name: g.name,
    hostname: g.hostname,
    facility: g.facility.name,
    aeTitle: g.facility.aeTitle,
    status: g.status,
    revoked: g.revokedAt !== null,
    // The view's one definition: the latest of a heartbeat and an authenticated request.
    lastSeen: stamp(g.lastSeenAt),
    backlog: g.backlog
      ? `${g.backlog.objects} ${g.backlog.objects === 1 ? 'object' : 'objects'} / ${formatBytes(g.backlog.bytes)}`
      : 'not reported',
    oldestUnsent: stamp(g.backlog?.oldestUnsentAt ?? null),
    throughput: g.uploadBytesPerSecond === null ? 'not reported' : `${formatBytes(g.uploadBytesPerSecond)}/s`,
    version: versionText(g.version, served),
    config: `${formatVersion(g.appliedConfigVersion)} / ${formatVersion(g.configVersion)}`,
  };
}

function countsOf(s: FleetSummary): FleetUpdate['counts'] {
  return {
    ...s.gateways,
    studiesWaiting: s.studiesWaiting,
    oldestUnsent: stamp(s.oldestUnsentAt),
    openErrors: s.openAlerts.errors,
  };
}

/** The filters of a fleet request (page or stream); unknown values are ignored, not errors. */
function filtersOf(c: Context<AppEnv>): FleetFilters {
  const status = c.req.query('status');
  const facility = c.req.query('facility');
  return {
    status: STATUSES.includes(status as GatewayStatus) ? (status as GatewayStatus) : undefined,
    facilityId: facility && UUID.test(facility) ? facility : undefined,
    includeRevoked: c.req.query('revoked') === '1',
  };
}

async function fleetUpdate(c: Context<AppEnv>, filters: FleetFilters): Promise<FleetUpdate> {
  const ctx = ctxOf(c);
  const [summary, views, served] = await Promise.all([
    getFleetSummary({ ctx }),
    listFleetGateways({ ctx, input: filters }),
    servedReleaseVersion(c),
  ]);
  return { counts: countsOf(summary), gateways: views.map((g) => fleetRow(g, served)) };
}

function When({ at, empty }: { at: Stamp | null; empty: string }) {
  return at ? <time datetime={at.iso}>{at.text}</time> : <span class="muted">{empty}</span>;
}

function Counts({ counts }: { counts: FleetUpdate['counts'] }) {
  const item = (label: string, key: 'online' | 'degraded' | 'offline' | 'total') => (
    <li>
      {label} <strong data-count={key}>{counts[key]}</strong>
    </li>
  );
  return (
    <ul class="counts" aria-label="Gateways by status">
      {item('Online', 'online')}
      {item('Degraded', 'degraded')}
      {item('Offline', 'offline')}
      {item('Total', 'total')}
      <li>
        Studies waiting <strong data-count="studiesWaiting">{counts.studiesWaiting}</strong>
      </li>
      <li>
        Oldest unsent{' '}
        <strong data-count="oldestUnsent">
          <When at={counts.oldestUnsent} empty="none" />
        </strong>
      </li>
      <li>
        <a href="/alerts">Open errors</a> <strong data-count="openErrors">{counts.openErrors}</strong>
      </li>
    </ul>
  );
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
/** Escapes text for HTML content and double-quoted attributes. */
const esc = (v: string): string => v.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);

function whenHtml(at: Stamp | null, empty: string): string {
  return at
    ? `<time datetime="${esc(at.iso)}">${esc(at.text)}</time>`
    : `<span class="muted">${esc(empty)}</span>`;
}

/** A cell; fleet.client.js finds it again by its data-label (also what phones show before the value). */
function cell(label: string, inner: string): string {
  return `<td data-label="${label}">${inner}</td>`;
}

/**
 * One fleet row as markup. Built as an escaped string rather than through JSX: 500 rows through
 * hono/jsx take 30-70 ms on this machine, a string a few. Every value goes through `esc`; the same
 * cells are what fleet.client.js builds from a live update.
 */
export function fleetRowHtml(row: FleetRow, sparkline = '<span class="muted">—</span>'): string {
  const status = `<span class="badge ${esc(row.status)}" data-status="${esc(row.status)}">${esc(row.status)}</span>${
    row.revoked ? ' <span class="badge revoked">revoked</span>' : ''
  }`;
  return `<tr data-gateway-id="${esc(row.id)}">${[
    cell(
      'Gateway',
      `<a href="${esc(row.href)}">${esc(row.name)}</a> <span class="muted">${esc(row.hostname)}</span>`,
    ),
    cell('Facility', esc(row.facility)),
    cell('AE title', `<code>${esc(row.aeTitle)}</code>`),
    cell('Status', status),
    cell('Last seen', whenHtml(row.lastSeen, 'never')),
    cell('Spool backlog', esc(row.backlog)),
    cell('Oldest unsent', whenHtml(row.oldestUnsent, 'none')),
    cell('Throughput', esc(row.throughput)),
    cell('Last 24 h', sparkline),
    cell('Version', esc(row.version)),
    cell('Config', esc(row.config)),
  ].join('')}</tr>`;
}

const COLUMNS = [
  'Gateway',
  'Facility',
  'AE title',
  'Status',
  'Last seen',
  'Spool backlog',
  'Oldest unsent',
  'Throughput',
  'Last 24 h',
  'Version',
  'Config',
];

export function registerFleet(web: Hono<AppEnv>): void {
  registerFleetUpgrade(web);
  web.get('/fleet', requirePage({ admin: true }), async (c) => {
    const user = pageUser(c);
    const filters = filtersOf(c);
    const [update, facilities, served] = await Promise.all([
      fleetUpdate(c, filters),
      listFacilities({ ctx: ctxOf(c) }),
      servedReleaseVersion(c),
    ]);
    const filtered = filters.status !== undefined || filters.facilityId !== undefined;
    // On the page only, not in the live stream (which polls every second): a sparkline spans 24 hours.
    const sparks = await listFleetSparklines({
      ctx: ctxOf(c),
      input: { gatewayIds: update.gateways.map((r) => r.id) },
    });
    return c.html(
      <Layout title="Fleet" user={user} nav="fleet" scripts={['fleet.js']} styles={['fleet.css']}>
        <div data-live="fleet">
          <Counts counts={update.counts} />
          <form method="get" action="/fleet" class="filters" aria-label="Filter gateways">
            <div>
              <label for="fleet-status">Status</label>
              <select id="fleet-status" name="status">
                <option value="">All</option>
                {STATUSES.map((s) => (
                  <option value={s} selected={filters.status === s}>
                    {s}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label for="fleet-facility">Facility</label>
              <select id="fleet-facility" name="facility">
                <option value="">All facilities</option>
                {facilities.map((f) => (
                  <option value={f.id} selected={filters.facilityId === f.id}>
                    {f.name} ({f.aeTitle})
                  </option>
                ))}
              </select>
            </div>
            <div class="check">
              <input
                id="fleet-revoked"
                name="revoked"
                type="checkbox"
                value="1"
                checked={filters.includeRevoked === true}
              />
              <label for="fleet-revoked">Show revoked</label>
            </div>
            <div>
              <button type="submit">Filter</button>
            </div>
          </form>
          <p class="muted" id="fleet-live" role="status" data-live-status>
            {update.gateways.length} {update.gateways.length === 1 ? 'gateway' : 'gateways'} shown.
          </p>
          <StackTable label="Gateways" columns={COLUMNS} id="fleet-table" bodyId="fleet-rows">
            {raw(update.gateways.map((r) => fleetRowHtml(r, sparklineHtml(sparks.get(r.id) ?? []))).join(''))}
          </StackTable>
          <p id="fleet-empty" class="muted" hidden={update.gateways.length > 0}>
            {filtered
              ? 'No gateway matches these filters.'
              : 'No gateways yet. Create a facility and an enrollment token, then run the install command on the gateway machine.'}
          </p>
        </div>
        <FleetUpgrade user={user} facilities={facilities} served={served} outcome={c.req.query('upgrade')} />
      </Layout>,
    );
  });

  /**
   * The fleet, live: a `fleet` event with the counts and rows (under the page's filters) whenever they
   * changed, checked every second; a comment every 15 s keeps proxies from closing the stream. It ends
   * when the client goes away or the session expires (the browser then reconnects and is sent to sign in).
   */
  web.get('/fleet/events', requirePage({ admin: true }), (c) => {
    const user = pageUser(c);
    const filters = filtersOf(c);
    return streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined;
      stream.onAbort(() => wake?.());
      const sleep = (ms: number) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      let last = '';
      let lastWrite = Date.now();
      try {
        while (!stream.aborted && Date.now() < user.sessionExpiresAt.getTime()) {
          const data = JSON.stringify(await fleetUpdate(c, filters));
          if (stream.aborted) break;
          if (data !== last) {
            // The browser reconnects 3 s after a dropped stream.
            await stream.writeSSE({ event: 'fleet', data, ...(last === '' ? { retry: 3000 } : {}) });
            last = data;
            lastWrite = Date.now();
          } else if (Date.now() - lastWrite >= FLEET_HEARTBEAT_MS) {
            await stream.write(': heartbeat\n\n');
            lastWrite = Date.now();
          }
          await sleep(FLEET_TICK_MS);
        }
      } catch (err) {
        c.get('deps').log.error({ err, requestId: c.get('requestId') }, 'fleet live stream failed');
      }
    });
  });
}

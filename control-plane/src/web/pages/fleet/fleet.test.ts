import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../../../testkit/control-plane/harness.js';
import {
  condition,
  healthReport,
  seedGatewayStatus,
} from '../../../../../testkit/control-plane/seed-gateway-status.js';
import type { FleetUpdate } from './fleet.js';

/** The `<tr>` of a gateway in a fleet page, or undefined. */
function rowOf(html: string, gatewayId: string): string | undefined {
  const m = new RegExp(`<tr data-gateway-id="${gatewayId}">([\\s\\S]*?)</tr>`).exec(html);
  return m?.[1];
}

function countOf(html: string, key: string): string | undefined {
  return new RegExp(`<strong data-count="${key}">([^<]*)</strong>`).exec(html)?.[1];
}

/** Reads the first `fleet` event of /fleet/events, then hangs up. */
async function firstFleetEvent(
  t: TestApp,
  session: ConsoleSession,
  query = '',
): Promise<{ status: number; contentType: string | null; event: FleetUpdate }> {
  const abort = new AbortController();
  const res = await t.app.request(`http://ferry.test/fleet/events${query}`, {
    headers: { cookie: session.cookie },
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`stream ended before a fleet event: ${text}`);
      text += decoder.decode(value, { stream: true });
      const m = /event: fleet\ndata: (.*)\n/.exec(text);
      if (m?.[1])
        return { status: res.status, contentType: res.headers.get('content-type'), event: JSON.parse(m[1]) };
    }
  } finally {
    await reader.cancel();
    abort.abort();
  }
}

describe.each(BACKENDS)('fleet page (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let admin: ConsoleSession;
  let north: { facilityId: string; name: string; aeTitle: string };
  let south: { facilityId: string; name: string; aeTitle: string };
  let online: TestGateway;
  let degraded: TestGateway;
  let never: TestGateway;
  let revoked: TestGateway;
  let foreign: TestGateway;
  const oldest = new Date('2026-11-27T10:00:00.000Z');

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Fleet page group');
    other = await t.seedGroup('Fleet page other');
    north = await seedFacility(t, g, { name: 'North Clinic', aeTitle: 'NORTH' });
    south = await seedFacility(t, g, { name: 'South Clinic', aeTitle: 'SOUTH' });
    online = await enrollTestGateway(t, g, {
      facilityId: north.facilityId,
      hostname: 'gw-north-1',
      name: 'CT north',
    });
    await seedGatewayStatus(t.database.db, online.gatewayId, {
      status: 'online',
      health: healthReport({
        configVersion: 3,
        spool: {
          pendingCount: 12,
          pendingBytes: 3 * 1024 * 1024,
          pendingStudies: 2,
          oldestUnsentAt: oldest.toISOString(),
        },
        upload: { bytesPerSecond: 2048, objectsDelivered: 5, errors: 0, lastError: null },
      }),
    });
    degraded = await enrollTestGateway(t, g, { facilityId: south.facilityId, hostname: 'gw-south-1' });
    await seedGatewayStatus(t.database.db, degraded.gatewayId, {
      status: 'degraded',
      health: healthReport({ conditions: [condition('upload.stalled')] }),
    });
    never = await enrollTestGateway(t, g, { facilityId: south.facilityId, hostname: 'gw-south-new' });
    revoked = await enrollTestGateway(t, g, { facilityId: north.facilityId, hostname: 'gw-north-old' });
    await revoked.revoke();
    foreign = await enrollTestGateway(t, other, { hostname: 'gw-foreign' });
    await seedGatewayStatus(t.database.db, foreign.gatewayId, { status: 'online', health: healthReport() });
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows the counts and one row per gateway with its health numbers', async () => {
    const res = await consoleGet(t, '/fleet', admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Fleet · Ferry</title>');
    expect(res.html).toContain('<ul class="counts" aria-label="Gateways by status">');
    expect(countOf(res.html, 'online')).toBe('1');
    expect(countOf(res.html, 'degraded')).toBe('1');
    expect(countOf(res.html, 'offline')).toBe('1');
    expect(countOf(res.html, 'total')).toBe('3');
    expect(countOf(res.html, 'studiesWaiting')).toBe('2');
    expect(res.html).toContain(`<time datetime="${oldest.toISOString()}">2026-11-27 10:00 UTC</time>`);
    expect(res.html).toContain('aria-label="Gateways"');
    expect(res.html).toContain('<th scope="col">Spool backlog</th>');

    const row = rowOf(res.html, online.gatewayId);
    expect(row).toBeDefined();
    // The name links to the gateway; the host name beside it tells two gateways on one host apart.
    expect(row).toContain(
      `<a href="/gateways/${online.gatewayId}">CT north</a> <span class="muted">gw-north-1</span>`,
    );
    expect(row).toContain('North Clinic');
    expect(row).toContain('<code>NORTH</code>');
    expect(row).toContain('<span class="badge online" data-status="online">online</span>');
    expect(row).toContain('12 objects / 3 MiB');
    expect(row).toContain('2 KiB/s');
    expect(row).toContain('0.0.0-test');
    expect(row).toContain('v3 / none');
    expect(row).toContain('data-label="Last seen"');

    const fresh = rowOf(res.html, never.gatewayId);
    expect(fresh).toContain('data-status="offline"');
    expect(fresh).toContain('not reported');
    expect(rowOf(res.html, degraded.gatewayId)).toContain('data-status="degraded"');
    // Revoked ones are hidden unless asked for.
    expect(rowOf(res.html, revoked.gatewayId)).toBeUndefined();
    const all = await consoleGet(t, '/fleet?revoked=1', admin);
    expect(rowOf(all.html, revoked.gatewayId)).toContain('badge revoked');
  });

  it('filters by status and by facility', async () => {
    const byStatus = await consoleGet(t, '/fleet?status=degraded', admin);
    expect(rowOf(byStatus.html, degraded.gatewayId)).toBeDefined();
    expect(rowOf(byStatus.html, online.gatewayId)).toBeUndefined();
    expect(rowOf(byStatus.html, never.gatewayId)).toBeUndefined();
    expect(byStatus.html).toContain('<option value="degraded" selected="">degraded</option>');

    const offline = await consoleGet(t, '/fleet?status=offline', admin);
    expect(rowOf(offline.html, never.gatewayId)).toBeDefined();
    expect(rowOf(offline.html, online.gatewayId)).toBeUndefined();

    const byFacility = await consoleGet(t, `/fleet?facility=${south.facilityId}`, admin);
    expect(rowOf(byFacility.html, degraded.gatewayId)).toBeDefined();
    expect(rowOf(byFacility.html, never.gatewayId)).toBeDefined();
    expect(rowOf(byFacility.html, online.gatewayId)).toBeUndefined();
    expect(byFacility.html).toContain('<label for="fleet-facility">Facility</label>');
    expect(byFacility.html).toContain(
      `<option value="${south.facilityId}" selected="">South Clinic (SOUTH)</option>`,
    );

    const none = await consoleGet(t, `/fleet?facility=${north.facilityId}&status=degraded`, admin);
    expect(none.html).toMatch(/<p id="fleet-empty" class="muted">No gateway matches these filters.<\/p>/);
    expect(byFacility.html).toMatch(/<p id="fleet-empty" class="muted" hidden="">/);
    // A malformed filter is ignored, not a 500.
    const junk = await consoleGet(t, '/fleet?facility=nope&status=weird', admin);
    expect(junk.status).toBe(200);
    expect(rowOf(junk.html, online.gatewayId)).toBeDefined();
  });

  it("never shows another group's gateways or facilities", async () => {
    const res = await consoleGet(t, '/fleet?revoked=1', admin);
    expect(rowOf(res.html, foreign.gatewayId)).toBeUndefined();
    expect(res.html).not.toContain('gw-foreign');
    const theirs = await consoleGet(t, '/fleet', await signInConsole(t, other.admin));
    expect(rowOf(theirs.html, foreign.gatewayId)).toBeDefined();
    expect(rowOf(theirs.html, online.gatewayId)).toBeUndefined();
    expect(theirs.html).not.toContain('North Clinic');
    expect(countOf(theirs.html, 'total')).toBe('1');
  });

  it('is for admins: a reader gets a 403 page, a visitor the sign-in page', async () => {
    const reader = await signInConsole(t, g.reader);
    const page = await consoleGet(t, '/fleet', reader);
    expect(page.status).toBe(403);
    expect(page.html).toContain('this page is for group admins');
    expect(page.html).not.toContain('gw-north-1');
    const stream = await consoleGet(t, '/fleet/events', reader);
    expect(stream.status).toBe(403);
    const anonymous = await consoleGet(t, '/fleet');
    expect(anonymous.status).toBe(303);
    expect(anonymous.location).toBe('/login?next=%2Ffleet');
  });

  it('/fleet/events streams the counts and rows as a `fleet` event, under the same filters', async () => {
    const first = await firstFleetEvent(t, admin);
    expect(first.status).toBe(200);
    expect(first.contentType).toContain('text/event-stream');
    expect(first.event.counts).toMatchObject({
      online: 1,
      degraded: 1,
      offline: 1,
      total: 3,
      studiesWaiting: 2,
    });
    expect(first.event.counts.oldestUnsent?.iso).toBe(oldest.toISOString());
    const ids = first.event.gateways.map((r) => r.id);
    expect(ids).toHaveLength(3);
    expect(ids).toEqual(expect.arrayContaining([online.gatewayId, degraded.gatewayId, never.gatewayId]));
    expect(ids).not.toContain(foreign.gatewayId);
    const row = first.event.gateways.find((r) => r.id === online.gatewayId);
    expect(row).toMatchObject({
      name: 'CT north',
      hostname: 'gw-north-1',
      href: `/gateways/${online.gatewayId}`,
      facility: 'North Clinic',
      aeTitle: 'NORTH',
      status: 'online',
      backlog: '12 objects / 3 MiB',
      throughput: '2 KiB/s',
      config: 'v3 / none',
    });

    const filtered = await firstFleetEvent(t, admin, `?facility=${south.facilityId}&status=offline`);
    expect(filtered.event.gateways.map((r) => r.id)).toEqual([never.gatewayId]);
    // The counts stay the group's.
    expect(filtered.event.counts.total).toBe(3);
  });

  it('a gateway enrolled while the stream is open arrives in the next event', async () => {
    const abort = new AbortController();
    const res = await t.app.request('http://ferry.test/fleet/events', {
      headers: { cookie: admin.cookie },
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const events = (): FleetUpdate[] =>
      [...text.matchAll(/event: fleet\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!) as FleetUpdate);
    try {
      while (events().length < 1) text += decoder.decode((await reader.read()).value, { stream: true });
      const added = await enrollTestGateway(t, g, { facilityId: north.facilityId, hostname: 'gw-north-2' });
      await seedGatewayStatus(t.database.db, added.gatewayId, { status: 'online', health: healthReport() });
      while (events().length < 2) text += decoder.decode((await reader.read()).value, { stream: true });
      const [before, after] = events();
      expect(before!.gateways.map((r) => r.id)).not.toContain(added.gatewayId);
      expect(after!.gateways.find((r) => r.id === added.gatewayId)).toMatchObject({
        hostname: 'gw-north-2',
        status: 'online',
      });
      expect(after!.counts.online).toBe(2);
      await added.revoke();
    } finally {
      await reader.cancel();
      abort.abort();
    }
  });

  it('rows are escaped: a hostname with markup stays text', async () => {
    const odd = await enrollTestGateway(t, g, {
      facilityId: north.facilityId,
      hostname: 'gw-<b>"x"&\'y\'',
      name: 'odd <i>name</i>',
    });
    try {
      const res = await consoleGet(t, '/fleet', admin);
      const row = rowOf(res.html, odd.gatewayId);
      expect(row).toContain('>odd &lt;i&gt;name&lt;/i&gt;</a>');
      expect(row).toContain('>gw-&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;</span>');
      expect(res.html).not.toContain('<b>"x"');
    } finally {
      await odd.revoke();
    }
  });

  it('the page loads fleet.js, which opens the stream; no inline script', async () => {
    const res = await consoleGet(t, '/fleet', admin);
    expect(res.html).toContain('data-live="fleet"');
    expect(res.html).toContain('<script src="/assets/fleet.js" defer="">');
    expect(res.html).not.toMatch(/<script>(?!<\/script>)/);
    expect(res.html).not.toContain('style="');
    const js = await consoleGet(t, '/assets/fleet.js');
    expect(js.status).toBe(200);
    expect(js.html).toContain('new EventSource(`/fleet/events');
    expect(js.html).not.toContain('innerHTML');
  });
});

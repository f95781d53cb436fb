import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
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
  unknownId,
} from '../../../../../testkit/control-plane/harness.js';
import {
  condition,
  healthReport,
  seedGatewayEvent,
  seedGatewayStatus,
} from '../../../../../testkit/control-plane/seed-gateway-status.js';
import { configVersions, gatewayDiagnostics, gateways } from '../../../db/schema/index.js';
import { REVOKE_CONFIRM } from './gateway-page.js';

const PEERS = [
  { name: 'Main PACS', aeTitle: 'PACS', host: 'pacs.example.test', port: 11112, tls: false },
  { name: 'CT <1>', aeTitle: 'CT1', host: '10.1.2.3', port: 104, tls: true },
];

describe.each(BACKENDS)('gateway page (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let admin: ConsoleSession;
  let gw: TestGateway;
  let foreign: TestGateway;
  const since = new Date('2026-11-28T06:00:00.000Z');

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Gateway page group');
    other = await t.seedGroup('Gateway page other');
    const facility = await seedFacility(t, g, { name: 'East Imaging', aeTitle: 'EASTPACS' });
    gw = await enrollTestGateway(t, g, {
      facilityId: facility.facilityId,
      hostname: 'gw-east-1',
      name: 'East CT',
    });
    await t.database.db.insert(configVersions).values([
      { gatewayId: gw.gatewayId, version: 1, config: { aeTitle: 'EASTPACS', port: 104 } },
      { gatewayId: gw.gatewayId, version: 2, config: { aeTitle: 'EASTPACS', port: 11112, peers: PEERS } },
    ]);
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'degraded',
      statusSince: since,
      health: healthReport({
        agentVersion: '1.4.2',
        uptimeSeconds: 7260,
        configVersion: 1,
        conditions: [
          {
            code: 'upload.stalled',
            severity: 'error',
            message: 'No upload progress for 10 min',
            since: since.toISOString(),
          },
          condition('spool.disk_low', 'warning'),
        ],
      }),
      rejectedConfig: {
        version: 2,
        reason: 'port 11112 is in use <by another program>',
        at: since.toISOString(),
      },
    });
    await seedGatewayEvent(t.database.db, {
      groupId: g.groupId,
      gatewayId: gw.gatewayId,
      type: 'config.rejected',
      details: { version: 2 },
      at: new Date('2026-11-28T06:01:00.000Z'),
    });
    await seedGatewayEvent(t.database.db, {
      groupId: g.groupId,
      gatewayId: gw.gatewayId,
      type: 'channel.connected',
      at: new Date('2026-11-28T05:59:00.000Z'),
    });
    foreign = await enrollTestGateway(t, other, { hostname: 'gw-foreign' });
    admin = await signInConsole(t, g.admin);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows status, conditions, config desired vs applied with the rejection, and the events', async () => {
    const res = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Gateway East CT · Ferry</title>');
    for (const h of ['Status', 'Conditions', 'Config', 'Diagnostics', 'Events', 'Revoke'])
      expect(res.html).toMatch(new RegExp(`<h2 id="gw-[a-z]+">${h}</h2>`));
    expect(res.html).toContain('<span class="badge degraded" data-status="degraded">degraded</span>');
    expect(res.html).toContain(
      `<time datetime="${since.toISOString()}" title="${since.toISOString()}">2026-11-28 06:00 UTC</time>`,
    );
    expect(res.html).toContain('1.4.2');
    expect(res.html).toContain('2 h 1 min');
    expect(res.html).toContain('East Imaging (AE title <code>EASTPACS</code>)');
    // The latest heartbeat's numbers
    expect(res.html).toMatch(/<dd data-health="backlog">0 objects \/ 0 B in 0 studies<\/dd>/);
    expect(res.html).toContain('9.3 GiB free of 18.6 GiB');
    expect(res.html).toMatch(/listening as <code>TEST<\/code> on port 4104/);
    // Conditions
    expect(res.html).toContain('<code>upload.stalled</code>');
    expect(res.html).toContain('<span class="badge error">error</span>');
    expect(res.html).toContain('No upload progress for 10 min');
    expect(res.html).toContain('<span class="badge warning">warning</span>');
    // Config: desired v2, applied v1, v2 rejected with its reason (escaped)
    expect(res.html).toContain('<dd data-config="desired">v2</dd>');
    expect(res.html).toMatch(/<dd data-config="applied">v1/);
    expect(res.html).toContain('port 11112 is in use &lt;by another program&gt;');
    expect(res.html).toContain('<code>11112</code>');
    // Events, newest first, as an ordered list with times
    const timeline = /<ol class="timeline"[^>]*>([\s\S]*?)<\/ol>/.exec(res.html)?.[1] ?? '';
    expect(timeline.indexOf('config.rejected')).toBeGreaterThan(-1);
    expect(timeline.indexOf('config.rejected')).toBeLessThan(timeline.indexOf('channel.connected'));
    expect(timeline).toContain(
      '<time datetime="2026-11-28T06:01:00.000Z" title="2026-11-28T06:01:00.000Z">2026-11-28 06:01 UTC</time>',
    );
    // Diagnostics forms with labels, and the revoke form with its confirmation
    for (const label of ['Peer', 'Calling AE title', 'Lines'])
      expect(res.html).toMatch(new RegExp(`<label for="[a-z-]+">${label}</label>`));
    // The C-ECHO goes to a listed peer, chosen from a list: there is no host or port to type.
    expect(res.html).toContain(
      '<option value="Main PACS">Main PACS: PACS at pacs.example.test:11112</option>',
    );
    expect(res.html).toContain(
      '<option value="CT &lt;1&gt;">CT &lt;1&gt;: CT1 at 10.1.2.3:104 (TLS)</option>',
    );
    expect(res.html).not.toMatch(/name="(host|port|calledAeTitle)"/);
    expect(res.html).toContain('Run C-ECHO');
    expect(res.html).toContain('Run upload test');
    expect(res.html).toContain('Get log bundle');
    expect(res.html).toContain(`data-confirm="${REVOKE_CONFIRM}"`);
    expect(res.html).toContain('Revoke gateway');
  });

  it('shows the uplink as the uploads measured it when the gateway reports that estimate', async () => {
    const measured = await enrollTestGateway(t, g, { hostname: 'gw-link' });
    await seedGatewayStatus(t.database.db, measured.gatewayId, {
      status: 'online',
      statusSince: since,
      health: healthReport({
        compression: {
          mode: 'auto',
          coding: 'zstd',
          reason: 'slow_uplink',
          drainBytesPerSecond: null,
          lastDrainBytesPerSecond: 2_621_440,
          linkBytesPerSecond: 12_582_912,
          codecBytesPerSecond: null,
          byModality: [],
        },
      }),
    });
    const res = await consoleGet(t, `/gateways/${measured.gatewayId}`, admin);
    expect(res.html).toContain('<dd data-coding="link">12 MiB/s</dd>');
  });

  it('shows upload compression: the coding and why, the rates, and received, sent and ratio by modality', async () => {
    const coded = await enrollTestGateway(t, g, { hostname: 'gw-coded' });
    await seedGatewayStatus(t.database.db, coded.gatewayId, {
      status: 'online',
      statusSince: since,
      health: healthReport({
        compression: {
          mode: 'auto',
          coding: 'image',
          reason: 'uplink_slower_than_codec',
          drainBytesPerSecond: null,
          lastDrainBytesPerSecond: 2_621_440,
          codecBytesPerSecond: 41_943_040,
          byModality: [
            {
              modality: 'CT',
              instances: 200,
              rawBytes: 100 * 1024 * 1024,
              sealedBytes: 30 * 1024 * 1024,
              jpeglsFrames: 200,
              fallbackFrames: 3,
              codecMs: 2_500,
            },
            {
              modality: '<SR>',
              instances: 1,
              rawBytes: 10 * 1024,
              sealedBytes: 8 * 1024,
              jpeglsFrames: 0,
              fallbackFrames: 0,
              codecMs: 0,
            },
          ],
        },
      }),
    });
    const res = await consoleGet(t, `/gateways/${coded.gatewayId}`, admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<h2 id="gw-coding">Upload compression</h2>');
    expect(res.html).toContain('<dd data-coding="mode"><code>auto</code></dd>');
    expect(res.html).toContain(
      '<dd data-coding="choice">JPEG-LS pixels, zstd for the rest: the uplink is slower than the image codec</dd>',
    );
    expect(res.html).toContain('<dd data-coding="link">2.5 MiB/s when last busy</dd>');
    expect(res.html).toContain('<dd data-coding="codec">40 MiB/s</dd>');
    expect(res.html).toContain('<dd data-coding="total">100 MiB received, 30 MiB sent (3.3:1)</dd>');
    const ct = /<tr data-modality="CT">([\s\S]*?)<\/tr>/.exec(res.html)?.[1] ?? '';
    for (const cell of ['>200<', '>100 MiB<', '>30 MiB<', '>3.3:1<', '(3 fell back to zstd)', '>2.5 s<'])
      expect(ct).toContain(cell);
    // A modality is the gateway's text: escaped.
    expect(res.html).toContain('<tr data-modality="&lt;SR&gt;">');
    expect(res.html).not.toContain('<SR>');

    // An older agent does not report it, and the page leaves the section out.
    const older = await consoleGet(t, `/gateways/${gw.gatewayId}`, admin);
    expect(older.html).not.toContain('id="gw-coding"');
  });

  it('a gateway without status, config or events says so', async () => {
    const bare = await enrollTestGateway(t, g, { hostname: 'gw-bare' });
    const res = await consoleGet(t, `/gateways/${bare.gatewayId}`, admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('data-status="offline"');
    expect(res.html).toContain('No conditions');
    expect(res.html).toContain('No desired config yet.');
    expect(res.html).toContain('No events yet');
    expect(res.html).toContain('This gateway lists no DICOM peers.');
    expect(res.html).not.toContain('id="echo-peer"');
  });

  it("another group's gateway, an unknown one and a malformed id are a 404 page", async () => {
    for (const id of [foreign.gatewayId, unknownId(), 'not-a-uuid']) {
      const res = await consoleGet(t, `/gateways/${id}`, admin);
      expect(res.status).toBe(404);
      expect(res.html).toContain('<h1>Not found</h1>');
      expect(res.html).not.toContain('gw-foreign');
    }
    const revoke = await consolePost(t, `/gateways/${foreign.gatewayId}/revoke`, admin);
    expect(revoke.status).toBe(404);
    const [row] = await t.database.db.select().from(gateways).where(eq(gateways.id, foreign.gatewayId));
    expect(row?.revokedAt).toBeNull();
  });

  it('is for admins: a reader gets a 403 page', async () => {
    const reader = await signInConsole(t, g.reader);
    const res = await consoleGet(t, `/gateways/${gw.gatewayId}`, reader);
    expect(res.status).toBe(403);
    expect(res.html).not.toContain('gw-east-1');
    const revoke = await consolePost(t, `/gateways/${gw.gatewayId}/revoke`, reader);
    expect(revoke.status).toBe(403);
  });

  it('diagnostics on an offline gateway re-render the page with the reason (409)', async () => {
    const res = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/echo`, admin, {
      peer: 'CT <1>',
      callingAeTitle: '',
    });
    expect(res.status).toBe(409);
    expect(res.html).toContain('role="alert"');
    expect(res.html).toContain('has no live control channel; try again when it is online');
    expect(res.html).toContain('<option value="CT &lt;1&gt;" selected="">');
    for (const kind of ['upload-test', 'logs']) {
      const other = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/${kind}`, admin, {
        lines: '50',
      });
      expect(other.status).toBe(409);
      expect(other.html).toContain('has no live control channel');
    }
    expect(await t.database.db.select().from(gatewayDiagnostics)).toHaveLength(0);
  });

  it('a bad C-ECHO form re-renders with what is wrong, field by field', async () => {
    const res = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/echo`, admin, {
      peer: '',
      callingAeTitle: 'WAY-TOO-LONG-AE-TITLE',
    });
    expect(res.status).toBe(400);
    expect(res.html).toMatch(/id="echo-peer-error" role="alert">Choose one of the listed peers\.</);
    expect(res.html).toMatch(/id="echo-calling-error" role="alert">AE title [^<]+</);
    expect(res.html).toContain('value="WAY-TOO-LONG-AE-TITLE"');
    const lines = await consolePost(t, `/gateways/${gw.gatewayId}/diagnostics/logs`, admin, { lines: '0' });
    expect(lines.status).toBe(400);
    expect(lines.html).toContain('Lines must be a whole number from 1 to 5000.');
  });

  it('shows a pending diagnostic (refreshing) and a finished one with its escaped log lines', async () => {
    const [pending] = await t.database.db
      .insert(gatewayDiagnostics)
      .values({
        groupId: g.groupId,
        gatewayId: gw.gatewayId,
        request: { kind: 'echo', host: 'pacs.local', port: 104 },
        expiresAt: new Date(Date.now() + 60_000),
      })
      .returning({ id: gatewayDiagnostics.id });
    const wait = await consoleGet(t, `/gateways/${gw.gatewayId}/diagnostics/${pending!.id}`, admin);
    expect(wait.status).toBe(200);
    expect(wait.html).toContain('<title>Diagnostic · Ferry</title>');
    expect(wait.html).toContain('data-refresh-seconds="2"');
    expect(wait.html).toContain('C-ECHO to ANY-SCP at pacs.local:104');
    expect(wait.html).toContain('data-state="pending"');

    const [done] = await t.database.db
      .insert(gatewayDiagnostics)
      .values({
        groupId: g.groupId,
        gatewayId: gw.gatewayId,
        request: { kind: 'logs', lines: 2 },
        state: 'done',
        result: {
          ok: true,
          summary: '2 log lines',
          details: { lines: [{ msg: 'listening' }, { msg: '<script>alert(1)</script>' }] },
        },
        completedAt: new Date(),
        expiresAt: new Date(Date.now() + 60_000),
      })
      .returning({ id: gatewayDiagnostics.id });
    const res = await consoleGet(t, `/gateways/${gw.gatewayId}/diagnostics/${done!.id}`, admin);
    expect(res.status).toBe(200);
    expect(res.html).not.toContain('data-refresh-seconds');
    expect(res.html).toContain('data-result="ok"');
    expect(res.html).toContain('2 log lines');
    expect(res.html).toContain('<pre id="diag-lines">');
    expect(res.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.html).not.toContain('<script>alert(1)');

    const theirs = await consoleGet(
      t,
      `/gateways/${gw.gatewayId}/diagnostics/${done!.id}`,
      await signInConsole(t, other.admin),
    );
    expect(theirs.status).toBe(404);
  });

  it('revoke needs the CSRF token, then revokes and says so', async () => {
    const target = await enrollTestGateway(t, g, { hostname: 'gw-to-revoke' });
    const forged = await consolePost(t, `/gateways/${target.gatewayId}/revoke`, {
      cookie: admin.cookie,
      csrf: 'forged',
    });
    expect(forged.status).toBe(403);
    const [still] = await t.database.db.select().from(gateways).where(eq(gateways.id, target.gatewayId));
    expect(still?.revokedAt).toBeNull();

    const ok = await consolePost(t, `/gateways/${target.gatewayId}/revoke`, admin);
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`/gateways/${target.gatewayId}?notice=revoked`);
    const [row] = await t.database.db.select().from(gateways).where(eq(gateways.id, target.gatewayId));
    expect(row?.revokedAt).toBeInstanceOf(Date);
    const page = await consoleGet(t, ok.location!, admin);
    expect(page.html).toContain('Gateway revoked');
    expect(page.html).toContain('<span class="badge revoked">revoked</span>');
    expect(page.html).not.toContain('Revoke gateway</button>');
    // A revoked gateway cannot run diagnostics either.
    const diag = await consolePost(t, `/gateways/${target.gatewayId}/diagnostics/upload-test`, admin);
    expect(diag.status).toBe(409);
  });
});

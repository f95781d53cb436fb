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
  type SeededGroup,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { auditLog } from '../../../db/schema/index.js';

function rowCount(html: string): number {
  return html.match(/<td data-label="When">/g)?.length ?? 0;
}

function olderLink(html: string): string | undefined {
  const m = /<a href="(\/audit\?[^"]*)">Older entries<\/a>/.exec(html);
  return m?.[1]?.replace(/&amp;/g, '&');
}

describe.each(BACKENDS)('console audit log (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let admin: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Audit A');
    b = await t.seedGroup('Audit B');
    admin = await signInConsole(t, a.admin);
    const bAdmin = await signInConsole(t, b.admin);
    await consolePost(t, '/facilities', admin, {
      name: '<script>alert(1)</script> Site',
      aeTitle: 'AUDITSITE',
      stablePeriodSeconds: '60',
    });
    await consolePost(t, '/facilities', bAdmin, {
      name: 'B secret site',
      aeTitle: 'BSECRET',
      stablePeriodSeconds: '60',
    });
    const bulk = Array.from({ length: 60 }, (_, i) => ({
      groupId: a.groupId,
      actorType: 'system' as const,
      action: 'test.bulk',
      targetType: 'study',
      targetId: `bulk-${i}`,
      details: { n: i },
    }));
    await t.database.db.insert(auditLog).values(bulk);
    await t.database.db.insert(auditLog).values({
      groupId: a.groupId,
      actorType: 'user',
      actorId: a.admin.id,
      action: 'test.old',
      targetType: 'webhook',
      targetId: 'old-one',
      at: new Date('2020-01-15T12:00:00Z'),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("shows the group's entries, newest first, with who did it and escaped details; never another group's", async () => {
    const res = await consoleGet(t, '/audit?action=facility.create', admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Audit log · Ferry</title>');
    expect(res.html).toContain('aria-label="Audit log"');
    expect(rowCount(res.html)).toBe(1);
    expect(res.html).toContain(`<td data-label="Who"><span>${a.admin.email}</span></td>`);
    expect(res.html).toContain('<code>facility.create</code>');
    expect(res.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Site');
    expect(res.html).not.toContain('<script>alert(1)');
    expect(res.html).toMatch(
      /<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</,
    );
    expect(res.html).not.toContain('B secret site');
    const all = await consoleGet(t, '/audit', admin);
    expect(all.html).not.toContain('BSECRET');
    expect(all.html).not.toContain(b.admin.email);
  });

  it('filters by action, target type and dates', async () => {
    const unfiltered = await consoleGet(t, '/audit', admin);
    expect(unfiltered.html).toContain('<label for="action">Action</label>');
    expect(unfiltered.html).toContain('<label for="targetType">Target type</label>');
    expect(unfiltered.html).toContain('<label for="from">From</label>');
    expect(unfiltered.html).toContain('<label for="to">To</label>');
    expect(unfiltered.html).toContain('<button type="submit">Filter</button>');
    expect(unfiltered.html).toContain('<code>test.bulk</code>');

    const byAction = await consoleGet(t, '/audit?action=test.old', admin);
    expect(rowCount(byAction.html)).toBe(1);
    expect(byAction.html).toContain('old-one');
    expect(byAction.html).toContain('value="test.old"');
    expect(byAction.html).not.toContain('test.bulk');

    const byTarget = await consoleGet(t, '/audit?targetType=webhook', admin);
    expect(rowCount(byTarget.html)).toBe(1);
    expect(byTarget.html).toContain('<option value="webhook" selected="">webhook</option>');

    const inDay = await consoleGet(t, '/audit?from=2020-01-15&to=2020-01-15', admin);
    expect(rowCount(inDay.html)).toBe(1);
    expect(inDay.html).toContain(
      '<time datetime="2020-01-15T12:00:00.000Z" title="2020-01-15T12:00:00.000Z">2020-01-15 12:00 UTC</time>',
    );
    const before = await consoleGet(t, '/audit?to=2020-01-14', admin);
    expect(rowCount(before.html)).toBe(0);
    expect(before.html).toContain('No entries match these filters.');
    const after = await consoleGet(t, '/audit?from=2020-01-16&action=test.old', admin);
    expect(rowCount(after.html)).toBe(0);
    // Days are the viewer's (tz, minutes east of UTC, as the page script sends it): 12:00 UTC is
    // already the 16th at UTC+12, and the filters are typed as the table writes dates.
    const east = await consoleGet(t, '/audit?from=2020-01-16&to=2020-01-16&tz=720&action=test.old', admin);
    expect(rowCount(east.html)).toBe(1);
    expect(east.html).toContain('<input type="hidden" name="tz" value="720" data-tz=""/>');
    expect(east.html).toMatch(
      /<input type="text" id="from" name="from" value="2020-01-16"[^>]*placeholder="YYYY-MM-DD"/,
    );
    expect(rowCount((await consoleGet(t, '/audit?to=2020-01-15&tz=720&action=test.old', admin)).html)).toBe(
      0,
    );
  });

  it('a malformed date says why', async () => {
    const res = await consoleGet(t, '/audit?from=15.01.2020', admin);
    expect(res.status).toBe(400);
    expect(res.html).toContain(
      '<p class="field-error" id="from-error" role="alert">From must be a date like 2026-11-28</p>',
    );
    expect(res.html).toMatch(/id="from"[^>]*aria-invalid="true"/);
  });

  it('pages with the cursor: "Older entries" keeps the filters', async () => {
    const first = await consoleGet(t, '/audit?action=test.bulk', admin);
    expect(rowCount(first.html)).toBe(50);
    expect(first.html).toContain('bulk-59');
    expect(first.html).not.toContain('bulk-9<');
    const next = olderLink(first.html);
    expect(next).toMatch(/^\/audit\?action=test.bulk&before=\d+$/);
    const second = await consoleGet(t, next!, admin);
    expect(rowCount(second.html)).toBe(10);
    expect(second.html).toContain('bulk-0<');
    expect(second.html).not.toContain('bulk-59');
    expect(olderLink(second.html)).toBeUndefined();
  });

  it('readers get a 403 page', async () => {
    const reader = await signInConsole(t, a.reader);
    const res = await consoleGet(t, '/audit', reader);
    expect(res.status).toBe(403);
    expect(res.html).not.toContain('aria-label="Audit log"');
  });
});

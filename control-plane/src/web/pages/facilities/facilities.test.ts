import { readFileSync } from 'node:fs';
import { aeTitleProblem } from '@ferry/shared';
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
  unknownId,
} from '../../../../../testkit/control-plane/harness.js';
import { enrollmentTokens, facilities } from '../../../db/schema/index.js';
import { hashEnrollmentToken } from '../../../services/enrollment-token-secret.js';

function decode(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The text of the <FieldError> under a field, decoded. */
function fieldError(html: string, id: string): string | undefined {
  const m = new RegExp(`<p class="field-error" id="${id}-error" role="alert">([^<]*)</p>`).exec(html);
  return m?.[1] === undefined ? undefined : decode(m[1]);
}

function installCommandIn(html: string): string | undefined {
  const m = /<pre id="install-command">([^<]*)<\/pre>/.exec(html);
  return m?.[1] === undefined ? undefined : decode(m[1]);
}

describe.each(BACKENDS)('console facilities and enrollment tokens (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let admin: ConsoleSession;
  let reader: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Facilities A');
    b = await t.seedGroup('Facilities B');
    admin = await signInConsole(t, a.admin);
    reader = await signInConsole(t, a.reader);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists the group's facilities with their gateway counts, never another group's", async () => {
    const mine = await seedFacility(t, a, { name: 'Radiology North', aeTitle: 'RADNORTH' });
    await enrollTestGateway(t, { groupId: a.groupId, facilityId: mine.facilityId });
    const theirs = await seedFacility(t, b, { name: 'Other Group Clinic', aeTitle: 'OTHERCLINIC' });
    const res = await consoleGet(t, '/facilities', admin);
    expect(res.status).toBe(200);
    expect(res.html).toContain('<title>Facilities · Ferry</title>');
    expect(res.html).toContain('aria-label="Facilities"');
    expect(res.html).toContain('<a class="button" href="/facilities/new">New facility</a>');
    expect(res.html).toContain(`<a href="/facilities/${mine.facilityId}">Radiology North</a>`);
    expect(res.html).toMatch(/<td data-label="Gateways">1<\/td>/);
    expect(res.html).not.toContain('Other Group Clinic');
    const other = await consoleGet(t, `/facilities/${theirs.facilityId}`, admin);
    expect(other.status).toBe(404);
    expect(other.html).toContain('Not found');
    expect((await consoleGet(t, `/facilities/${unknownId()}`, admin)).status).toBe(404);
    expect((await consoleGet(t, '/facilities/not-a-uuid', admin)).status).toBe(404);
  });

  it('readers get a 403 page on every facilities page and form', async () => {
    const f = await seedFacility(t, a);
    for (const path of ['/facilities', '/facilities/new', `/facilities/${f.facilityId}`]) {
      const res = await consoleGet(t, path, reader);
      expect(res.status, path).toBe(403);
      expect(res.html, path).toContain('this page is for group admins');
    }
    const post = await consolePost(t, '/facilities', reader, { name: 'Reader made', aeTitle: 'READERMADE' });
    expect(post.status).toBe(403);
    const rows = await t.database.db.select().from(facilities).where(eq(facilities.aeTitle, 'READERMADE'));
    expect(rows).toHaveLength(0);
  });

  it('creates a facility and redirects to it with a notice', async () => {
    const form = await consoleGet(t, '/facilities/new', admin);
    expect(form.html).toContain('<label for="aeTitle">AE title</label>');
    expect(form.html).toContain('<label for="stablePeriodSeconds">Stable period (seconds)</label>');
    expect(form.html).toMatch(/id="stablePeriodSeconds"[^>]*value="60"/);
    expect(form.html).toContain('/assets/facilities.js');
    const res = await consolePost(t, '/facilities', admin, {
      name: 'Cardiology',
      aeTitle: ' CARDIO ',
      stablePeriodSeconds: '90',
    });
    expect(res.status).toBe(303);
    const [row] = await t.database.db.select().from(facilities).where(eq(facilities.name, 'Cardiology'));
    expect(row).toMatchObject({ groupId: a.groupId, aeTitle: 'CARDIO', stablePeriodSeconds: 90 });
    expect(res.location).toBe(`/facilities/${row!.id}?notice=created`);
    const page = await consoleGet(t, res.location!, admin);
    expect(page.html).toContain('<title>Cardiology · Ferry</title>');
    expect(page.html).toContain('Facility created');
  });

  it('an invalid AE title re-renders the form with the API reason, the values kept', async () => {
    for (const aeTitle of ['ABCDEFGHIJKLMNOPQ', '   ', 'BAD\\TITLE', 'ÄRZTE']) {
      const api = await t.request<{ error: { message: string } }>('POST', '/api/v1/facilities', {
        token: a.admin.token,
        body: { name: 'Invalid one', aeTitle },
      });
      expect(api.status).toBe(400);
      const res = await consolePost(t, '/facilities', admin, {
        name: 'Invalid one',
        aeTitle,
        stablePeriodSeconds: '60',
      });
      expect(res.status, aeTitle).toBe(400);
      const shown = fieldError(res.html, 'aeTitle');
      expect(shown, aeTitle).toBeDefined();
      expect(api.body.error.message).toBe(`aeTitle: ${shown}`);
      expect(res.html).toMatch(/id="aeTitle"[^>]*aria-invalid="true"/);
      expect(res.html).toMatch(/id="aeTitle"[^>]*aria-describedby="aeTitle-hint aeTitle-error"/);
      expect(res.html).toContain('value="Invalid one"');
    }
    const long = await consolePost(t, '/facilities', admin, { name: 'X', aeTitle: 'ABCDEFGHIJKLMNOPQ' });
    expect(fieldError(long.html, 'aeTitle')).toBe('AE title must be at most 16 characters (got 17)');
    const rows = await t.database.db.select().from(facilities).where(eq(facilities.name, 'Invalid one'));
    expect(rows).toHaveLength(0);
  });

  it('a duplicate AE title in the group is refused with a clear message; another group may use it', async () => {
    await seedFacility(t, a, { name: 'Holder', aeTitle: 'DUPTITLE' });
    const res = await consolePost(t, '/facilities', admin, {
      name: 'Second',
      aeTitle: 'DUPTITLE',
      stablePeriodSeconds: '60',
    });
    expect(res.status).toBe(409);
    expect(fieldError(res.html, 'aeTitle')).toBe('AE title "DUPTITLE" is already used by facility "Holder"');
    const bAdmin = await signInConsole(t, b.admin);
    const ok = await consolePost(t, '/facilities', bAdmin, {
      name: 'B holder',
      aeTitle: 'DUPTITLE',
      stablePeriodSeconds: '60',
    });
    expect(ok.status).toBe(303);
  });

  it('a bad name or stable period says why', async () => {
    const res = await consolePost(t, '/facilities', admin, {
      name: '  ',
      aeTitle: 'NAMELESS',
      stablePeriodSeconds: '60',
    });
    expect(res.status).toBe(400);
    expect(fieldError(res.html, 'name')).toBe('Name must not be empty');
    const sp = await consolePost(t, '/facilities', admin, {
      name: 'Slow',
      aeTitle: 'SLOW',
      stablePeriodSeconds: 'soon',
    });
    expect(sp.status).toBe(400);
    expect(fieldError(sp.html, 'stablePeriodSeconds')).toBe(
      'Stable period must be a whole number from 1 to 86400 seconds',
    );
  });

  it('says plainly that any machine can store to the facility while its effective allow-list is empty', async () => {
    const grp = await t.seedGroup('Allow-list group');
    const groupAdmin = await signInConsole(t, grp.admin);
    const f = await seedFacility(t, grp, { aeTitle: 'OPENDOOR' });
    const page = () => consoleGet(t, `/facilities/${f.facilityId}`, groupAdmin).then((r) => r.html);
    const OPEN =
      /<p class="notice bad" id="open-to-any-caller">Any machine on the network can store images to this facility&#39;s gateways/;
    expect(await page()).toMatch(OPEN);

    // The group's allow-list reaches the facility.
    const put = await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: { allowedCallingAeTitles: ['CT1', 'MR1'] },
    });
    expect(put.status, put.text).toBe(200);
    let html = await page();
    expect(html).not.toMatch(OPEN);
    expect(html).toContain(
      'Only these calling AE titles can store to this facility&#39;s gateways: <code>CT1</code>, <code>MR1</code>.',
    );

    // The facility's own (empty) list wins over the group's: open again.
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { allowedCallingAeTitles: [] } },
    });
    html = await page();
    expect(html).toMatch(OPEN);
  });

  it("says what user identity senders must give to store, the facility's requirement over the group's", async () => {
    const grp = await t.seedGroup('Identity page group');
    const groupAdmin = await signInConsole(t, grp.admin);
    const f = await seedFacility(t, grp, { aeTitle: 'IDPAGE' });
    const line = async () =>
      /<p id="user-identity">([^<]*)<\/p>/.exec(
        (await consoleGet(t, `/facilities/${f.facilityId}`, groupAdmin)).html,
      )?.[1];
    expect(await line()).toBe('Senders need no DICOM user identity to store (userIdentity).');
    const hash = `scrypt$32768$8$1$${'s'.repeat(22)}$${'k'.repeat(43)}`;
    const users = [
      { username: 'ct1', passwordHash: hash },
      { username: 'mr1', passwordHash: hash },
    ];
    const put = await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: { userIdentity: { require: 'username-password', users } },
    });
    expect(put.status, put.text).toBe(200);
    expect(await line()).toBe('Senders must give a DICOM username and password to store (users: ct1, mr1).');
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { userIdentity: { require: 'username', usernames: ['US1'] } } },
    });
    expect(await line()).toBe('Senders must give one of these DICOM usernames to store: US1.');
  });

  it("says how long storage commitment waits for the cloud, the facility's setting over the group's", async () => {
    const grp = await t.seedGroup('Commitment page group');
    const groupAdmin = await signInConsole(t, grp.admin);
    const f = await seedFacility(t, grp, { aeTitle: 'SCPAGE' });
    const minutes = async () =>
      /<p id="storage-commitment">[^<]* (\d+) minutes after/.exec(
        (await consoleGet(t, `/facilities/${f.facilityId}`, groupAdmin)).html,
      )?.[1];
    expect(await minutes()).toBe('240');
    const put = await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: { storageCommitment: { maxWaitMinutes: 90 } },
    });
    expect(put.status, put.text).toBe(200);
    expect(await minutes()).toBe('90');
    await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { storageCommitment: { maxWaitMinutes: 30 } } },
    });
    expect(await minutes()).toBe('30');
    const bad = await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: { storageCommitment: { maxWaitMinutes: 0 } },
    });
    expect(bad.status).toBe(400);
  });

  it('edits a facility; a refused edit re-renders with the reason', async () => {
    const f = await seedFacility(t, a, { name: 'To edit', aeTitle: 'TOEDIT' });
    const bad = await consolePost(t, `/facilities/${f.facilityId}`, admin, {
      name: 'Edited',
      aeTitle: 'WAY TOO LONG AE TITLE',
      stablePeriodSeconds: '60',
    });
    expect(bad.status).toBe(400);
    expect(fieldError(bad.html, 'aeTitle')).toBe('AE title must be at most 16 characters (got 21)');
    expect(bad.html).toContain('value="Edited"');
    const ok = await consolePost(t, `/facilities/${f.facilityId}`, admin, {
      name: 'Edited',
      aeTitle: 'EDITED',
      stablePeriodSeconds: '120',
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`/facilities/${f.facilityId}?notice=saved`);
    const [row] = await t.database.db.select().from(facilities).where(eq(facilities.id, f.facilityId));
    expect(row).toMatchObject({ name: 'Edited', aeTitle: 'EDITED', stablePeriodSeconds: 120 });
    const theirs = await seedFacility(t, b, { name: 'B edit target' });
    const cross = await consolePost(t, `/facilities/${theirs.facilityId}`, admin, {
      name: 'Hijacked',
      aeTitle: 'HIJACK',
      stablePeriodSeconds: '60',
    });
    expect(cross.status).toBe(404);
    const [still] = await t.database.db.select().from(facilities).where(eq(facilities.id, theirs.facilityId));
    expect(still!.name).toBe('B edit target');
  });

  it('deletes a facility without gateways; one with an active gateway shows why not', async () => {
    const busy = await seedFacility(t, a, { name: 'Busy site' });
    await enrollTestGateway(t, { groupId: a.groupId, facilityId: busy.facilityId });
    const refused = await consolePost(t, `/facilities/${busy.facilityId}/delete`, admin);
    expect(refused.status).toBe(409);
    expect(decode(refused.html)).toContain(
      'Not deleted: facility "Busy site" still has 1 active gateway; revoke it first.',
    );
    const page = await consoleGet(t, `/facilities/${busy.facilityId}`, admin);
    expect(page.html).toContain('data-confirm=');
    expect(page.html).toMatch(/<button type="submit" class="danger">Delete facility<\/button>/);
    const idle = await seedFacility(t, a, { name: 'Idle site' });
    const ok = await consolePost(t, `/facilities/${idle.facilityId}/delete`, admin);
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/facilities?notice=deleted');
    expect(
      await t.database.db.select().from(facilities).where(eq(facilities.id, idle.facilityId)),
    ).toHaveLength(0);
  });

  it('POSTs without the CSRF token are refused and change nothing', async () => {
    const f = await seedFacility(t, a, { name: 'Guarded', aeTitle: 'GUARDED' });
    const forged = { cookie: admin.cookie, csrf: 'forged' };
    expect((await consolePost(t, '/facilities', forged, { name: 'Forged', aeTitle: 'FORGED' })).status).toBe(
      403,
    );
    expect(
      (
        await consolePost(t, `/facilities/${f.facilityId}`, forged, {
          name: 'Renamed',
          aeTitle: 'RENAMED',
          stablePeriodSeconds: '60',
        })
      ).status,
    ).toBe(403);
    expect((await consolePost(t, `/facilities/${f.facilityId}/delete`, forged)).status).toBe(403);
    expect(
      (
        await consolePost(t, `/facilities/${f.facilityId}/enrollment-tokens`, forged, {
          expiresInHours: '24',
          maxUses: '1',
        })
      ).status,
    ).toBe(403);
    const [row] = await t.database.db.select().from(facilities).where(eq(facilities.id, f.facilityId));
    expect(row!.name).toBe('Guarded');
    expect(await t.database.db.select().from(facilities).where(eq(facilities.name, 'Forged'))).toHaveLength(
      0,
    );
    expect(
      await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.facilityId, f.facilityId)),
    ).toHaveLength(0);
  });

  it('creates a token and shows its install command once, in the API format; revoke works', async () => {
    const f = await seedFacility(t, a, { name: 'Token site', aeTitle: 'TOKENSITE' });
    const page = await consoleGet(t, `/facilities/${f.facilityId}`, admin);
    expect(page.html).toContain('<label for="expiresInHours">Expires in (hours)</label>');
    expect(page.html).toMatch(/id="expiresInHours"[^>]*value="24"/);
    expect(page.html).toMatch(/id="maxUses"[^>]*value="1"/);
    expect(page.html).not.toContain('id="install-command"');

    const created = await consolePost(t, `/facilities/${f.facilityId}/enrollment-tokens`, admin, {
      expiresInHours: '48',
      maxUses: '3',
    });
    expect(created.status).toBe(200);
    expect(created.html).toContain('Install command');
    expect(created.html).toContain('data-copy="install-command"');
    expect(created.html).toContain('Copy install command');
    expect(created.html).toContain('shown only once');
    const command = installCommandIn(created.html);
    expect(command).toBeDefined();
    const token = /printf %s (fet_[\w-]+) \| sudo \.\/install\.sh /.exec(command!)?.[1];
    expect(token).toBeDefined();
    expect(command).not.toContain('npx');
    expect(command).not.toContain('--token ');

    const api = await t.request<{ installCommand: string; token: string; keyThumbprint: string }>(
      'POST',
      `/api/v1/facilities/${f.facilityId}/enrollment-tokens`,
      { token: a.admin.token, body: {} },
    );
    expect(api.status).toBe(201);
    expect(command).toBe(api.body.installCommand.replace(api.body.token, token!));
    // One line, one copy box: the release download, its check and install.sh together.
    expect(created.html.match(/<pre\b/g)).toHaveLength(1);
    expect(created.html.match(/data-copy=/g)).toHaveLength(1);
    expect(created.html).toContain(`<code id="key-thumbprint">${api.body.keyThumbprint}</code>`);
    expect(command).toContain(`--key-thumbprint ${api.body.keyThumbprint}`);

    const [row] = await t.database.db
      .select()
      .from(enrollmentTokens)
      .where(eq(enrollmentTokens.tokenHash, hashEnrollmentToken(token!)));
    expect(row).toMatchObject({ facilityId: f.facilityId, maxUses: 3, uses: 0, revokedAt: null });
    const hours = (row!.expiresAt.getTime() - row!.createdAt.getTime()) / 3_600_000;
    expect(hours).toBeGreaterThan(47.9);
    expect(hours).toBeLessThan(48.1);

    const again = await consoleGet(t, `/facilities/${f.facilityId}`, admin);
    expect(again.html).not.toContain('id="install-command"');
    expect(again.html).not.toContain(token!);
    expect(again.html).toContain('aria-label="Enrollment tokens"');
    expect(again.html).toContain(row!.id.slice(0, 8));
    expect(again.html).toContain('3 of 3');
    expect(again.html).toContain(`/enrollment-tokens/${row!.id}/revoke`);

    const revoked = await consolePost(
      t,
      `/facilities/${f.facilityId}/enrollment-tokens/${row!.id}/revoke`,
      admin,
    );
    expect(revoked.status).toBe(303);
    expect(revoked.location).toBe(`/facilities/${f.facilityId}?notice=token-revoked`);
    const [after] = await t.database.db
      .select()
      .from(enrollmentTokens)
      .where(eq(enrollmentTokens.id, row!.id));
    expect(after!.revokedAt).not.toBeNull();
    const listed = await consoleGet(t, revoked.location!, admin);
    expect(listed.html).toContain('Enrollment token revoked');
    expect(listed.html).toContain('>revoked</span>');
    expect(listed.html).not.toContain(`/enrollment-tokens/${row!.id}/revoke`);
  });

  it('token form values out of range are refused with the reason', async () => {
    const f = await seedFacility(t, a);
    const res = await consolePost(t, `/facilities/${f.facilityId}/enrollment-tokens`, admin, {
      expiresInHours: '0',
      maxUses: 'many',
    });
    expect(res.status).toBe(400);
    expect(fieldError(res.html, 'expiresInHours')).toBe(
      'Expires in must be a whole number of hours from 1 to 720 (30 days)',
    );
    expect(fieldError(res.html, 'maxUses')).toBe('Uses must be a whole number from 1 to 1000');
    expect(res.html).not.toContain('id="install-command"');
    expect(
      await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.facilityId, f.facilityId)),
    ).toHaveLength(0);
  });

  it("another group's facility or token cannot be given tokens or revoked", async () => {
    const theirs = await seedFacility(t, b);
    const res = await consolePost(t, `/facilities/${theirs.facilityId}/enrollment-tokens`, admin, {
      expiresInHours: '24',
      maxUses: '1',
    });
    expect(res.status).toBe(404);
    expect(res.html).not.toContain('id="install-command"');
    const bToken = await t.request<{ id: string }>(
      'POST',
      `/api/v1/facilities/${theirs.facilityId}/enrollment-tokens`,
      {
        token: b.admin.token,
        body: {},
      },
    );
    const mine = await seedFacility(t, a);
    const cross = await consolePost(
      t,
      `/facilities/${mine.facilityId}/enrollment-tokens/${bToken.body.id}/revoke`,
      admin,
    );
    expect(cross.status).toBe(404);
    const [row] = await t.database.db
      .select()
      .from(enrollmentTokens)
      .where(eq(enrollmentTokens.id, bToken.body.id));
    expect(row!.revokedAt).toBeNull();
  });
});

describe('console enrollment token on a control plane without an agent release', () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it('says why there is no install command and shows the token once, with the key thumbprint', async () => {
    t = await createTestApp('pglite', { agentReleaseFile: `/nonexistent/${unknownId()}.tar.gz` });
    const g = await t.seedGroup('No release');
    const admin = await signInConsole(t, g.admin);
    const { facilityId } = await seedFacility(t, g, { name: 'Radiology', aeTitle: 'RAD' });
    const created = await consolePost(t, `/facilities/${facilityId}/enrollment-tokens`, admin, {
      expiresInHours: '1',
      maxUses: '1',
    });
    expect(created.status).toBe(200);
    expect(created.html).not.toContain('id="install-command"');
    expect(created.html).toContain('agent_release.missing');
    expect(created.html).toContain('npm run bundle:agent');
    expect(created.html).not.toContain('/nonexistent/');
    const token = /<pre id="enrollment-token">(fet_[\w-]+)<\/pre>/.exec(created.html)?.[1];
    expect(token).toBeDefined();
    const [row] = await t.database.db
      .select()
      .from(enrollmentTokens)
      .where(eq(enrollmentTokens.tokenHash, hashEnrollmentToken(token!)));
    expect(row?.facilityId).toBe(facilityId);
    expect(created.html).toMatch(/<code id="key-thumbprint">[\w-]{43}<\/code>/);
  });
});

describe('facilities.js live AE title check', () => {
  it('gives the same reason as the shared rule the API uses, for every kind of input', () => {
    const source = readFileSync(new URL('./facilities.client.js', import.meta.url), 'utf8');
    const fn = /function aeTitleProblem\(raw\) \{[\s\S]*?\n\}/.exec(source)?.[0];
    expect(fn).toBeDefined();
    const clientProblem = new Function(`${fn}; return aeTitleProblem;`)() as (
      raw: string,
    ) => string | undefined;
    const inputs = [
      'GATEWAY',
      ' GATEWAY ',
      '',
      '    ',
      'A'.repeat(16),
      'A'.repeat(17),
      ` ${'B'.repeat(16)} `,
      'BAD\\TITLE',
      'TAB\tHERE',
      'DEL\u007f',
      'ÄRZTE',
      'EMOJI\u{1F600}',
      '~!@#$%^&*()_+',
    ];
    for (const raw of inputs) expect(clientProblem(raw), JSON.stringify(raw)).toBe(aeTitleProblem(raw));
    expect(clientProblem('A'.repeat(17))).toBe('must be at most 16 characters (got 17)');
  });
});

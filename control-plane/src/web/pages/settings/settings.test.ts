import { desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  consoleGet,
  consolePost,
  decodeHtml,
  signInConsole,
} from '../../../../../testkit/control-plane/console.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  seedFacility,
  type TestApp,
} from '../../../../../testkit/control-plane/harness.js';
import { configVersions, groups } from '../../../db/schema/index.js';
import { SETTING_ROWS } from '../../components/gateway-setting-rows.js';

/** The source line of one setting ("Inherited from the group: 4104. A change reaches …"). */
function sourceOf(html: string, id: string): string | undefined {
  const m = new RegExp(`<p class="setting-source" id="${id}-source">(.*?)</p>`, 's').exec(html);
  return m?.[1] === undefined ? undefined : decodeHtml(m[1].replace(/<[^>]+>/g, ''));
}

describe.each(BACKENDS)('console gateway settings (%s)', (backend) => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let admin: ConsoleSession;
  let reader: ConsoleSession;

  beforeAll(async () => {
    t = await createTestApp(backend);
    a = await t.seedGroup('Settings A');
    b = await t.seedGroup('Settings B');
    admin = await signInConsole(t, a.admin);
    reader = await signInConsole(t, a.reader);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the dry run answers an admin per setting in the API words, and refuses everyone else', async () => {
    const f = await seedFacility(t, a, { aeTitle: 'DRYRUN' });
    const theirs = await seedFacility(t, b, { aeTitle: 'DRYRUNB' });
    const bad = {
      'own.port': '1',
      'value.port': '70000',
      'own.transferSyntaxPolicy': '1',
      'value.transferSyntaxPolicy': 'fastest',
      'own.upload.compression': '1',
      'value.upload.compression': 'brotli',
    };
    const paths = [`/facilities/${f.facilityId}/settings/validate`, '/settings/gateways/validate'];
    for (const path of paths) {
      const res = await consolePost(t, path, admin, bad);
      expect(res.status, res.html).toBe(200);
      const { problems } = JSON.parse(res.html) as { problems: Record<string, string> };
      // The same words the API answers a PATCH with, after its `gateway.port: ` prefix.
      const api = await t.request('PATCH', `/api/v1/facilities/${f.facilityId}`, {
        token: a.admin.token,
        body: {
          gateway: { port: 70000, transferSyntaxPolicy: 'fastest', upload: { compression: 'brotli' } },
        },
      });
      expect(api.status).toBe(400);
      const said = (api.body as { error: { message: string } }).error.message;
      expect(said).toContain(`gateway.port: ${problems.port}`);
      expect(said).toContain(`gateway.transferSyntaxPolicy: ${problems.transferSyntaxPolicy}`);
      expect(said).toContain(`gateway.upload.compression: ${problems['upload.compression']}`);
      expect(problems['upload.compression']).toBe('must be one of "auto", "image", "zstd", "none"');
      expect(problems.port).toMatch(/65535/);
      const ok = await consolePost(t, path, admin, { 'own.port': '1', 'value.port': '4105' });
      expect(JSON.parse(ok.html)).toEqual({ problems: {} });
    }
    // No session, a session that is not one, a reader, a form without its CSRF token, another group.
    for (const path of paths) {
      const none = await consolePost(t, path, undefined, bad);
      expect(none.status).toBe(303);
      expect(none.location).toMatch(/^\/login/);
      const forged = await consolePost(t, path, { cookie: 'ferry_session=not-a-session', csrf: 'x' }, bad);
      expect(forged.status).toBe(303);
      expect(forged.location).toMatch(/^\/login/);
      expect((await consolePost(t, path, reader, bad)).status).toBe(403);
      expect((await consolePost(t, path, admin, { ...bad, _csrf: 'forged' })).status).toBe(403);
    }
    const other = await consolePost(t, `/facilities/${theirs.facilityId}/settings/validate`, admin, bad);
    expect(other.status).toBe(404);
    expect(other.html).not.toContain('70000');
  });

  it('a facility page shows each setting as inherited or its own, saves it, pushes it, and resets it', async () => {
    const grp = await t.seedGroup('Settings facility group');
    const groupAdmin = await signInConsole(t, grp.admin);
    const first = await seedFacility(t, grp, { aeTitle: 'FIRSTSITE' });
    const second = await seedFacility(t, grp, { aeTitle: 'SECONDSITE' });
    await enrollTestGateway(t, { groupId: grp.groupId, facilityId: first.facilityId });
    const gw = await enrollTestGateway(t, { groupId: grp.groupId, facilityId: second.facilityId });
    await enrollTestGateway(t, { groupId: grp.groupId, facilityId: second.facilityId });
    await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: { maxAssociations: 8 },
    });

    const page = await consoleGet(t, `/facilities/${second.facilityId}`, groupAdmin);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('through the API');
    // Every row of the table that a facility may set is on the page.
    for (const row of SETTING_ROWS) expect(page.html).toContain(`id="${row.id}"`);
    expect(sourceOf(page.html, 'setting-port')).toBe(
      "Inherited from the group: 4104. A change reaches this facility's 2 gateways.",
    );
    expect(sourceOf(page.html, 'setting-maxAssociations')).toContain('Inherited from the group: 8.');
    expect(page.html).toContain('Saving pushes the new config to this facility&#39;s 2 gateways.');

    // A bad value is refused with the API's words and the typed text kept.
    const refused = await consolePost(t, `/facilities/${second.facilityId}/settings`, groupAdmin, {
      'own.port': '1',
      'value.port': '0',
    });
    expect(refused.status).toBe(400);
    expect(refused.html).toMatch(
      /<p class="field-error" id="setting-port-error" role="alert">Too small[^<]*1<\/p>/,
    );
    expect(refused.html).toMatch(/id="setting-port"[^>]*value="0"|value="0"[^>]*id="setting-port"/);

    const saved = await consolePost(t, `/facilities/${second.facilityId}/settings`, groupAdmin, {
      'own.port': '1',
      'value.port': '4105',
      'own.transferSyntaxPolicy': '1',
      'value.transferSyntaxPolicy': 'prefer-uncompressed',
      'own.allowedCallingAeTitles': '1',
      'value.allowedCallingAeTitles': 'CT1\r\nMR1\r\n',
      'own.upload.compression': '1',
      'value.upload.compression': 'image',
    });
    expect(saved.status, saved.html).toBe(303);
    expect(saved.location).toBe(`/facilities/${second.facilityId}?notice=settings-saved`);
    const api = await t.request('GET', `/api/v1/facilities/${second.facilityId}`, { token: grp.admin.token });
    expect(api.body).toMatchObject({
      gateway: {
        port: 4105,
        transferSyntaxPolicy: 'prefer-uncompressed',
        allowedCallingAeTitles: ['CT1', 'MR1'],
        upload: { compression: 'image' },
      },
    });
    const [latest] = await t.database.db
      .select({ config: configVersions.config })
      .from(configVersions)
      .where(eq(configVersions.gatewayId, gw.gatewayId))
      .orderBy(desc(configVersions.version))
      .limit(1);
    expect(latest?.config).toMatchObject({
      port: 4105,
      maxAssociations: 8,
      transferSyntaxPolicy: 'prefer-uncompressed',
      upload: { compression: 'image', parallelism: 4 },
    });

    const after = await consoleGet(t, `/facilities/${second.facilityId}`, groupAdmin);
    expect(sourceOf(after.html, 'setting-port')).toBe(
      "Own value. Without it: 4104, from the group. A change reaches this facility's 2 gateways.",
    );
    expect(after.html).toContain(
      '<button type="submit" name="reset" value="port" class="secondary">Reset to group default</button>',
    );

    // Reset to the group's default: only that setting goes, the others stay the facility's own.
    const reset = await consolePost(t, `/facilities/${second.facilityId}/settings`, groupAdmin, {
      'own.port': '1',
      'value.port': '4105',
      'own.transferSyntaxPolicy': '1',
      'value.transferSyntaxPolicy': 'prefer-uncompressed',
      reset: 'port',
    });
    expect(reset.status).toBe(303);
    const back = await t.request('GET', `/api/v1/facilities/${second.facilityId}`, {
      token: grp.admin.token,
    });
    expect(back.body).toMatchObject({ gateway: { transferSyntaxPolicy: 'prefer-uncompressed' } });
    expect((back.body as { gateway: Record<string, unknown> }).gateway.port).toBeUndefined();
    // The change is audited like the API's.
    const audit = await t.request('GET', '/api/v1/audit?action=facility.update', { token: grp.admin.token });
    expect(audit.text).toContain('4105');
  });

  it('the Gateway defaults page says how many gateways each setting reaches, and readers only read', async () => {
    const grp = await t.seedGroup('Settings defaults group');
    const groupAdmin = await signInConsole(t, grp.admin);
    const groupReader = await signInConsole(t, grp.reader);
    const one = await seedFacility(t, grp, { aeTitle: 'DEFONE' });
    const two = await seedFacility(t, grp, { aeTitle: 'DEFTWO' });
    await enrollTestGateway(t, { groupId: grp.groupId, facilityId: one.facilityId });
    await enrollTestGateway(t, { groupId: grp.groupId, facilityId: two.facilityId });
    await enrollTestGateway(t, { groupId: grp.groupId, facilityId: two.facilityId });
    await t.request('PATCH', `/api/v1/facilities/${two.facilityId}`, {
      token: grp.admin.token,
      body: { gateway: { port: 4200 } },
    });
    const hash = `scrypt$32768$8$1$${'s'.repeat(22)}$${'k'.repeat(43)}`;
    await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: {
        userIdentity: { require: 'username-password', users: [{ username: 'ct1', passwordHash: hash }] },
      },
    });

    const page = await consoleGet(t, '/settings/gateways', groupAdmin);
    expect(page.status).toBe(200);
    expect(page.html).toContain('<title>Gateway defaults · Ferry</title>');
    expect(sourceOf(page.html, 'setting-port')).toBe(
      'Inherited from the built-in default: 4104. A change reaches 1 gateway of 3; 1 facility overrides it.',
    );
    expect(sourceOf(page.html, 'setting-upload-parallelism')).toBe(
      'Inherited from the built-in default: 4. A change reaches 3 gateways of 3.',
    );
    expect(sourceOf(page.html, 'setting-userIdentity')).toContain('Own value.');

    const saved = await consolePost(t, '/settings/gateways', groupAdmin, {
      'own.upload.parallelism': '1',
      'value.upload.parallelism': '6',
      'own.userIdentity': '1',
      'value.userIdentity.require': 'username',
      'value.userIdentity.usernames': 'US1\r\n',
    });
    expect(saved.status, saved.html).toBe(303);
    const api = await t.request('GET', '/api/v1/settings/gateways', { token: grp.admin.token });
    expect(api.body).toEqual({
      settings: { upload: { parallelism: 6 }, userIdentity: { require: 'username', usernames: ['US1'] } },
    });
    const [row] = await t.database.db
      .select({ settings: groups.gatewaySettings })
      .from(groups)
      .where(eq(groups.id, grp.groupId));
    expect(row?.settings).toMatchObject({ upload: { parallelism: 6 } });

    // JSON that does not parse is said so; a JSON value the schema refuses gets the schema's words.
    const badJson = await consolePost(t, '/settings/gateways/validate', groupAdmin, {
      'own.peers': '1',
      'value.peers': '[{',
      'own.upload.schedule': '1',
      'value.upload.schedule': '[{"days":[9],"from":"25:00","to":"08:00","bandwidthBytesPerSecond":1}]',
    });
    const { problems } = JSON.parse(badJson.html) as { problems: Record<string, string> };
    expect(problems.peers).toMatch(/^is not JSON: /);
    expect(problems['upload.schedule']).toContain('0.from: must be HH:MM (24-hour clock)');

    // A user's hash is pasted beside the username; one that is not a hash gets the schema's words.
    const users = await consolePost(t, '/settings/gateways/validate', groupAdmin, {
      'own.userIdentity': '1',
      'value.userIdentity.require': 'username-password',
      'value.userIdentity.users': `ct1 ${hash}\nmr1 secret-password`,
    });
    expect(JSON.parse(users.html).problems.userIdentity).toMatch(
      /^users\.1\.passwordHash: must be a scrypt hash .* made by `ferry-agent hash-password`/,
    );
    const jwt = await consolePost(t, '/settings/gateways/validate', groupAdmin, {
      'own.userIdentity': '1',
      'value.userIdentity.require': 'jwt',
      'value.userIdentity.jwks': '{"keys": [',
    });
    expect(JSON.parse(jwt.html).problems.userIdentity).toMatch(/^jwks is not JSON: /);
    // A reader sees the values and their source, no form and no password hash.
    await t.request('PUT', '/api/v1/settings/gateways', {
      token: grp.admin.token,
      body: {
        userIdentity: { require: 'username-password', users: [{ username: 'ct1', passwordHash: hash }] },
      },
    });
    const admins = await consoleGet(t, '/settings/gateways', groupAdmin);
    // The admin who set them gets the hashes back in the field, to save the form again whole.
    expect(admins.html).toContain(`ct1 ${hash}`);
    const read = await consoleGet(t, '/settings/gateways', groupReader);
    expect(read.status).toBe(200);
    expect(read.html).not.toContain('<form method="post" action="/settings/gateways"');
    expect(read.html).not.toContain('scrypt$');
    expect(read.html).toContain('ct1');
    const readerSave = await consolePost(t, '/settings/gateways', groupReader, {
      'own.port': '1',
      'value.port': '1',
    });
    expect(readerSave.status).toBe(403);
    expect((await consoleGet(t, '/settings/gateways')).status).toBe(303);
  });
});

import { readFile } from 'node:fs/promises';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAgentToken } from '../../control-plane/src/auth/agent-token.js';
import { verifySessionToken } from '../../control-plane/src/auth/session.js';
import { groups, users } from '../../control-plane/src/db/schema/index.js';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  seedOperator,
  type TestApp,
  testDatabaseUrl,
} from './harness.js';

describe.each(BACKENDS)('test harness (%s)', (backend) => {
  const opened: TestApp[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((t) => t.close()));
  });
  const open = async () => {
    const t = await createTestApp(backend);
    opened.push(t);
    return t;
  };

  it('gives every app its own migrated, empty database and session secret', async () => {
    const a = await open();
    const b = await open();
    expect(a.database.kind).toBe(backend);
    await a.seedGroup('Only in A');
    expect(await a.database.db.select().from(groups)).toHaveLength(1);
    expect(await b.database.db.select().from(groups)).toHaveLength(0);
    expect(Buffer.from(a.deps.sessionSecret).equals(Buffer.from(b.deps.sessionSecret))).toBe(false);
  });

  it('seeds a group with an admin and a reader whose tokens and passwords are real', async () => {
    const t = await open();
    const g = await t.seedGroup();
    const claims = await verifySessionToken(t.deps.sessionSecret, g.admin.token);
    expect(claims).toMatchObject({ sub: g.admin.id, grp: g.groupId, role: 'admin', op: false });
    expect((await verifySessionToken(t.deps.sessionSecret, g.reader.token)).role).toBe('reader');
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { email: g.reader.email, password: g.reader.password },
    });
    expect(login.status).toBe(200);
    expect(typeof login.body.token).toBe('string');

    const op = await seedOperator(t, 'Operators');
    const [row] = await t.database.db.select().from(users).where(eq(users.id, op.admin.id));
    expect(row?.isOperator).toBe(true);
    expect((await verifySessionToken(t.deps.sessionSecret, op.admin.token)).op).toBe(true);
  });

  it('registers gateways whose agent tokens the control plane accepts', async () => {
    const t = await open();
    const g = await t.seedGroup();
    const gw = await enrollTestGateway(t, g);
    const actor = await verifyAgentToken(t.database.db, await gw.token(), t.deps.publicUrl);
    expect(actor).toMatchObject({ kind: 'agent', gatewayId: gw.gatewayId, groupId: g.groupId });
    const second = await enrollTestGateway(t, { ...g, facilityId: gw.facilityId });
    expect(second.facilityId).toBe(gw.facilityId);
    await expect(
      verifyAgentToken(t.database.db, await gw.token({ expSeconds: -30 }), t.deps.publicUrl),
    ).rejects.toMatchObject({ code: 'auth.expired_token' });
    await gw.revoke();
    await expect(verifyAgentToken(t.database.db, await gw.token(), t.deps.publicUrl)).rejects.toMatchObject({
      code: 'auth.reenroll',
    });
  });

  it('sends JSON bodies, raw bodies, tokens and headers through the real app', async () => {
    const t = await open();
    const res = await t.request('GET', '/healthz', { headers: { 'x-request-id': 'harness-check-1' } });
    expect(res).toMatchObject({ status: 200, body: { ok: true } });
    expect(res.headers.get('x-request-id')).toBe('harness-check-1');
    const raw = await t.request('POST', '/api/v1/auth/login', {
      rawBody: '{"email":"a@b.c","password":"x"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(raw.status).toBe(401);
  });

  // How fast a clone opens is a speed figure, not a test (it swings with machine load); what must
  // hold is that every clone is fully migrated and isolated from the others.
  it('opens every app from the migrated snapshot or template, each isolated from the others', async () => {
    const journal = JSON.parse(
      await readFile(new URL('../../control-plane/migrations/meta/_journal.json', import.meta.url), 'utf8'),
    ) as { entries: unknown[] };
    const first = await open();
    const second = await open();
    try {
      for (const t of [first, second]) {
        const applied = await t.database.db.execute(
          sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
        );
        expect((applied as unknown as { rows: { n: number }[] }).rows[0]?.n).toBe(journal.entries.length);
      }
      await first.seedGroup('Only in the first app');
      const names = async (t: TestApp) =>
        (await t.database.db.select({ name: groups.name }).from(groups)).map((g) => g.name);
      expect(await names(first)).toContain('Only in the first app');
      expect(await names(second)).not.toContain('Only in the first app');
    } finally {
      await first.close();
      await second.close();
    }
  });

  if (backend === 'postgres') {
    it('drops its database on close', async () => {
      const t = await open();
      const admin = new pg.Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      try {
        const result = await t.database.db.execute(sql`select current_database() as name`);
        const name = (result as unknown as { rows: { name: string }[] }).rows[0]!.name;
        const exists = async () =>
          (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
        expect(await exists()).toBe(true);
        await t.close();
        expect(await exists()).toBe(false);
      } finally {
        await admin.end();
      }
    });
  }
});

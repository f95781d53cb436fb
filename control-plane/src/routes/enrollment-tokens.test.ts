import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  seedFacility,
  type TestApp,
  unknownId,
} from '../../../testkit/control-plane/harness.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { auditLog, enrollmentTokens } from '../db/schema/index.js';
import { hashEnrollmentToken, newEnrollmentToken } from '../services/enrollment-token-secret.js';

interface IssuedBody {
  id: string;
  token: string;
  installCommand: string | null;
  keyThumbprint: string;
  expiresAt: string;
  maxUses: number;
}
interface TokenBody {
  id: string;
  facilityId: string;
  createdAt: string;
  expiresAt: string;
  maxUses: number;
  uses: number;
  revokedAt: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

const HOUR = 3_600_000;

describe.each(BACKENDS)('enrollment token routes (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;
  let other: SeededGroup;
  let facilityId: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup('Enrollment group');
    other = await t.seedGroup('Other group');
    ({ facilityId } = await seedFacility(t, g, { name: 'Radiology East', aeTitle: 'RAD_EAST' }));
  });
  afterAll(async () => {
    await t?.close();
  });

  const issue = (body?: Record<string, unknown>, token = g.admin.token, facility = facilityId) =>
    t.request<IssuedBody>('POST', `/api/v1/facilities/${facility}/enrollment-tokens`, {
      token,
      ...(body === undefined ? {} : { body }),
    });

  const auditRows = (action: string, targetId: string) =>
    t.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, action), eq(auditLog.targetId, targetId)));

  describe('issue', () => {
    it('issues a single-use 24 h token, stores only its SHA-256, and gives the exact install command', async () => {
      const before = Date.now();
      const res = await issue();
      expect(res.status, res.text).toBe(201);
      const { token, installCommand, keyThumbprint, id, expiresAt, maxUses } = res.body;
      // fet_ + 32 random bytes, base64url: 256 bits.
      expect(token).toMatch(/^fet_[A-Za-z0-9_-]{43}$/);
      expect(res.body).not.toHaveProperty('installScript');
      // RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
      const { crv, kty, x } = t.deps.recipientPublicKey;
      const thumbprint = createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url');
      expect(keyThumbprint).toBe(thumbprint);
      const sha256 = createHash('sha256')
        .update(await readFile(t.deps.agentRelease.path))
        .digest('hex');
      const tarball = 'ferry-agent-linux-x64.tar.gz';
      expect(installCommand).toBe(
        [
          'cd "$(mktemp -d)"',
          `curl -fsSLo ${tarball} http://ferry.test/downloads/${tarball}`,
          `echo '${sha256}  ${tarball}' | sha256sum -c`,
          `tar -xzf ${tarball} --strip-components=1`,
          `printf %s ${token} | sudo ./install.sh --server http://ferry.test --token-file - --key-thumbprint ${thumbprint}`,
        ].join(' && '),
      );
      expect(installCommand).not.toContain('npx');
      // The token is an operand of printf only (a shell builtin: no process's argv holds it).
      const commands = (installCommand ?? '').split(/ && | \| /).map((c) => c.trim().split(/\s+/));
      const holding = commands.filter((words) => words.some((w) => w.includes(token)));
      expect(holding).toEqual([['printf', '%s', token]]);
      expect(maxUses).toBe(1);
      const expiry = new Date(expiresAt).getTime();
      expect(expiry).toBeGreaterThanOrEqual(before + 24 * HOUR - 1000);
      expect(expiry).toBeLessThanOrEqual(Date.now() + 24 * HOUR + 1000);

      const [row] = await t.database.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.id, id));
      expect(row).toMatchObject({
        groupId: g.groupId,
        facilityId,
        uses: 0,
        maxUses: 1,
        createdBy: g.admin.id,
      });
      expect(row!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(token.slice(4));

      const audit = await auditRows('enrollment_token.create', id);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actorType: 'user', actorId: g.admin.id, groupId: g.groupId });
      expect(JSON.stringify(audit[0])).not.toContain(token.slice(4));
    });

    it('honours expiresInHours and maxUses; every token is different', async () => {
      const res = await issue({ expiresInHours: 2, maxUses: 5 });
      expect(res.status, res.text).toBe(201);
      expect(res.body.maxUses).toBe(5);
      expect(Math.abs(new Date(res.body.expiresAt).getTime() - (Date.now() + 2 * HOUR))).toBeLessThan(5000);
      const again = await issue({});
      expect(again.status).toBe(201);
      expect(again.body.token).not.toBe(res.body.token);
    });

    it.each([
      [{ expiresInHours: 0 }, 'expiresInHours'],
      [{ expiresInHours: 1.5 }, 'expiresInHours'],
      [{ expiresInHours: 24 * 365 }, 'expiresInHours'],
      [{ maxUses: 0 }, 'maxUses'],
      [{ maxUses: 'many' }, 'maxUses'],
      [{ facilityId: 'x' }, 'facilityId'],
    ])('refuses %j (400 naming %s)', async (body, field) => {
      const res = await issue(body);
      expect(res.status).toBe(400);
      expect((res.body as unknown as ErrorBody).error.code).toBe('request.invalid');
      expect((res.body as unknown as ErrorBody).error.message).toContain(field);
    });

    it('is for admins only (a reader gets 403) and only in their group (404 otherwise)', async () => {
      const reader = await issue({}, g.reader.token);
      expect(reader.status).toBe(403);
      const foreign = await issue({}, other.admin.token);
      expect(foreign.status).toBe(404);
      expect((foreign.body as unknown as ErrorBody).error.code).toBe('resource.not_found');
      const unknown = await issue({}, g.admin.token, unknownId());
      expect(unknown.status).toBe(404);
      const notUuid = await issue({}, g.admin.token, 'not-a-uuid');
      expect(notUuid.status).toBe(400);
    });
  });

  describe('list', () => {
    it("lists the facility's tokens without secrets, newest first", async () => {
      const a = await issue({ maxUses: 2 });
      const b = await issue();
      const res = await t.request<{ tokens: TokenBody[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: g.admin.token },
      );
      expect(res.status, res.text).toBe(200);
      const ids = res.body.tokens.map((x) => x.id);
      expect(ids.indexOf(b.body.id)).toBeLessThan(ids.indexOf(a.body.id));
      const listed = res.body.tokens.find((x) => x.id === a.body.id)!;
      expect(Object.keys(listed).sort()).toEqual(
        ['createdAt', 'expiresAt', 'facilityId', 'id', 'maxUses', 'revokedAt', 'uses'].sort(),
      );
      expect(listed).toMatchObject({ facilityId, maxUses: 2, uses: 0, revokedAt: null });
      expect(res.text).not.toContain(a.body.token);
      expect(res.text).not.toContain(b.body.token);
      expect(res.text).not.toContain('tokenHash');
    });

    it('is not visible to readers or other groups', async () => {
      const path = `/api/v1/facilities/${facilityId}/enrollment-tokens`;
      expect((await t.request('GET', path, { token: g.reader.token })).status).toBe(403);
      expect((await t.request('GET', path, { token: other.admin.token })).status).toBe(404);
    });
  });

  describe('revoke', () => {
    it('revokes once, audits once, and answers a repeat with the same revocation', async () => {
      const issued = await issue();
      const path = `/api/v1/enrollment-tokens/${issued.body.id}/revoke`;
      const first = await t.request<TokenBody>('POST', path, { token: g.admin.token });
      expect(first.status, first.text).toBe(200);
      expect(first.body.revokedAt).not.toBeNull();
      expect(first.text).not.toContain(issued.body.token);
      const second = await t.request<TokenBody>('POST', path, { token: g.admin.token });
      expect(second.status).toBe(200);
      expect(second.body.revokedAt).toBe(first.body.revokedAt);
      expect(await auditRows('enrollment_token.revoke', issued.body.id)).toHaveLength(1);
    });

    it("cannot touch another group's token, and 404s an unknown one", async () => {
      const issued = await issue();
      const foreign = await t.request('POST', `/api/v1/enrollment-tokens/${issued.body.id}/revoke`, {
        token: other.admin.token,
      });
      expect(foreign.status).toBe(404);
      const reader = await t.request('POST', `/api/v1/enrollment-tokens/${issued.body.id}/revoke`, {
        token: g.reader.token,
      });
      expect(reader.status).toBe(403);
      const [row] = await t.database.db
        .select()
        .from(enrollmentTokens)
        .where(eq(enrollmentTokens.id, issued.body.id));
      expect(row!.revokedAt).toBeNull();
      const unknown = await t.request('POST', `/api/v1/enrollment-tokens/${unknownId()}/revoke`, {
        token: g.admin.token,
      });
      expect(unknown.status).toBe(404);
    });
  });
});

describe.each(BACKENDS)('enrollment token routes security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/facilities/${ids.facilityId}/enrollment-tokens`,
    body: { maxUses: 2 },
    caller: 'admin',
    resourceOfGroup: (t, g) => seedFacility(t, g),
    okStatus: 201,
  });
  runCommonRouteTests(backend, {
    method: 'GET',
    path: (ids) => `/api/v1/facilities/${ids.facilityId}/enrollment-tokens`,
    caller: 'admin',
    resourceOfGroup: (t, g) => seedFacility(t, g),
    okStatus: 200,
  });
  runCommonRouteTests(backend, {
    method: 'POST',
    path: (ids) => `/api/v1/enrollment-tokens/${ids.tokenId}/revoke`,
    caller: 'admin',
    resourceOfGroup: async (t, group) => {
      const { facilityId } = await seedFacility(t, group);
      const [row] = await t.database.db
        .insert(enrollmentTokens)
        .values({
          groupId: group.groupId,
          facilityId,
          tokenHash: hashEnrollmentToken(newEnrollmentToken()),
          expiresAt: new Date(Date.now() + HOUR),
        })
        .returning({ id: enrollmentTokens.id });
      return { tokenId: row!.id };
    },
    okStatus: 200,
  });
});

describe('an enrollment token on a control plane without an agent release', () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it('is still issued, with its key thumbprint and no install line', async () => {
    t = await createTestApp('pglite', {
      agentReleaseFile: join(tmpdir(), `no-release-${unknownId()}.tar.gz`),
    });
    const g = await t.seedGroup();
    const { facilityId } = await seedFacility(t, g, { name: 'Radiology', aeTitle: 'RAD' });
    const res = await t.request<IssuedBody>('POST', `/api/v1/facilities/${facilityId}/enrollment-tokens`, {
      token: g.admin.token,
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.token).toMatch(/^fet_/);
    expect(res.body.installCommand).toBeNull();
    expect(res.body.keyThumbprint).toMatch(/^[\w-]{43}$/);
  });
});

// Enrollment across processes: the real control plane issues a token, the real agent CLI enrolls
// with it, writes agent.json and then answers DICOM under the facility's AE title.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAgentToken } from '../../agent/src/control/agent-token.js';
import { type AgentProcess, removeScratch, runAgentCli, scratch, startAgent } from '../harness/agent.js';
import {
  type ControlPlaneProcess,
  freshPostgresDatabase,
  startControlPlane,
} from '../harness/control-plane.js';
import { echoscu, freePort } from '../harness/dcmtk.js';

const ADMIN = { email: 'admin@ferry.test', password: 'correct horse battery staple' };

interface Backend {
  name: 'pglite' | 'postgres';
}

describe.each<Backend>([{ name: 'pglite' }, { name: 'postgres' }])(
  'enrollment end to end ($name)',
  ({ name }) => {
    let root: string;
    let cp: ControlPlaneProcess;
    let session: string;
    let dropDatabase: (() => Promise<void>) | undefined;
    const agents: AgentProcess[] = [];

    beforeAll(async () => {
      root = await scratch(`enroll-${name}`);
      let databaseUrl: string | undefined;
      if (name === 'postgres') {
        const db = await freshPostgresDatabase();
        databaseUrl = db.url;
        dropDatabase = db.drop;
      }
      cp = await startControlPlane({
        dataDir: join(root, 'control-plane'),
        adminEmail: ADMIN.email,
        adminPassword: ADMIN.password,
        ...(databaseUrl ? { databaseUrl } : {}),
      });
      session = await cp.login(ADMIN.email, ADMIN.password);
    });

    afterAll(async () => {
      for (const a of agents.splice(0)) await a.stop();
      await cp?.stop();
      await dropDatabase?.();
      await removeScratch(root);
    });

    async function createFacility(aeTitle: string): Promise<string> {
      const res = await cp.api<{ id: string }>('POST', '/api/v1/facilities', {
        token: session,
        body: { name: `Radiology ${aeTitle}`, aeTitle },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    }

    async function issueToken(
      facilityId: string,
      body: Record<string, unknown> = {},
    ): Promise<{ id: string; token: string; installCommand: string }> {
      const res = await cp.api<{ id: string; token: string; installCommand: string }>(
        'POST',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session, body },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    }

    const enroll = (token: string, dataDir: string) =>
      runAgentCli(['enroll', '--server', cp.url, '--token', token, '--data-dir', dataDir], {
        timeoutMs: 30_000,
      });

    it('enrolls with the install command, answers as RAD_EAST, and refuses the spent token', async () => {
      const facilityId = await createFacility('RAD_EAST');
      const issued = await issueToken(facilityId);
      expect(issued.installCommand).toBe(
        `npx ferry-agent enroll --server ${cp.url} --token ${issued.token} --data-dir /var/lib/ferry-agent`,
      );

      const dataDir = join(root, 'gateway-east');
      const enrolled = await enroll(issued.token, dataDir);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      expect(enrolled.stdout).toMatch(/enrolled as gateway [0-9a-f-]{36} for facility "Radiology RAD_EAST"/);

      const config = JSON.parse(await readFile(join(dataDir, 'agent.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(config).toMatchObject({
        aeTitle: 'RAD_EAST',
        port: 4104,
        allowedCallingAeTitles: [],
        maxAssociations: 32,
        server: cp.url,
        configVersion: 1,
        recipientPublicKey: { kty: 'OKP', crv: 'X25519' },
      });
      expect(config.gatewayId).toMatch(/^[0-9a-f-]{36}$/);
      const privatePath = join(dataDir, 'identity', 'agent.private.jwk');
      expect((await stat(privatePath)).mode & 0o777).toBe(0o600);
      expect(JSON.stringify(config)).not.toContain(
        (JSON.parse(await readFile(privatePath, 'utf8')) as JWK).d,
      );

      // The control plane lists the gateway and the token's one use.
      const gateways = await cp.api<{ gateways: { id: string; facility: { aeTitle: string } }[] }>(
        'GET',
        '/api/v1/gateways',
        { token: session },
      );
      expect(gateways.status).toBe(200);
      expect(gateways.body.gateways.map((g) => g.id)).toContain(config.gatewayId);
      const tokens = await cp.api<{ tokens: { id: string; uses: number; maxUses: number }[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session },
      );
      expect(tokens.body.tokens).toEqual([expect.objectContaining({ id: issued.id, uses: 1, maxUses: 1 })]);
      expect(JSON.stringify(tokens.body)).not.toContain(issued.token);

      // The enrolled agent answers under the facility's AE title and no other.
      const port = await freePort();
      const agent = await startAgent({ dataDir, args: ['--port', String(port)] });
      agents.push(agent);
      const ok = await echoscu({ port: agent.port, calledAe: 'RAD_EAST', timeoutMs: 15_000 });
      expect(ok.code, ok.stderr).toBe(0);
      const wrong = await echoscu({ port: agent.port, calledAe: 'GATEWAY', timeoutMs: 15_000 });
      expect(wrong.code).not.toBe(0);
      expect(`${wrong.stdout}\n${wrong.stderr}`).toMatch(
        /Called AE Title Not Recognized|Association Rejected/i,
      );

      // The spent token enrolls nothing more and writes nothing.
      const againDir = join(root, 'gateway-again');
      const again = await enroll(issued.token, againDir);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('enrollment.token_invalid');
      expect(again.stderr).toContain('already used');
      expect(again.stderr).toContain('nothing was written');
      expect(existsSync(againDir)).toBe(false);

      // An enrolled data directory is not enrolled over; the fresh token is not spent on it.
      const fresh = await issueToken(facilityId);
      const over = await enroll(fresh.token, dataDir);
      expect(over.code).toBe(1);
      expect(over.stderr).toContain('already holds a gateway identity');
      const after = await cp.api<{ tokens: { id: string; uses: number }[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session },
      );
      expect(after.body.tokens.find((x) => x.id === fresh.id)?.uses).toBe(0);
    });

    it('refuses revoked and unknown tokens without writing anything', async () => {
      const facilityId = await createFacility('RAD_WEST');
      const issued = await issueToken(facilityId);
      const revoked = await cp.api('POST', `/api/v1/enrollment-tokens/${issued.id}/revoke`, {
        token: session,
      });
      expect(revoked.status).toBe(200);
      const dir = join(root, 'gateway-revoked');
      const r1 = await enroll(issued.token, dir);
      expect(r1.code).toBe(1);
      expect(r1.stderr).toContain('revoked');
      const r2 = await enroll(`fet_${'A'.repeat(43)}`, dir);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toContain('not known');
      expect(existsSync(dir)).toBe(false);
    });

    it('rotates the key (old key refused once the new one is used), and discards the identity on reenroll', async () => {
      const facilityId = await createFacility('RAD_NORTH');
      const issued = await issueToken(facilityId);
      const dataDir = join(root, 'gateway-north');
      const enrolled = await enroll(issued.token, dataDir);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      const { gatewayId } = JSON.parse(await readFile(join(dataDir, 'agent.json'), 'utf8')) as {
        gatewayId: string;
      };
      const privatePath = join(dataDir, 'identity', 'agent.private.jwk');
      const oldKey = JSON.parse(await readFile(privatePath, 'utf8')) as JWK;

      const rotated = await runAgentCli(['rotate-key', '--data-dir', dataDir], { timeoutMs: 30_000 });
      expect(rotated.code, rotated.stderr).toBe(0);
      expect(rotated.stdout).toContain('the old key is no longer accepted');
      const newKey = JSON.parse(await readFile(privatePath, 'utf8')) as JWK;
      expect(newKey.x).not.toBe(oldKey.x);
      expect((await stat(privatePath)).mode & 0o777).toBe(0o600);

      const me = async (key: JWK) =>
        cp.api<{ gatewayId?: string; error?: { code: string } }>('GET', '/api/v1/agents/me', {
          token: await signAgentToken({ privateJwk: key, gatewayId, audience: cp.url }),
        });
      expect((await me(oldKey)).status).toBe(401);
      const current = await me(newKey);
      expect(current.status).toBe(200);
      expect(current.body.gatewayId).toBe(gatewayId);

      const revoke = await cp.api('POST', `/api/v1/gateways/${gatewayId}/revoke`, { token: session });
      expect(revoke.status).toBe(200);
      const after = await runAgentCli(['rotate-key', '--data-dir', dataDir], { timeoutMs: 30_000 });
      expect(after.code).toBe(1);
      expect(after.stderr).toContain('auth.reenroll');
      expect(existsSync(join(dataDir, 'identity'))).toBe(false);
      // Receiving does not depend on the identity: agent.json is still there to start from.
      expect(existsSync(join(dataDir, 'agent.json'))).toBe(true);
    });
  },
);

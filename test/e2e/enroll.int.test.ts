// Enrollment across processes: the real control plane issues a token, the real agent CLI enrolls
// with it (on standard input, pinned to the control plane's key), writes agent.json and then answers
// DICOM under the facility's AE title.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAgentToken } from '../../agent/src/cloud/agent-token.js';
import { testAgentReleaseFile } from '../../testkit/control-plane/agent-release.js';
import {
  type AgentProcess,
  enrollAgent,
  removeScratch,
  runAgentCli,
  scratch,
  startAgent,
} from '../harness/agent.js';
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
    let release: Buffer;
    const agents: AgentProcess[] = [];

    beforeAll(async () => {
      root = await scratch(`enroll-${name}`);
      let databaseUrl: string | undefined;
      if (name === 'postgres') {
        const db = await freshPostgresDatabase();
        databaseUrl = db.url;
        dropDatabase = db.drop;
      }
      // A small real tarball as the release this control plane serves (infra.int.test.ts installs the real one).
      const tarball = testAgentReleaseFile();
      release = await readFile(tarball);
      cp = await startControlPlane({
        env: { FERRY_AGENT_RELEASE: tarball },
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
    ): Promise<{ id: string; token: string; installCommand: string; keyThumbprint: string }> {
      const res = await cp.api<{ id: string; token: string; installCommand: string; keyThumbprint: string }>(
        'POST',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session, body },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    }

    const enroll = (token: string, dataDir: string, pin: string) =>
      enrollAgent({ server: cp.url, token, keyThumbprint: pin, dataDir });

    it("enrolls with the install line's token and pin, answers as RAD_EAST, and refuses the spent token", async () => {
      const facilityId = await createFacility('RAD_EAST');
      const issued = await issueToken(facilityId);
      const { keyThumbprint } = issued;
      expect(keyThumbprint).toMatch(/^[\w-]{43}$/);
      // The line downloads the release this control plane serves and checks the hash of those bytes.
      const sha256 = createHash('sha256').update(release).digest('hex');
      expect(issued.installCommand).toContain(
        `curl -fsSLo ferry-agent-linux-x64.tar.gz ${cp.url}/downloads/ferry-agent-linux-x64.tar.gz`,
      );
      expect(issued.installCommand).toContain(
        `echo '${sha256}  ferry-agent-linux-x64.tar.gz' | sha256sum -c`,
      );
      expect(issued.installCommand).toContain(
        `printf %s ${issued.token} | sudo ./install.sh --server ${cp.url} --token-file - --key-thumbprint ${keyThumbprint}`,
      );
      expect(issued.installCommand).not.toContain('npx');
      const download = await fetch(`${cp.url}/downloads/ferry-agent-linux-x64.tar.gz`);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(release)).toBe(true);
      const sum = await fetch(`${cp.url}/downloads/ferry-agent-linux-x64.tar.gz.sha256`);
      expect(await sum.text()).toBe(`${sha256}  ferry-agent-linux-x64.tar.gz\n`);

      const dataDir = join(root, 'gateway-east');
      const enrolled = await enroll(issued.token, dataDir, keyThumbprint);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      // The default display name is the facility's name and the host name.
      expect(enrolled.stdout).toMatch(
        /enrolled as gateway [0-9a-f-]{36} \("Radiology RAD_EAST [^"]+"\) for facility "Radiology RAD_EAST"/,
      );

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
      const again = await enroll(issued.token, againDir, keyThumbprint);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('enrollment.token_invalid');
      expect(again.stderr).toContain('already used');
      expect(again.stderr).toContain('nothing was written');
      expect(existsSync(againDir)).toBe(false);

      // An enrolled data directory is not enrolled over; the fresh token is not spent on it.
      const fresh = await issueToken(facilityId);
      const over = await enroll(fresh.token, dataDir, fresh.keyThumbprint);
      expect(over.code).toBe(1);
      expect(over.stderr).toContain('already holds a gateway identity');
      const after = await cp.api<{ tokens: { id: string; uses: number }[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session },
      );
      expect(after.body.tokens.find((x) => x.id === fresh.id)?.uses).toBe(0);
    });

    it('refuses an answer whose recipient key is not the pinned one, naming both, and writes nothing', async () => {
      const facilityId = await createFacility('RAD_SOUTH');
      const issued = await issueToken(facilityId, { maxUses: 2 });
      // The key a TLS-inspecting proxy would have put in the answer is, seen from the agent, any key
      // other than the pinned one: pin another key here against the real control plane's answer.
      const other = createHash('sha256').update('another key').digest('base64url');
      const dir = join(root, 'gateway-south');
      const refused = await enroll(issued.token, dir, other);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('enrollment.key_mismatch');
      expect(refused.stderr).toContain(other);
      expect(refused.stderr).toContain(issued.keyThumbprint);
      expect(refused.stderr).toContain('Nothing was written');
      expect(existsSync(join(dir, 'agent.json'))).toBe(false);
      expect(existsSync(join(dir, 'identity'))).toBe(false);

      const ok = await enroll(issued.token, dir, issued.keyThumbprint);
      expect(ok.code, ok.stderr).toBe(0);
      const config = JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')) as { aeTitle: string };
      expect(config.aeTitle).toBe('RAD_SOUTH');
    });

    it('never takes the token as an argument: --token is refused before anything is sent', async () => {
      const facilityId = await createFacility('RAD_ARGV');
      const issued = await issueToken(facilityId);
      const dir = join(root, 'gateway-argv');
      const r = await runAgentCli(
        [
          'enroll',
          '--server',
          cp.url,
          '--token',
          issued.token,
          '--key-thumbprint',
          issued.keyThumbprint,
          '--data-dir',
          dir,
        ],
        { timeoutMs: 30_000 },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('--token-file');
      expect(r.stderr).not.toContain(issued.token);
      const tokens = await cp.api<{ tokens: { id: string; uses: number }[] }>(
        'GET',
        `/api/v1/facilities/${facilityId}/enrollment-tokens`,
        { token: session },
      );
      expect(tokens.body.tokens.find((x) => x.id === issued.id)?.uses).toBe(0);
    });

    it('refuses revoked and unknown tokens without writing anything', async () => {
      const facilityId = await createFacility('RAD_WEST');
      const issued = await issueToken(facilityId);
      const revoked = await cp.api('POST', `/api/v1/enrollment-tokens/${issued.id}/revoke`, {
        token: session,
      });
      expect(revoked.status).toBe(200);
      const dir = join(root, 'gateway-revoked');
      const r1 = await enroll(issued.token, dir, issued.keyThumbprint);
      expect(r1.code).toBe(1);
      expect(r1.stderr).toContain('revoked');
      const r2 = await enroll(`fet_${'A'.repeat(43)}`, dir, issued.keyThumbprint);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toContain('not known');
      expect(existsSync(dir)).toBe(false);
    });

    it('rotates the key (old key refused once the new one is used), and discards the identity on reenroll', async () => {
      const facilityId = await createFacility('RAD_NORTH');
      const issued = await issueToken(facilityId);
      const dataDir = join(root, 'gateway-north');
      const enrolled = await enroll(issued.token, dataDir, issued.keyThumbprint);
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

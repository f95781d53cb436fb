import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAgentReleaseFile } from '../../../testkit/control-plane/agent-release.js';
import { createTestApp, type TestApp } from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';

const run = promisify(execFile);
const TARBALL = '/downloads/ferry-agent-linux-x64.tar.gz';
const SHA256 = `${TARBALL}.sha256`;

describe('the agent release downloads', () => {
  let t: TestApp;
  let absent: TestApp;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-downloads-'));
    // A copy this test may replace, like a new `npm run bundle:agent` would.
    const file = join(dir, 'ferry-agent-linux-x64.tar.gz');
    await writeFile(file, await readFile(testAgentReleaseFile()));
    t = await createTestApp('pglite', { agentReleaseFile: file });
    absent = await createTestApp('pglite', { agentReleaseFile: join(dir, 'none.tar.gz') });
  });
  afterAll(async () => {
    await t?.close();
    await absent?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the tarball to anyone, streamed whole with its length, type and caching headers', async () => {
    const bytes = await readFile(t.deps.agentRelease.path);
    const res = await t.app.request(TARBALL);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="ferry-agent-linux-x64.tar.gz"',
    );
    expect(res.headers.get('cache-control')).toBe('public, no-cache');
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(res.headers.get('etag')).toBe(`"sha256-${sha}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);

    // A revalidation costs nothing; HEAD says the same without the bytes.
    const again = await t.app.request(TARBALL, { headers: { 'if-none-match': `"sha256-${sha}"` } });
    expect(again.status).toBe(304);
    const head = await t.app.request(TARBALL, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves a .sha256 that sha256sum -c accepts for the downloaded bytes, and refuses for others', async () => {
    const res = await t.app.request(SHA256);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const line = await res.text();
    const bytes = Buffer.from(await (await t.app.request(TARBALL)).arrayBuffer());
    expect(line).toBe(`${createHash('sha256').update(bytes).digest('hex')}  ferry-agent-linux-x64.tar.gz\n`);
    const check = join(dir, 'check');
    await rm(check, { recursive: true, force: true });
    await run('mkdir', [check]);
    await writeFile(join(check, 'ferry-agent-linux-x64.tar.gz'), bytes);
    await writeFile(join(check, 'SUM'), line);
    await expect(run('sha256sum', ['-c', 'SUM'], { cwd: check })).resolves.toBeTruthy();
    await writeFile(join(check, 'ferry-agent-linux-x64.tar.gz'), Buffer.concat([bytes, Buffer.from([0])]));
    await expect(run('sha256sum', ['-c', 'SUM'], { cwd: check })).rejects.toThrow();
  });

  it('needs no sign-in: a garbage bearer token or cookie changes nothing', async () => {
    for (const headers of [{ authorization: 'Bearer nonsense' }, { cookie: 'ferry_session=nonsense' }]) {
      expect((await t.app.request(TARBALL, { headers })).status).toBe(200);
      expect((await t.app.request(SHA256, { headers })).status).toBe(200);
    }
  });

  it('serves a release replaced while running at once, with its new hash', async () => {
    const file = t.deps.agentRelease.path;
    const next = Buffer.concat([await readFile(file), Buffer.from('a new build')]);
    await writeFile(`${file}.tmp`, next);
    await rename(`${file}.tmp`, file);
    const sha = createHash('sha256').update(next).digest('hex');
    expect(await (await t.app.request(SHA256)).text()).toBe(`${sha}  ferry-agent-linux-x64.tar.gz\n`);
    const res = await t.app.request(TARBALL);
    expect(Buffer.from(await res.arrayBuffer()).equals(next)).toBe(true);
  });

  it('is described in the API description, without a security requirement', async () => {
    const doc = (await t.request('GET', '/api/v1/openapi.json')).body as {
      paths: Record<string, { get?: { security?: unknown[]; responses: Record<string, unknown> } }>;
    };
    for (const path of [TARBALL, SHA256]) {
      expect(doc.paths[path]?.get?.responses).toHaveProperty('200');
      expect(doc.paths[path]?.get?.security ?? []).toEqual([]);
    }
  });

  it('answers 404 agent_release.missing for both when there is no release', async () => {
    for (const path of [TARBALL, SHA256]) {
      const res = await absent.request('GET', path);
      const err = expectError(res, 404, 'agent_release.missing');
      expect(err.error.message).toContain('npm run bundle:agent');
      expect(err.error.message).not.toContain(dir);
    }
  });
});

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateReleaseSigningKey, type ReleaseDescriptor, signRelease } from '@ferry/shared';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installRelease } from './install-release.js';

/** A control plane that serves one tarball at the release path and counts downloads. */
describe('installing a release', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let tarball: Buffer;
  let downloads = 0;
  let lastAuth: string | undefined;
  const key = generateReleaseSigningKey();
  let auth: { gatewayId: string; privateJwk: Awaited<ReturnType<typeof exportJWK>> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-install-release-'));
    const src = join(dir, 'src', 'ferry-agent-2.0.0-linux-x64');
    mkdirSync(src, { recursive: true });
    for (const f of ['node', 'ferry-agent.mjs']) writeFileSync(join(src, f), f);
    writeFileSync(join(src, 'VERSION'), 'version=2.0.0\n');
    execFileSync('tar', [
      '-C',
      join(dir, 'src'),
      '-czf',
      join(dir, 'r.tar.gz'),
      'ferry-agent-2.0.0-linux-x64',
    ]);
    tarball = await readFile(join(dir, 'r.tar.gz'));
    server = createServer((req, res) => {
      downloads++;
      lastAuth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    auth = { gatewayId: '5f0f7f3e-8a59-4d7e-9a86-3a0b4e1f2c11', privateJwk: await exportJWK(privateKey) };
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const signed = (version: string, sha256: string, size: number): ReleaseDescriptor => ({
    version,
    sha256,
    size,
    signature: signRelease(key.privateJwk, version, sha256),
  });
  const sha = () => createHash('sha256').update(tarball).digest('hex');
  const install = (dataDir: string, release: ReleaseDescriptor) =>
    installRelease({ dataDir, server: url, auth, signingKey: key.publicJwk, release });

  it('downloads with the agent token, checks it and unpacks it to releases/<version>', async () => {
    const dataDir = join(dir, 'ok');
    const target = await install(dataDir, signed('2.0.0', sha(), tarball.length));
    expect(target).toBe(join(dataDir, 'releases', '2.0.0'));
    expect((await readdir(target)).sort()).toEqual(['VERSION', 'ferry-agent.mjs', 'node']);
    expect(lastAuth).toMatch(/^Bearer ey/);
    expect(await readdir(join(dataDir, 'releases'))).toEqual(['2.0.0']);
  });

  it('refuses a descriptor the key did not sign before downloading anything', async () => {
    const before = downloads;
    const other = generateReleaseSigningKey();
    const forged = {
      ...signed('2.0.0', sha(), tarball.length),
      signature: signRelease(other.privateJwk, '2.0.0', sha()),
    };
    await expect(install(join(dir, 'forged'), forged)).rejects.toMatchObject({
      code: 'agent_release.rejected',
    });
    // A signature for 2.0.0 does not vouch for 3.0.0.
    const relabelled = { ...signed('2.0.0', sha(), tarball.length), version: '3.0.0' };
    await expect(install(join(dir, 'relabelled'), relabelled)).rejects.toMatchObject({
      code: 'agent_release.rejected',
    });
    await expect(
      installRelease({
        dataDir: join(dir, 'nokey'),
        server: url,
        auth,
        signingKey: undefined,
        release: forged,
      }),
    ).rejects.toMatchObject({ code: 'agent_release.rejected' });
    expect(downloads).toBe(before);
  });

  it('refuses bytes whose hash or size is not the signed one, leaving no release behind', async () => {
    const dataDir = join(dir, 'swapped');
    await expect(install(dataDir, signed('2.0.0', 'a'.repeat(64), tarball.length))).rejects.toMatchObject({
      code: 'agent_release.rejected',
    });
    await expect(install(dataDir, signed('2.0.0', sha(), tarball.length - 1))).rejects.toMatchObject({
      code: 'agent_release.rejected',
    });
    expect(await readdir(join(dataDir, 'releases'))).toEqual([]);
  });

  it('refuses a signed tarball that holds another version than it says', async () => {
    // The hash and signature are right, but the content is 2.0.0, not the 2.0.1 that was signed.
    const dataDir = join(dir, 'mislabelled');
    await expect(install(dataDir, signed('2.0.1', sha(), tarball.length))).rejects.toThrow(
      /not the one directory ferry-agent-2.0.1-linux-x64/,
    );
    expect(await readdir(join(dataDir, 'releases'))).toEqual([]);
  });
});

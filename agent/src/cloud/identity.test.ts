import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerryError } from '@ferry/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  discardIdentity,
  generateIdentity,
  identityPaths,
  loadIdentity,
  promoteNextIdentity,
  saveIdentity,
} from './identity.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-identity-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

describe('agent identity', () => {
  it('generates an Ed25519 key pair whose public half carries no private part', async () => {
    const id = await generateIdentity();
    expect(id.privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(typeof id.privateJwk.d).toBe('string');
    expect(id.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: id.privateJwk.x });
    expect((await generateIdentity()).publicJwk.x).not.toBe(id.publicJwk.x);
  });

  it('saves the private key 0600 in a 0700 directory, the public key next to it, and loads it back', async () => {
    const id = await generateIdentity();
    await saveIdentity(dir, id);
    const paths = identityPaths(dir);
    expect(paths.privatePath).toBe(join(dir, 'identity', 'agent.private.jwk'));
    expect(await modeOf(paths.dir)).toBe(0o700);
    expect(await modeOf(paths.privatePath)).toBe(0o600);
    const publicOnDisk = JSON.parse(await readFile(paths.publicPath, 'utf8')) as Record<string, unknown>;
    expect(publicOnDisk).toEqual(id.publicJwk);
    expect(publicOnDisk.d).toBeUndefined();
    expect(await loadIdentity(dir)).toEqual(id);
  });

  it('keeps the private key 0600 even under a permissive umask', async () => {
    const old = process.umask(0o000);
    try {
      await saveIdentity(dir, await generateIdentity());
    } finally {
      process.umask(old);
    }
    expect(await modeOf(identityPaths(dir).privatePath)).toBe(0o600);
  });

  it('returns undefined when there is no identity, and refuses a file that is not an Ed25519 private key', async () => {
    expect(await loadIdentity(dir)).toBeUndefined();
    const id = await generateIdentity();
    await saveIdentity(dir, id);
    await writeFile(identityPaths(dir).privatePath, JSON.stringify(id.publicJwk));
    const err = await loadIdentity(dir).catch((e: unknown) => e);
    expect(isFerryError(err, 'crypto.key_invalid')).toBe(true);
    await writeFile(identityPaths(dir).privatePath, 'not json');
    expect(isFerryError(await loadIdentity(dir).catch((e: unknown) => e), 'crypto.key_invalid')).toBe(true);
  });

  it('keeps a pending key apart until it is promoted', async () => {
    const current = await generateIdentity();
    const next = await generateIdentity();
    await saveIdentity(dir, current);
    await saveIdentity(dir, next, 'next');
    expect(await modeOf(identityPaths(dir).nextPrivatePath)).toBe(0o600);
    expect(await loadIdentity(dir)).toEqual(current);
    expect(await loadIdentity(dir, 'next')).toEqual(next);
    await promoteNextIdentity(dir);
    expect(await loadIdentity(dir)).toEqual(next);
    expect(await loadIdentity(dir, 'next')).toBeUndefined();
    expect(JSON.parse(await readFile(identityPaths(dir).publicPath, 'utf8'))).toEqual(next.publicJwk);
    expect(await modeOf(identityPaths(dir).privatePath)).toBe(0o600);
  });

  it('discards the identity (as a reenroll answer asks)', async () => {
    await saveIdentity(dir, await generateIdentity());
    await discardIdentity(dir);
    expect(await loadIdentity(dir)).toBeUndefined();
    await discardIdentity(dir); // nothing left: still fine
  });
});

import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError, PRIVATE_DIR_MODE } from '@ferry/shared';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { fsyncDir } from '../data-dir.js';
import { readOptionalText } from '../read-optional.js';

/**
 * The gateway's own Ed25519 key pair. The private key is made here and never leaves the machine:
 * the control plane only ever sees the public key, and every call is a JWT the agent signs itself.
 */
export interface AgentIdentity {
  publicJwk: JWK;
  privateJwk: JWK;
}

/** `current` is the key in use; `next` is a key being rotated in, kept so a retry reuses it. */
export type IdentitySlot = 'current' | 'next';

export function identityPaths(dataDir: string) {
  const dir = join(dataDir, 'identity');
  return {
    dir,
    privatePath: join(dir, 'agent.private.jwk'),
    publicPath: join(dir, 'agent.public.jwk'),
    nextPrivatePath: join(dir, 'agent.next.private.jwk'),
  };
}

function publicOf(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

function assertEd25519(jwk: unknown, file: string, needPrivate: boolean): JWK {
  const k = jwk as JWK | null;
  const ok =
    !!k &&
    typeof k === 'object' &&
    k.kty === 'OKP' &&
    k.crv === 'Ed25519' &&
    typeof k.x === 'string' &&
    (!needPrivate || typeof k.d === 'string');
  if (!ok)
    throw new FerryError(
      'crypto.key_invalid',
      `${file} is not an Ed25519 ${needPrivate ? 'private' : 'public'} JWK (kty "OKP", crv "Ed25519")`,
    );
  return k as JWK;
}

export async function generateIdentity(): Promise<AgentIdentity> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const privateJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
  return { privateJwk, publicJwk: publicOf(privateJwk) };
}

async function writeDurably(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    // The mode given to open() is filtered by the umask; make sure it is what we asked for.
    await fh.chmod(mode);
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/**
 * Saves the key pair: `current` to identity/agent.private.jwk (mode 0600) with agent.public.jwk (0600) next
 * to it, `next` to identity/agent.next.private.jwk (0600). The directory is 0700.
 */
export async function saveIdentity(
  dataDir: string,
  identity: AgentIdentity,
  slot: IdentitySlot = 'current',
): Promise<void> {
  const paths = identityPaths(dataDir);
  await mkdir(paths.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(paths.dir, PRIVATE_DIR_MODE);
  const privateText = `${JSON.stringify(identity.privateJwk)}\n`;
  if (slot === 'next') {
    await writeDurably(paths.nextPrivatePath, privateText, 0o600);
  } else {
    await writeDurably(paths.privatePath, privateText, 0o600);
    await writeDurably(paths.publicPath, `${JSON.stringify(identity.publicJwk)}\n`, 0o600);
  }
  await fsyncDir(paths.dir);
}

/** The saved key pair of `slot`, or undefined when there is none. */
export async function loadIdentity(
  dataDir: string,
  slot: IdentitySlot = 'current',
): Promise<AgentIdentity | undefined> {
  const paths = identityPaths(dataDir);
  const file = slot === 'next' ? paths.nextPrivatePath : paths.privatePath;
  const text = await readOptionalText(file);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FerryError('crypto.key_invalid', `${file} is not valid JSON`, { cause });
  }
  const privateJwk = assertEd25519(parsed, file, true);
  return { privateJwk, publicJwk: publicOf(privateJwk) };
}

/** Makes the `next` key the current one (after the control plane accepted it). */
export async function promoteNextIdentity(dataDir: string): Promise<AgentIdentity> {
  const next = await loadIdentity(dataDir, 'next');
  if (!next) throw new FerryError('crypto.key_invalid', 'there is no pending key to promote');
  const paths = identityPaths(dataDir);
  await writeDurably(paths.publicPath, `${JSON.stringify(next.publicJwk)}\n`, 0o600);
  await rename(paths.nextPrivatePath, paths.privatePath);
  await fsyncDir(paths.dir);
  return next;
}

/**
 * Forgets the gateway's identity, as the control plane asks with `reenroll`: the key pair is
 * deleted, so the agent cannot call the control plane again until it is enrolled anew. Receiving
 * and spooling are not affected.
 */
export async function discardIdentity(dataDir: string): Promise<void> {
  await rm(identityPaths(dataDir).dir, { recursive: true, force: true });
}

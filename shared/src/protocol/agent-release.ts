import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { z } from 'zod';

/**
 * Agent releases and upgrades. The control plane signs the release it serves with an Ed25519 key of
 * its own (not the recipient key: that one decrypts, this one vouches for code); a gateway learns the
 * public half at enrollment and installs only a release whose SHA-256 and version that key signed.
 */

/** Where an enrolled gateway downloads the release, with its agent token (the same bytes as /downloads). */
export const AGENT_RELEASE_API_PATH = '/api/v1/agents/release';

/** A release version as the bundle stamps it (agent/package.json's, possibly with a pre-release tag). */
export const releaseVersionSchema = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/, 'a version like 1.2.3 or 1.2.3-rc.1');

/** The release signing key's public half: an Ed25519 OKP JWK. */
export const releaseSigningKeySchema = z.looseObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type ReleaseSigningKey = z.infer<typeof releaseSigningKeySchema>;

/** What a gateway needs to fetch, check and install a release; the channel's `upgrade` carries it. */
export const releaseDescriptorSchema = z.object({
  version: releaseVersionSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(1),
  /** Ed25519 over releaseStatement(version, sha256), base64url. */
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
});
export type ReleaseDescriptor = z.infer<typeof releaseDescriptorSchema>;

/**
 * The bytes signed: the version and the hash together, so a validly signed old release cannot be
 * passed off as a newer version (nor the other way round), with a context string so the signature
 * means nothing to any other verifier.
 */
export function releaseStatement(version: string, sha256: string): Buffer {
  return Buffer.from(`ferry-agent-release/1\nversion=${version}\nsha256=${sha256}\n`, 'utf8');
}

/** A new release signing key pair, as JWKs (the private one carries `d`). */
export function generateReleaseSigningKey(): {
  privateJwk: Record<string, string>;
  publicJwk: ReleaseSigningKey;
} {
  const { privateKey } = generateKeyPairSync('ed25519');
  const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const { d: _d, ...pub } = privateJwk;
  return { privateJwk, publicJwk: releaseSigningKeySchema.parse(pub) };
}

export function signRelease(privateJwk: Record<string, string>, version: string, sha256: string): string {
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
  return sign(null, releaseStatement(version, sha256), key).toString('base64url');
}

/** True when `signature` is the key's over this version and hash; never throws. */
export function verifyReleaseSignature(
  publicJwk: ReleaseSigningKey,
  version: string,
  sha256: string,
  signature: string,
): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }, format: 'jwk' });
    return verify(null, releaseStatement(version, sha256), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/** The directory a release tarball holds, `ferry-agent-<version>-linux-x64/`; undefined for another name. */
export function releaseVersionFromDirName(name: string): string | undefined {
  const m = /^ferry-agent-(.+)-linux-x64\/?$/.exec(name);
  return m && releaseVersionSchema.safeParse(m[1]).success ? m[1] : undefined;
}

/**
 * Orders two release versions by their numeric dotted parts (1.10.0 after 1.9.2); at equal numbers a
 * pre-release (1.2.0-rc.1) comes before the release. Negative when `a` is older than `b`.
 */
export function compareReleaseVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core = '', pre] = v.split('+', 1)[0]!.split(/-(.*)/s);
    return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre.localeCompare(y.pre, 'en', { numeric: true });
}

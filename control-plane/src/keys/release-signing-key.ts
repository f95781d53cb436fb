import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  FerryError,
  generateReleaseSigningKey,
  PRIVATE_DIR_MODE,
  type ReleaseSigningKey,
  releaseSigningKeySchema,
  signRelease,
} from '@ferry/shared';

/** Signs agent releases; gateways hold the public half from their enrollment. */
export interface ReleaseSigner {
  publicJwk: ReleaseSigningKey;
  sign(version: string, sha256: string): string;
}

/**
 * The release signing key at `file` (beside the recipient key), made at first start like it. It is
 * never rotated by `keys rotate`: every enrolled gateway trusts this one key for code, and a new one
 * would strand them (a rotation would have to be pushed signed by the old key first).
 */
export async function loadOrCreateReleaseSigner(file: string): Promise<ReleaseSigner> {
  let privateJwk: Record<string, string>;
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new FerryError('config.unreadable', `cannot read the release signing key ${file}`, {
        cause: err,
      });
  }
  if (text === undefined) {
    privateJwk = generateReleaseSigningKey().privateJwk;
    await mkdir(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  } else {
    try {
      privateJwk = JSON.parse(text) as Record<string, string>;
    } catch (cause) {
      throw new FerryError('config.unreadable', `the release signing key ${file} is not JSON`, { cause });
    }
  }
  const { d, ...pub } = privateJwk;
  const parsed = releaseSigningKeySchema.safeParse(pub);
  if (!d || !parsed.success)
    throw new FerryError(
      'crypto.key_invalid',
      `the release signing key ${file} must be an Ed25519 private JWK`,
    );
  return {
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: parsed.data.x },
    sign: (version, sha256) => signRelease(privateJwk, version, sha256),
  };
}

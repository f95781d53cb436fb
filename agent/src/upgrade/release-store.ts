import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError, PRIVATE_DIR_MODE, type ReleaseSigningKey, releaseSigningKeySchema } from '@ferry/shared';
import { z } from 'zod';
import { fsyncDir } from '../data-dir.js';
import { readOptionalText } from '../read-optional.js';

/**
 * Releases installed by upgrades live in the data directory (DATA/releases/<version>/), the one place
 * the service may write (the install dir is read-only to it under systemd). The supervisor
 * (`ferry-agent run`, from the install dir, never replaced by an upgrade) runs what state.json names:
 * `current` (undefined: the installed program itself), or `pending` on trial.
 */
export function releasePaths(dataDir: string) {
  const root = join(dataDir, 'releases');
  return {
    root,
    state: join(root, 'state.json'),
    dirOf: (version: string) => join(root, version),
    signingKey: join(dataDir, 'identity', 'release-signing.public.jwk'),
  };
}

const stateSchema = z.object({
  /** The version confirmed healthy last; undefined: the installed program. */
  current: z.string().optional(),
  /** Installed and to be tried at the next start; promoted to current once it reports healthy. */
  pending: z.string().optional(),
  /** The last trial that failed and was rolled back, for `ferry-agent status` and the logs. */
  failed: z.object({ version: z.string(), reason: z.string(), at: z.string() }).optional(),
});
export type ReleaseState = z.infer<typeof stateSchema>;

export async function readReleaseState(dataDir: string): Promise<ReleaseState> {
  const text = await readOptionalText(releasePaths(dataDir).state);
  if (text === undefined) return {};
  const parsed = stateSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : {};
}

/** Written by rename and fsynced: a crash leaves the old state or the new one, never half. */
export async function writeReleaseState(dataDir: string, state: ReleaseState): Promise<void> {
  const paths = releasePaths(dataDir);
  await mkdir(paths.root, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${paths.state}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, paths.state);
  await fsyncDir(paths.root);
}

/** The release signing key the gateway learned at enrollment (or from its channel); undefined if none. */
export async function loadReleaseSigningKey(dataDir: string): Promise<ReleaseSigningKey | undefined> {
  const text = await readOptionalText(releasePaths(dataDir).signingKey);
  if (text === undefined) return undefined;
  const parsed = releaseSigningKeySchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new FerryError(
      'crypto.key_invalid',
      `${releasePaths(dataDir).signingKey} is not an Ed25519 public JWK`,
    );
  return parsed.data;
}

export async function saveReleaseSigningKey(dataDir: string, key: ReleaseSigningKey): Promise<void> {
  const file = releasePaths(dataDir).signingKey;
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ kty: key.kty, crv: key.crv, x: key.x })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

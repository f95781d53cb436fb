import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateRecipientKeyPair, PRIVATE_DIR_MODE } from '@ferry/shared';

/** `keys generate --out DIR`: the X25519 key pair every agent wraps its data keys for. */
export async function generateKeys(outDir: string): Promise<{ publicPath: string; privatePath: string }> {
  const { publicJwk, privateJwk } = await generateRecipientKeyPair();
  await mkdir(outDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const publicPath = join(outDir, 'recipient.public.jwk');
  const privatePath = join(outDir, 'recipient.private.jwk');
  await writeFile(publicPath, `${JSON.stringify(publicJwk, null, 2)}\n`, { mode: 0o644 });
  await writeFile(privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { publicPath, privatePath };
}

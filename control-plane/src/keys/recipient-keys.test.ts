import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveObjectKey, newDataKey, unwrapDataKey, wrapDataKey } from '@ferry/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateRecipientKeys, rotateRecipientKeys } from './recipient-keys.js';

describe('recipient key set', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is created once with mode 0600, and rotation keeps old keys able to decrypt', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-keys-'));
    const file = join(dir, 'keys', 'recipient.private.jwk');
    const first = await loadOrCreateRecipientKeys(file);
    expect(first.publicJwk.d).toBeUndefined();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateRecipientKeys(file)).publicJwk).toEqual(first.publicJwk);

    const epoch = newDataKey();
    const wrappedForOld = await wrapDataKey(epoch, first.publicJwk);
    const rotated = await rotateRecipientKeys(file);
    expect(rotated.publicJwk.kid).not.toBe(first.publicJwk.kid);
    expect(rotated.privateJwks).toHaveLength(2);
    const reloaded = await loadOrCreateRecipientKeys(file);
    expect(reloaded.publicJwk).toEqual(rotated.publicJwk);
    expect(deriveObjectKey(await unwrapDataKey(wrappedForOld, reloaded.privateJwks), 'o1')).toEqual(
      deriveObjectKey(epoch, 'o1'),
    );
    expect(JSON.parse(await readFile(file, 'utf8')).keys).toHaveLength(2);
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recipientKeyThumbprint } from './key-thumbprint.js';
import { generateRecipientKeyPair } from './keys.js';

describe('recipientKeyThumbprint', () => {
  it('is the RFC 7638 SHA-256 thumbprint, the same for the public and the private JWK', async () => {
    const { publicJwk, privateJwk } = await generateRecipientKeyPair();
    const canonical = JSON.stringify({ crv: 'X25519', kty: 'OKP', x: publicJwk.x });
    const expected = createHash('sha256').update(canonical).digest('base64url');
    expect(await recipientKeyThumbprint(publicJwk)).toBe(expected);
    expect(await recipientKeyThumbprint(privateJwk)).toBe(expected);
    expect(expected).toMatch(/^[\w-]{43}$/);
  });

  it('refuses a key that is not an X25519 recipient key', async () => {
    await expect(async () =>
      recipientKeyThumbprint({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }),
    ).rejects.toMatchObject({
      code: 'crypto.key_invalid',
    });
  });
});

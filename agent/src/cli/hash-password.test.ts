import { Readable, Writable } from 'node:stream';
import { isFerryError, parseIdentityPasswordHash } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { verifyIdentityPassword } from '../dimse/identity-password.js';
import { hashPasswordCommand } from './hash-password.js';

async function run(input: string): Promise<string> {
  let out = '';
  const stdout = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  });
  await hashPasswordCommand([], { stdin: Readable.from([Buffer.from(input)]), stdout });
  return out;
}

describe('ferry-agent hash-password', () => {
  it('prints a hash the setting takes and the gateway verifies; the newline typed after it is not part of it', async () => {
    const hash = (await run('s3cret pass\n')).trim();
    expect(parseIdentityPasswordHash(hash)).toMatchObject({ N: 32768, r: 8, p: 1 });
    expect(hash).not.toContain('s3cret');
    expect(await verifyIdentityPassword('s3cret pass', hash)).toBe(true);
    expect(await verifyIdentityPassword('s3cret pass\n', hash)).toBe(false);
  });

  it('refuses an empty password', async () => {
    const err = await run('\n').catch((e: unknown) => e);
    expect(isFerryError(err) && err.message).toBe('no password on standard input');
  });
});

import { describe, expect, it } from 'vitest';
import { parse } from './args.js';

const OPTIONS = {
  'key-thumbprint': { type: 'string' },
  'data-dir': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

describe('parse', () => {
  it('takes a value that starts with a dash (a base64url thumbprint does, one time in 64)', () => {
    const thumb = '-Xq0k3sS1k1fNwZbQy8uW2Nfw6sMbU0cVbHq1q3kD0E';
    expect(parse(['--key-thumbprint', thumb, '--data-dir', '/d'], OPTIONS).values).toMatchObject({
      'key-thumbprint': thumb,
      'data-dir': '/d',
    });
    expect(parse([`--key-thumbprint=${thumb}`], OPTIONS).values['key-thumbprint']).toBe(thumb);
  });

  it('still says so when an option is given no value but another option', () => {
    expect(() => parse(['--key-thumbprint', '--data-dir', '/d'], OPTIONS)).toThrow(/key-thumbprint/);
  });

  it('does not hand a boolean option the next word', () => {
    expect(() => parse(['--dry-run', '-x'], OPTIONS)).toThrow();
  });
});

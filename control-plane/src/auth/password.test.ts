import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import {
  hashPassword,
  needsRehash,
  PRODUCTION_PASSWORD_COST,
  passwordCost,
  setPasswordCost,
  verifyPassword,
} from './password.js';

describe('password hashing', () => {
  it('hashes with scrypt N=2^17, r=8, p=1, verifies the right password only, with a fresh salt each time', async () => {
    // Nothing here lowers the cost (the test kit does, for route tests): this is production's default.
    expect(passwordCost()).toBe(PRODUCTION_PASSWORD_COST);
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$131072\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(a).not.toBe(b);
    expect(needsRehash(a)).toBe(false);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('correct horse battery', 'plain-text')).toBe(false);
  });

  it('verifies a hash stored with older parameters by the parameters it carries, and asks for a rehash', async () => {
    const old = await hashPassword('correct horse battery', { N: 1 << 15, r: 8, p: 1 });
    expect(old).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', old)).toBe(true);
    expect(await verifyPassword('wrong horse battery', old)).toBe(false);
    expect(needsRehash(old)).toBe(true);
  });

  it('hashes at a lowered cost once set (tests only), still verifies production hashes, and bounds the cost', async () => {
    const production = await hashPassword('correct horse battery');
    setPasswordCost(10);
    try {
      const cheap = await hashPassword('correct horse battery');
      expect(cheap).toMatch(/^scrypt\$1024\$8\$1\$/);
      expect(await verifyPassword('correct horse battery', cheap)).toBe(true);
      expect(await verifyPassword('correct horse battery', production)).toBe(true);
      expect(await verifyPassword('correct horse batterY', production)).toBe(false);
      for (const bad of [9, 21, 12.5, Number.NaN]) {
        let error: unknown;
        try {
          setPasswordCost(bad);
        } catch (err) {
          error = err;
        }
        expect(isFerryError(error, 'config.invalid'), String(bad)).toBe(true);
      }
      expect(passwordCost()).toBe(10);
    } finally {
      setPasswordCost(PRODUCTION_PASSWORD_COST);
    }
    expect(await hashPassword('pw')).toMatch(/^scrypt\$131072\$8\$1\$/);
  });

  it('refuses stored parameters out of bounds instead of allocating for them', async () => {
    const good = await hashPassword('pw', { N: 1 << 10, r: 8, p: 1 });
    const [, , , , salt, key] = good.split('$');
    for (const params of ['1073741824$8$1', '1000$8$1', '1024$64$1', '1024$8$99', 'x$8$1'])
      expect(await verifyPassword('pw', `scrypt$${params}$${salt}$${key}`), params).toBe(false);
  });
});

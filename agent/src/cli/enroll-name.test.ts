import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { enrollmentName } from './enroll.js';

describe('ferry-agent enroll --name', () => {
  it('is optional, and trimmed by the same rules the control plane applies', () => {
    expect(enrollmentName(undefined)).toBeUndefined();
    expect(enrollmentName('  CT room 3 ')).toBe('CT room 3');
    expect(enrollmentName('x'.repeat(64))).toHaveLength(64);
  });

  it('refuses an empty, a too long or a control-character name before the token is spent', () => {
    for (const bad of ['   ', 'x'.repeat(65), 'a\tb']) {
      let caught: unknown;
      try {
        enrollmentName(bad);
      } catch (err) {
        caught = err;
      }
      expect(isFerryError(caught) && caught.code).toBe('config.invalid');
      expect((caught as Error).message).toMatch(/^--name: name must/);
    }
  });
});

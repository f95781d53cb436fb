import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles its ceiling per attempt from 1 s, capped at 5 min', () => {
    const top = () => 0.999999;
    expect(backoffDelay(0, DEFAULT_BACKOFF, top)).toBe(999);
    expect(backoffDelay(1, DEFAULT_BACKOFF, top)).toBe(1999);
    expect(backoffDelay(4, DEFAULT_BACKOFF, top)).toBe(15_999);
    expect(backoffDelay(8, DEFAULT_BACKOFF, top)).toBe(255_999);
    expect(backoffDelay(9, DEFAULT_BACKOFF, top)).toBe(299_999);
    expect(backoffDelay(1000, DEFAULT_BACKOFF, top)).toBe(299_999);
  });

  it('draws uniformly from zero to the ceiling (full jitter)', () => {
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(4000);
    const samples = Array.from({ length: 2000 }, () => backoffDelay(2, { baseMs: 100, capMs: 10_000 }));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(400);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(170);
    expect(mean).toBeLessThan(230);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, { baseMs: 1000, capMs: 5000 }, () => 0.5)).toBe(500);
  });
});

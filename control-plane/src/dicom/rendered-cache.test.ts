import { describe, expect, it } from 'vitest';
import { RenderedCache } from './rendered-cache.js';

describe('RenderedCache', () => {
  const image = (bytes: number, fill = 1) => Buffer.alloc(bytes, fill);

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const cache = new RenderedCache(2, 1000);
    cache.set('a', image(10));
    cache.set('b', image(10));
    expect(cache.get('a')).toBeDefined(); // a is now the most recent
    cache.set('c', image(10));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it('keeps at most maxBytes, and never holds an image larger than that', () => {
    const cache = new RenderedCache(100, 100);
    cache.set('a', image(40));
    cache.set('b', image(40));
    cache.set('c', image(40));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(2);
    cache.set('huge', image(101));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.size).toBe(2);
    // Replacing an entry counts its new size only.
    cache.set('b', image(61, 2));
    expect(cache.get('b')?.[0]).toBe(2);
    expect(cache.get('c')).toBeUndefined();
    expect(cache.size).toBe(1);
  });
});

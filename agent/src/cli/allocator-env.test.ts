import { describe, expect, it } from 'vitest';
import { withAllocatorDefaults } from './allocator-env.js';

describe('the allocator environment the agent starts with', () => {
  it('caps glibc at two malloc arenas and keeps everything else', () => {
    expect(withAllocatorDefaults({ PATH: '/bin' })).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '2' });
  });
  it("leaves an operator's own value alone", () => {
    expect(withAllocatorDefaults({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX).toBe('8');
  });
});

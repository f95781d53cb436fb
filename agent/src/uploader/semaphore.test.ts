import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Semaphore resized live', () => {
  it('admits waiters at once when the limit grows', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const granted: number[] = [];
    void sem.acquire().then(() => granted.push(1));
    void sem.acquire().then(() => granted.push(2));
    await tick();
    expect(granted).toEqual([]);
    sem.setLimit(3);
    await tick();
    expect(granted).toEqual([1, 2]);
    expect(sem.inUse).toBe(3);
  });

  it('lets holders finish when the limit shrinks, and admits nobody until under it', async () => {
    const sem = new Semaphore(3);
    const releases = await Promise.all([sem.acquire(), sem.acquire(), sem.acquire()]);
    sem.setLimit(1);
    let granted = false;
    void sem.acquire().then(() => {
      granted = true;
    });
    releases[0]!();
    await tick();
    expect(granted).toBe(false);
    releases[1]!();
    await tick();
    expect(granted).toBe(false);
    releases[2]!();
    await tick();
    expect(granted).toBe(true);
    expect(sem.inUse).toBe(1);
  });
});

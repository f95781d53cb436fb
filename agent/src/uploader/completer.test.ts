import { FerryError, type UploadCompleteResult } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { Completer } from './completer.js';
import type { UploadApi } from './upload-client.js';

const sha = 'a'.repeat(64);
const item = (n: number) => ({
  objectId: `object-${String(n).padStart(12, '0')}`,
  uploadId: crypto.randomUUID(),
  objectSha256: sha,
});

/** An API whose complete() records its batches and answers `retry` for every object. */
function recordingApi(refuse?: (ids: string[]) => boolean) {
  const calls: string[][] = [];
  const verifyBytes: (number | undefined)[] = [];
  const api: UploadApi = {
    offer: () => Promise.reject(new Error('unused')),
    putPart: () => Promise.reject(new Error('unused')),
    async complete(objects, _signal, bytes) {
      const ids = objects.map((o) => o.objectId);
      calls.push(ids);
      verifyBytes.push(bytes);
      await new Promise((r) => setTimeout(r, 10));
      if (refuse?.(ids)) throw new FerryError('request.invalid', 'refused', { details: { status: 400 } });
      return ids.map(
        (objectId): UploadCompleteResult => ({ objectId, status: 'retry', code: 'x', message: 'y' }),
      );
    },
  };
  return { api, calls, verifyBytes };
}

describe('Completer', () => {
  it('sends the first two completions at once and gathers the rest while they are out', async () => {
    const { api, calls } = recordingApi();
    const c = new Completer(api);
    const all = Array.from({ length: 6 }, (_, i) => c.complete(item(i), 1000));
    await Promise.all(all);
    expect(calls.map((b) => b.length)).toEqual([1, 1, 4]);
  });

  it('keeps one call under 256 MiB of objects to verify', async () => {
    const { api, calls } = recordingApi();
    const c = new Completer(api);
    const first = c.complete(item(0), 10);
    const big = [1, 2, 3].map((i) => c.complete(item(i), 200 << 20));
    await Promise.all([first, ...big]);
    expect(calls.map((b) => b.length)).toEqual([1, 1, 1, 1]);
  });

  it('tells each call how many bytes it verifies (its deadline grows with them)', async () => {
    const { api, verifyBytes } = recordingApi();
    const c = new Completer(api);
    await Promise.all([10, 20, 30, 40].map((bytes, i) => c.complete(item(i), bytes)));
    expect(verifyBytes).toEqual([10, 20, 70]);
  });

  it('splits a batch refused as a whole to find the object at fault', async () => {
    const bad = item(3).objectId;
    const { api, verifyBytes } = recordingApi((ids) => ids.includes(bad));
    const c = new Completer(api);
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => c.complete(item(i), 1)));
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    // Two calls of one, then the four gathered meanwhile; the halves are sized by their own objects.
    expect(verifyBytes).toEqual([1, 1, 4, 2, 1, 1, 2]);
  });
});

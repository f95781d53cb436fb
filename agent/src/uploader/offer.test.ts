import { FerryError, type UploadOfferObject, type UploadOfferResult } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { offerInHalves } from './offer.js';

const offer = (n: number): UploadOfferObject => ({
  objectId: `object-${String(n).padStart(12, '0')}`,
  sopInstanceUid: `1.2.3.${n}`,
  sha256: 'a'.repeat(64),
  plainBytes: 100,
  objectBytes: 120,
  receivedAt: '2026-01-01T00:00:00.000Z',
});

/** An offer API that refuses, as a whole, every batch holding `bad`, and records its batches. */
function refusingApi(bad: string) {
  const calls: string[][] = [];
  return {
    calls,
    async offer(objects: UploadOfferObject[]): Promise<UploadOfferResult[]> {
      const ids = objects.map((o) => o.objectId);
      calls.push(ids);
      if (ids.includes(bad)) throw new FerryError('request.invalid', 'refused', { details: { status: 400 } });
      return ids.map((objectId) => ({ objectId, status: 'refused', code: 'x', message: 'y' }));
    },
  };
}

describe('offerInHalves', () => {
  it('splits a batch refused as a whole until the object at fault is alone', async () => {
    const offers = Array.from({ length: 5 }, (_, i) => offer(i));
    const bad = offers[3]!.objectId;
    const api = refusingApi(bad);
    const refused: { id: string; code: string }[] = [];
    const out = await offerInHalves(api, offers, new AbortController().signal, async (id, code) => {
      refused.push({ id, code });
    });
    expect(refused).toEqual([{ id: bad, code: 'request.invalid' }]);
    expect([...out.keys()].sort()).toEqual(offers.map((o) => o.objectId).filter((id) => id !== bad));
    expect(api.calls.map((c) => c.length)).toEqual([5, 3, 2, 1, 1]);
  });

  it('throws a transient failure of the call without splitting', async () => {
    const calls: number[] = [];
    const api = {
      offer(objects: UploadOfferObject[]): Promise<UploadOfferResult[]> {
        calls.push(objects.length);
        return Promise.reject(new FerryError('control.unreachable', 'down'));
      },
    };
    const refuse = () => Promise.reject(new Error('not expected'));
    await expect(
      offerInHalves(api, [offer(1), offer(2)], new AbortController().signal, refuse),
    ).rejects.toThrow('down');
    expect(calls).toEqual([2]);
  });
});

import { describe, expect, it } from 'vitest';
import { type FuzzCase, fuzzSeed, MUTATIONS, PduFuzzer } from './pdu-fuzzer.js';
import { PduType } from './raw-scu.js';
import { seededRandom } from './seeded-random.js';

const OPTS = { maxPduLength: 65536 };
const bytesOf = (c: FuzzCase) => Buffer.concat(c.writes).toString('hex');
const cases = (seed: number, n: number) => {
  const f = new PduFuzzer(seed, OPTS);
  return Array.from({ length: n }, () => f.next());
};

describe('PduFuzzer', () => {
  it('gives the same cases, byte for byte, for the same seed', () => {
    const a = cases(1234, 300);
    const b = cases(1234, 300);
    expect(a.map(bytesOf)).toEqual(b.map(bytesOf));
    expect(a.map((c) => [c.mutation, c.description, c.dribbleMs])).toEqual(
      b.map((c) => [c.mutation, c.description, c.dribbleMs]),
    );
    expect(seededRandom(7)()).toBe(seededRandom(7)());
  });

  it('gives different cases for another seed, and draws every kind of mutation', () => {
    const a = cases(1234, 300);
    const b = cases(4321, 300);
    expect(a.map(bytesOf)).not.toEqual(b.map(bytesOf));
    expect(new Set(a.map((c) => c.mutation))).toEqual(new Set(MUTATIONS));
  });

  it('changes the bytes of the valid sequence it starts from, each kind in its own way', () => {
    const valid = new Set<number>(Object.values(PduType));
    for (let seed = 1; seed <= 60; seed++) {
      // The valid sequence and the PDU to break are drawn before the mutation, so a forced 'none'
      // from the same seed is the sequence the mutation started from.
      const same = (m: (typeof MUTATIONS)[number]) => new PduFuzzer(seed, OPTS).next(m);
      const orig = same('none');
      const whole = Buffer.concat(orig.writes);
      expect(orig.writes[0]![0]).toBe(PduType.AssociateRq);
      for (const m of MUTATIONS) {
        if (m === 'none' || m === 'slowloris') continue;
        expect(bytesOf(same(m)), `${m} (seed ${seed})`).not.toBe(whole.toString('hex'));
      }
      const diffs = (c: FuzzCase) =>
        c.writes.flatMap((w, i) =>
          [...w].flatMap((b, off) => (b === orig.writes[i]![off] ? [] : [[i, off] as const])),
        );
      const wrong = same('wrong-type');
      expect(diffs(wrong)).toHaveLength(1);
      expect(diffs(wrong)[0]![1]).toBe(0);
      for (const m of ['short-length', 'long-length', 'huge-length'] as const) {
        const d = diffs(same(m));
        expect(d.length, m).toBeGreaterThan(0);
        expect(
          d.every(([, off]) => off >= 2 && off < 6),
          m,
        ).toBe(true);
      }
      expect(same('huge-length').writes.some((w) => w.readUInt32BE(2) > OPTS.maxPduLength)).toBe(true);
      const cut = Buffer.concat(same('truncated').writes);
      expect(cut.length).toBeLessThan(whole.length);
      expect(whole.subarray(0, cut.length).equals(cut)).toBe(true);
      const big = same('oversized').writes.at(-1)!;
      expect(big[0]).toBe(PduType.PData);
      expect(big.readUInt32BE(2)).toBe(big.length - 6);
      expect(big.length - 6).toBeGreaterThan(OPTS.maxPduLength);
      const flipped = same('bit-flip-rq-items');
      expect(diffs(flipped).every(([i, off]) => i === 0 && off >= 6 + 68)).toBe(true);
      const pdv = same('bit-flip-pdv');
      expect(pdv.writes.slice(1).some((w) => w[0] === PduType.PData || !valid.has(w[0]!))).toBe(true);
      const slow = same('slowloris');
      expect(bytesOf(slow)).toBe(whole.toString('hex'));
      expect(slow.dribbleMs).toBeGreaterThanOrEqual(100);
    }
  });

  it('takes its seed from FERRY_FUZZ_SEED, and refuses a bad one', () => {
    expect(fuzzSeed({ FERRY_FUZZ_SEED: '42' })).toBe(42);
    const drawn = fuzzSeed({});
    expect(Number.isInteger(drawn) && drawn >= 0 && drawn <= 0xffff_ffff).toBe(true);
    expect(() => fuzzSeed({ FERRY_FUZZ_SEED: 'abc' })).toThrow(/FERRY_FUZZ_SEED/);
  });
});

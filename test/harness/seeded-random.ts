/** A generator of numbers in [0, 1) that replays from its seed, so a failing run reproduces. */
export type Rng = () => number;

/** mulberry32: small, fast and good enough to pick mutations, payload bytes and chaos moments. */
export function seededRandom(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

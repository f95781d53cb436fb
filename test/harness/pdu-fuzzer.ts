// A seeded generator of hostile DICOM upper-layer traffic: valid PDU sequences built with raw-scu's
// encoders, then broken one way each (wrong type, wrong length, truncated, oversized, random bytes,
// bit flips inside A-ASSOCIATE-RQ items or P-DATA PDVs, PDUs out of order, or dribbled slowly).
// The same seed gives the same cases byte for byte, so a failure reproduces from its seed.
import {
  encodeAbort,
  encodeAssociateRq,
  encodeCEchoRq,
  encodeCStoreRq,
  encodePData,
  encodeReleaseRq,
  PduType,
  Uids,
  verificationContext,
} from './raw-scu.js';
import { type Rng, seededRandom } from './seeded-random.js';

/** FERRY_FUZZ_SEED when set (to reproduce a run), else a fresh random seed. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FERRY_FUZZ_SEED;
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 0x1_0000_0000);
  const seed = Number(raw);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw new Error(`FERRY_FUZZ_SEED must be an integer from 0 to 4294967295, not "${raw}"`);
  return seed;
}

export const MUTATIONS = [
  'none',
  'wrong-type',
  'short-length',
  'long-length',
  'huge-length',
  'truncated',
  'oversized',
  'random-bytes',
  'bit-flip-rq-items',
  'bit-flip-pdv',
  'wrong-order',
  'slowloris',
] as const;

export type Mutation = (typeof MUTATIONS)[number];

export interface FuzzCase {
  /** Position in the sequence this fuzzer generated (0-based). */
  index: number;
  mutation: Mutation;
  /** Which valid sequence was mutated, and how; for failure messages. */
  description: string;
  /** Bytes to write, in order (a pause between writes lets the agent react to each). */
  writes: Buffer[];
  /** Set for slowloris: write one byte at a time with this pause, until the agent hangs up. */
  dribbleMs?: number;
}

export interface FuzzerOptions {
  /** The agent's maxPduLength: oversized and huge lengths are built around it. */
  maxPduLength: number;
  /** Default 'GATEWAY'. */
  calledAe?: string;
  /** Default 'FUZZER'. */
  callingAe?: string;
}

interface Base {
  name: string;
  pdus: Buffer[];
}

const STORE_CONTEXT = {
  id: 3,
  abstractSyntax: Uids.SecondaryCaptureImageStorage,
  transferSyntaxes: [Uids.ExplicitVRLittleEndian],
};

/** Seeded source of fuzz cases; `next()` is deterministic for a given seed and options. */
export class PduFuzzer {
  private readonly rand: Rng;
  private count = 0;
  private readonly calledAe: string;
  private readonly callingAe: string;

  constructor(
    readonly seed: number,
    private readonly opts: FuzzerOptions,
  ) {
    this.rand = seededRandom(seed);
    this.calledAe = opts.calledAe ?? 'GATEWAY';
    this.callingAe = opts.callingAe ?? 'FUZZER';
  }

  /** The next case; `mutation` forces a kind (the unit test uses it), otherwise one is drawn. */
  next(mutation?: Mutation): FuzzCase {
    const kind = mutation ?? this.pick(MUTATIONS);
    const base = this.base();
    const index = this.count++;
    const at = this.int(0, base.pdus.length - 1);
    const mutated = this.mutate(kind, base, at);
    return { index, mutation: kind, ...mutated };
  }

  // ------------------------------------------------------------ valid sequences

  private base(): Base {
    const rq = (contexts = [verificationContext()]) =>
      encodeAssociateRq({
        calledAe: this.calledAe,
        callingAe: this.callingAe,
        contexts,
        maxPduLength: this.pick([0, 16384, this.opts.maxPduLength]),
      });
    const echo = encodePData([
      { contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(this.int(1, 0xffff)) },
    ]);
    switch (this.int(0, 3)) {
      case 0:
        return { name: 'A-ASSOCIATE-RQ', pdus: [rq()] };
      case 1:
        return { name: 'association, C-ECHO, release', pdus: [rq(), echo, encodeReleaseRq()] };
      case 2: {
        const command = encodeCStoreRq({
          messageId: this.int(1, 0xffff),
          sopClassUid: STORE_CONTEXT.abstractSyntax,
          sopInstanceUid: `2.25.${this.int(1, 0x7fff_ffff)}`,
        });
        const dataset = this.bytes(this.int(16, 2048));
        return {
          name: 'association, C-STORE with a dataset',
          pdus: [
            rq([verificationContext(), STORE_CONTEXT]),
            encodePData([{ contextId: STORE_CONTEXT.id, isCommand: true, isLast: true, data: command }]),
            encodePData([{ contextId: STORE_CONTEXT.id, isCommand: false, isLast: true, data: dataset }]),
          ],
        };
      }
      default:
        return { name: 'association, A-ABORT', pdus: [rq(), encodeAbort()] };
    }
  }

  // ------------------------------------------------------------ mutations

  private mutate(kind: Mutation, base: Base, at: number): Omit<FuzzCase, 'index' | 'mutation'> {
    const pdus: Buffer[] = base.pdus.map((p) => Buffer.from(p));
    const target = pdus[at]!;
    const done = (how: string, writes: Buffer[] = pdus) => ({ description: `${base.name}: ${how}`, writes });
    switch (kind) {
      case 'none':
        return done('unchanged');
      case 'wrong-type': {
        // Mostly types no PDU has; sometimes a real type in the wrong place.
        const type = this.rand() < 0.7 ? this.pick([0x00, ...range(0x08, 0xff)]) : this.int(1, 7);
        const was = target[0]!;
        target[0] = type === was ? (type % 0xff) + 1 : type;
        return done(`PDU ${at} type 0x${was.toString(16)} -> 0x${target[0]!.toString(16)}`);
      }
      case 'short-length':
      case 'long-length': {
        const len = target.readUInt32BE(2);
        const delta = this.int(1, 64);
        const next = kind === 'short-length' ? Math.max(0, len - delta) : len + delta;
        target.writeUInt32BE(next, 2);
        return done(`PDU ${at} length ${len} -> ${next}`);
      }
      case 'huge-length': {
        const next = this.pick([0xffff_ffff, 0x8000_0000, this.opts.maxPduLength + 1, (1 << 20) + 1]);
        target.writeUInt32BE(next >>> 0, 2);
        return done(`PDU ${at} length -> ${next}`);
      }
      case 'truncated': {
        const cut = this.int(0, target.length - 1);
        return done(`PDU ${at} cut after ${cut} of ${target.length} bytes`, [
          ...pdus.slice(0, at),
          target.subarray(0, cut),
        ]);
      }
      case 'oversized': {
        // A P-DATA-TF PDU whose body really is longer than the agent's maximum, sent whole.
        const data = this.bytes(this.opts.maxPduLength + this.int(1, 4096));
        const big = encodePData([{ contextId: 1, isCommand: false, isLast: true, data }]);
        return done(`P-DATA-TF of ${big.length - 6} bytes at PDU ${at}`, [...pdus.slice(0, at), big]);
      }
      case 'random-bytes': {
        const junk = this.bytes(this.int(1, 4096));
        return done(`${junk.length} random bytes at PDU ${at}`, [...pdus.slice(0, at), junk]);
      }
      case 'bit-flip-rq-items': {
        // The items start after the 6-byte header and the 68 fixed bytes.
        const rq = pdus[0]!;
        const flips = this.flipBits(rq, 6 + 68, rq.length);
        return done(`A-ASSOCIATE-RQ items: bits flipped at ${flips.join(',')}`);
      }
      case 'bit-flip-pdv': {
        const i = pdus.findIndex((p, n) => n > 0 && p[0] === PduType.PData);
        if (i < 0) {
          // No P-DATA in this sequence: flip inside an echo PDV sent straight after the RQ.
          const echo = encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(1) }]);
          const flips = this.flipBits(echo, 6, echo.length);
          return done(`appended C-ECHO PDV: bits flipped at ${flips.join(',')}`, [pdus[0]!, echo]);
        }
        const flips = this.flipBits(pdus[i]!, 6, pdus[i]!.length);
        return done(`PDU ${i} PDV: bits flipped at ${flips.join(',')}`);
      }
      case 'wrong-order': {
        const rest = pdus.slice(1);
        const pick = this.int(0, 2);
        if (pick === 0 && rest.length > 0)
          return done('PDUs after the RQ sent before it', [...rest, pdus[0]!]);
        if (pick === 1) return done('A-ASSOCIATE-RQ sent twice', [pdus[0]!, pdus[0]!, ...rest]);
        return done('A-RELEASE-RQ before the association', [encodeReleaseRq(), ...pdus]);
      }
      case 'slowloris':
        return { ...done('dribbled one byte at a time'), dribbleMs: this.int(100, 250) };
    }
  }

  /** Flips 1 to 8 bits at random offsets in [from, to); returns the byte offsets. */
  private flipBits(buf: Buffer, from: number, to: number): number[] {
    const offsets: number[] = [];
    if (to <= from) return offsets;
    for (let n = this.int(1, 8); n > 0; n--) {
      const off = this.int(from, to - 1);
      buf[off] = buf[off]! ^ (1 << this.int(0, 7));
      offsets.push(off);
    }
    return offsets;
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1));
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc((n + 3) & ~3);
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.floor(this.rand() * 0x1_0000_0000), i);
    return b.subarray(0, n);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

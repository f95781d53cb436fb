import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../test/harness/seeded-random.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import { PduType } from './pdu-types.js';

type Event =
  | { kind: 'pdu'; type: number; body: string }
  | { kind: 'pdv'; contextId: number; isCommand: boolean; isLast: boolean; length: number; data: string }
  | { kind: 'malformed'; reason: string; tooLarge: boolean };

/** Records sink calls; consecutive pdvData slices of one PDV are merged so chunkings compare equal. */
class Recorder implements PduSink {
  readonly events: Event[] = [];
  readonly slices: Buffer[] = [];
  private open: {
    contextId: number;
    isCommand: boolean;
    isLast: boolean;
    length: number;
    parts: Buffer[];
  } | null = null;
  private violations: string[] = [];

  pdu(type: number, body: Buffer): void {
    if (this.open) this.violations.push('pdu inside a PDV');
    this.events.push({ kind: 'pdu', type, body: body.toString('hex') });
  }
  pdvStart(contextId: number, isCommand: boolean, isLast: boolean, length: number): void {
    if (this.open) this.violations.push('pdvStart inside a PDV');
    this.open = { contextId, isCommand, isLast, length, parts: [] };
  }
  pdvData(slice: Buffer): void {
    if (!this.open) this.violations.push('pdvData outside a PDV');
    if (slice.length === 0) this.violations.push('empty pdvData slice');
    this.open?.parts.push(slice);
    this.slices.push(slice);
  }
  pdvEnd(): void {
    const o = this.open;
    if (!o) {
      this.violations.push('pdvEnd without pdvStart');
      return;
    }
    const data = Buffer.concat(o.parts);
    if (data.length !== o.length) this.violations.push(`PDV announced ${o.length} bytes, got ${data.length}`);
    const { contextId, isCommand, isLast, length } = o;
    this.events.push({ kind: 'pdv', contextId, isCommand, isLast, length, data: data.toString('hex') });
    this.open = null;
  }
  malformed(reason: string, tooLarge: boolean): void {
    this.events.push({ kind: 'malformed', reason, tooLarge });
  }
  check(): Event[] {
    expect(this.violations).toEqual([]);
    return this.events;
  }
}

const LIMITS = { maxPDataLength: 16384, maxControlPduLength: 1 << 20 };

function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

function pdv(contextId: number, control: number, data: Buffer, itemLength = data.length + 2): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(itemLength, 0);
  head[4] = contextId;
  head[5] = control;
  return Buffer.concat([head, data]);
}

function pattern(n: number, seed: number): Buffer {
  const r = seededRandom(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function run(chunks: Buffer[], limits = LIMITS): Recorder {
  const rec = new Recorder();
  const reader = new PduReader(rec, limits);
  for (const c of chunks) reader.push(c);
  return rec;
}

// A realistic stream: associate, a C-STORE command in two PDVs, a dataset in several PDVs spread over
// P-DATA PDUs (two PDVs in one PDU, an empty PDV), release, and abort.
const associateBody = pattern(180, 1);
const command = pattern(90, 2);
const dataset = pattern(1500, 3);
const STREAM = Buffer.concat([
  pdu(PduType.AssociateRq, associateBody),
  pdu(
    PduType.PData,
    Buffer.concat([pdv(1, 0x01, command.subarray(0, 40)), pdv(1, 0x03, command.subarray(40))]),
  ),
  pdu(PduType.PData, pdv(1, 0x00, dataset.subarray(0, 500))),
  pdu(
    PduType.PData,
    Buffer.concat([pdv(1, 0x00, dataset.subarray(500, 501)), pdv(1, 0x00, Buffer.alloc(0))]),
  ),
  pdu(
    PduType.PData,
    Buffer.concat([pdv(1, 0x00, dataset.subarray(501, 1200)), pdv(3, 0x02, dataset.subarray(1200))]),
  ),
  pdu(PduType.ReleaseRq, Buffer.alloc(4)),
  pdu(PduType.ReleaseRp, Buffer.alloc(0)),
  pdu(PduType.Abort, Buffer.from([0, 0, 2, 0])),
]);

function expectedEvents(): Event[] {
  const d = (b: Buffer) => b.toString('hex');
  const p = (contextId: number, control: number, data: Buffer): Event => ({
    kind: 'pdv',
    contextId,
    isCommand: (control & 1) !== 0,
    isLast: (control & 2) !== 0,
    length: data.length,
    data: d(data),
  });
  return [
    { kind: 'pdu', type: PduType.AssociateRq, body: d(associateBody) },
    p(1, 0x01, command.subarray(0, 40)),
    p(1, 0x03, command.subarray(40)),
    p(1, 0x00, dataset.subarray(0, 500)),
    p(1, 0x00, dataset.subarray(500, 501)),
    p(1, 0x00, Buffer.alloc(0)),
    p(1, 0x00, dataset.subarray(501, 1200)),
    p(3, 0x02, dataset.subarray(1200)),
    { kind: 'pdu', type: PduType.ReleaseRq, body: '00000000' },
    { kind: 'pdu', type: PduType.ReleaseRp, body: '' },
    { kind: 'pdu', type: PduType.Abort, body: '00000200' },
  ];
}

function datasetBytes(rec: Recorder): Buffer {
  const parts: Buffer[] = [];
  for (const e of rec.check()) if (e.kind === 'pdv' && !e.isCommand) parts.push(Buffer.from(e.data, 'hex'));
  return Buffer.concat(parts);
}

describe('PduReader framing', () => {
  it('parses a whole stream pushed at once', () => {
    const rec = run([STREAM]);
    expect(rec.check()).toEqual(expectedEvents());
    expect(datasetBytes(rec).equals(dataset)).toBe(true);
  });

  it('gives the same events when the stream is split at every byte boundary', () => {
    const expected = expectedEvents();
    for (let i = 0; i <= STREAM.length; i++) {
      const rec = run([STREAM.subarray(0, i), STREAM.subarray(i)]);
      const got = rec.check();
      if (JSON.stringify(got) !== JSON.stringify(expected)) expect(got, `split at ${i}`).toEqual(expected);
    }
  });

  it('gives the same events when split at every pair of boundaries, and fed one byte at a time', () => {
    const expected = JSON.stringify(expectedEvents());
    for (let i = 0; i < STREAM.length; i += 7) {
      for (let j = i; j <= STREAM.length; j += 13) {
        const got = run([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]).check();
        if (JSON.stringify(got) !== expected) expect(got, `split at ${i},${j}`).toEqual(JSON.parse(expected));
      }
    }
    const bytes: Buffer[] = [];
    for (let i = 0; i < STREAM.length; i++) bytes.push(STREAM.subarray(i, i + 1));
    expect(run(bytes).check()).toEqual(JSON.parse(expected));
  });

  it('gives the same events for 500 random chunkings, dataset slices in order and zero-copy', () => {
    const expected = JSON.stringify(expectedEvents());
    const r = seededRandom(42);
    for (let trial = 0; trial < 500; trial++) {
      const chunks: Buffer[] = [];
      let off = 0;
      const maxChunk = 1 + Math.floor(r() * (trial % 2 === 0 ? 16 : 900));
      while (off < STREAM.length) {
        const n = 1 + Math.floor(r() * maxChunk);
        // Fresh copies, so slices can be traced back to the chunk they came from.
        chunks.push(Buffer.from(STREAM.subarray(off, off + n)));
        off += n;
      }
      const rec = run(chunks);
      const got = rec.check();
      if (JSON.stringify(got) !== expected) expect(got, `trial ${trial}`).toEqual(JSON.parse(expected));
      const chunkBuffers = new Set(chunks.map((c) => c.buffer));
      expect(rec.slices.filter((s) => !chunkBuffers.has(s.buffer))).toHaveLength(0);
      expect(Buffer.concat(rec.slices).equals(Buffer.concat([command, dataset]))).toBe(true);
    }
  });

  it('streams a large dataset in many PDVs: the slices concatenate to exactly the input', () => {
    const big = pattern(300_000, 9);
    const pdus: Buffer[] = [];
    for (let off = 0; off < big.length; ) {
      // PDVs of varying size, 1..3 per PDU, always within the 16 KiB limit.
      const items: Buffer[] = [];
      for (let k = 0; k < 3 && off < big.length; k++) {
        const n = Math.min(1 + ((off * 7919) % 5000), big.length - off);
        items.push(pdv(5, off + n >= big.length ? 0x02 : 0x00, big.subarray(off, off + n)));
        off += n;
      }
      pdus.push(pdu(PduType.PData, Buffer.concat(items)));
    }
    const stream = Buffer.concat(pdus);
    const r = seededRandom(7);
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length; ) {
      const n = 1 + Math.floor(r() * 70_000);
      chunks.push(stream.subarray(off, off + n));
      off += n;
    }
    const rec = run(chunks);
    const events = rec.check();
    expect(events.every((e) => e.kind === 'pdv' && e.contextId === 5)).toBe(true);
    expect(Buffer.concat(rec.slices).equals(big)).toBe(true);
    const last = events.at(-1);
    expect(last?.kind === 'pdv' && last.isLast).toBe(true);
  });

  it('accepts a P-DATA PDU of exactly the maximum length', () => {
    const body = pdv(1, 0x02, Buffer.alloc(LIMITS.maxPDataLength - 6, 0xab));
    expect(body.length).toBe(LIMITS.maxPDataLength);
    const rec = run([pdu(PduType.PData, body)]);
    const events = rec.check();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'pdv', length: LIMITS.maxPDataLength - 6 });
  });
});

describe('PduReader progress', () => {
  it('says when it is inside a PDU and counts the PDUs read whole, byte by byte', () => {
    const control = pdu(PduType.ReleaseRq, Buffer.alloc(4));
    const data = pdu(
      PduType.PData,
      Buffer.concat([pdv(1, 0x03, Buffer.alloc(8)), pdv(1, 0x03, Buffer.alloc(3))]),
    );
    const reader = new PduReader(new Recorder(), LIMITS);
    const seen: [boolean, number][] = [];
    for (const b of Buffer.concat([control, data])) {
      reader.push(Buffer.from([b]));
      seen.push([reader.midPdu, reader.pdusCompleted]);
    }
    const at = (i: number) => seen[i];
    expect(at(0)).toEqual([true, 0]);
    expect(at(control.length - 2)).toEqual([true, 0]);
    expect(at(control.length - 1)).toEqual([false, 1]);
    expect(at(control.length)).toEqual([true, 1]);
    // Between the two PDVs of one P-DATA PDU it is still inside that PDU.
    expect(at(control.length + 6 + 6 + 8 - 1)).toEqual([true, 1]);
    expect(at(seen.length - 1)).toEqual([false, 2]);
  });
});

describe('PduReader rejects malformed streams', () => {
  const header = (type: number, length: number) => {
    const h = Buffer.alloc(6);
    h[0] = type;
    h.writeUInt32BE(length, 2);
    return h;
  };

  const cases: { name: string; bytes: Buffer; tooLarge: boolean; reason: RegExp }[] = [
    { name: 'PDU type 0x00', bytes: header(0x00, 4), tooLarge: false, reason: /unrecognized PDU type 0x00/ },
    { name: 'PDU type 0x08', bytes: header(0x08, 4), tooLarge: false, reason: /unrecognized PDU type 0x08/ },
    { name: 'PDU type 0xff', bytes: header(0xff, 0), tooLarge: false, reason: /unrecognized PDU type 0xff/ },
    {
      name: 'P-DATA longer than maxPDataLength',
      bytes: header(PduType.PData, LIMITS.maxPDataLength + 1),
      tooLarge: true,
      reason: /exceeds the maximum 16384/,
    },
    {
      name: 'P-DATA with a 4 GiB length',
      bytes: header(PduType.PData, 0xffffffff),
      tooLarge: true,
      reason: /exceeds/,
    },
    {
      name: 'control PDU longer than maxControlPduLength',
      bytes: header(PduType.AssociateRq, (1 << 20) + 1),
      tooLarge: true,
      reason: /^A-ASSOCIATE-RQ of 1048577 bytes exceeds the maximum 1048576$/,
    },
    {
      name: 'P-DATA too short for a PDV header',
      bytes: Buffer.concat([header(PduType.PData, 5), Buffer.alloc(5)]),
      tooLarge: false,
      reason: /too short/,
    },
    {
      name: 'PDV item length below 2',
      bytes: pdu(PduType.PData, pdv(1, 0x02, Buffer.alloc(4), 1)),
      tooLarge: false,
      reason: /PDV item length 1/,
    },
    {
      name: 'PDV item longer than its PDU',
      bytes: pdu(PduType.PData, pdv(1, 0x02, Buffer.alloc(4), 7)),
      tooLarge: false,
      reason: /does not fit/,
    },
    {
      name: 'PDV control header with reserved bits',
      bytes: pdu(PduType.PData, pdv(1, 0x06, Buffer.alloc(4))),
      tooLarge: false,
      reason: /reserved bits/,
    },
    {
      name: 'P-DATA ending inside a second PDV header',
      bytes: pdu(PduType.PData, Buffer.concat([pdv(1, 0x00, Buffer.alloc(4)), Buffer.alloc(3)])),
      tooLarge: false,
      reason: /ends inside a PDV header/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: malformed(tooLarge=${c.tooLarge}), whole or byte by byte`, () => {
      // A good PDU first proves the reader was in sync; trailing bytes after the failure are ignored.
      const stream = Buffer.concat([pdu(PduType.ReleaseRq, Buffer.alloc(4)), c.bytes, STREAM]);
      for (const chunks of [[stream], [...stream].map((b) => Buffer.from([b]))]) {
        const events = run(chunks).check();
        expect(events[0]).toMatchObject({ kind: 'pdu', type: PduType.ReleaseRq });
        const bad = events.filter((e) => e.kind === 'malformed');
        expect(bad).toHaveLength(1);
        expect(events.at(-1)).toEqual(bad[0]);
        expect(bad[0]).toMatchObject({ tooLarge: c.tooLarge });
        expect(bad[0]?.kind === 'malformed' && bad[0].reason).toMatch(c.reason);
      }
    });
  }

  it('copies a control PDU body out of its chunks, so a byte-per-chunk sender pins no chunks', () => {
    const rec = new Recorder();
    const reader = new PduReader(rec, LIMITS);
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const chunks = [...pdu(PduType.AssociateRq, body)].map((b) => Buffer.from([b]));
    for (const c of chunks) reader.push(c);
    // Scribbling over the chunks afterwards leaves the PDU the sink was given intact.
    for (const c of chunks) c.fill(0xee);
    expect(rec.check()).toEqual([{ kind: 'pdu', type: PduType.AssociateRq, body: body.toString('hex') }]);
  });

  it('reports an oversized PDU as soon as its header arrives, without waiting for the body', () => {
    const rec = new Recorder();
    const reader = new PduReader(rec, LIMITS);
    reader.push(header(PduType.PData, 1 << 30));
    expect(rec.check()).toEqual([expect.objectContaining({ kind: 'malformed', tooLarge: true })]);
  });
});

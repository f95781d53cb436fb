// `npx tsx bench/compression.ts`: groundwork for per-object lossless compression before encryption.
// Measures gzip-1, brotli-1/3 and zstd-1/3 on the generated corpora, the pydicom samples grouped by transfer
// syntax, and one incompressible 64 MiB multi-frame instance: compression and decompression MB/s, ratio, peak
// extra memory, and the break-even uplink below which compressing saves wall time.
//
// Each codec runs in fresh child processes (UV_THREADPOOL_SIZE=1, one object at a time), so it uses one core
// at a time. Streaming codecs are fed 1 MiB writes per object, as the agent would; whole-buffer variants are
// measured too, for reference. Peak memory is measured on one 64 MiB object, each direction in its own
// process, with a forced GC between 1 MiB writes so that the figure is the codec's live memory (plus about a
// chunk of garbage), not V8's GC slack.
// zstd comes from optional packages that the repo does not depend on yet:
// `npm i --no-save zstd-napi @toondepauw/node-zstd`; a package that is not installed is reported and skipped.
//
// Env: FERRY_BENCH_ROUNDS (default 3, the median is reported), FERRY_BENCH_CODECS (comma-separated variant ids).
// Prints a table; writes bench/results/compression-latest.json.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { TS } from '../shared/src/dicom/transfer-syntax.js';
import {
  bigInstance,
  corpusFiles,
  ctCorpus,
  pydicomSamples,
  repoRoot,
  smallCorpus,
  workDir,
} from '../test/harness/corpus.js';

const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
const CHUNK = 1024 * 1024;
const BIG_BYTES = 64 * 1024 * 1024;
/** Size of the one object used for the memory probe (CT slices concatenated: a big native object). */
const MEM_PROBE_BYTES = 64 * 1024 * 1024;
/** In memory-probe processes: force a GC before every chunk written after the first. */
let memProbe = false;

// ---------------------------------------------------------------- optional zstd packages (typed locally)

interface ZstdNapi {
  CompressStream: new (params?: { compressionLevel?: number }) => Transform;
  DecompressStream: new () => Transform;
  compress(data: Uint8Array, params?: { compressionLevel?: number }): Buffer;
  decompress(data: Uint8Array): Buffer;
}

type StreamResult = [ret: number, produced: number, consumed: number];

/** The low-level part of zstd-napi (`zstd-napi/binding`) used to reuse one context across objects. */
interface ZstdBinding {
  CCtx: new () => {
    setParameter(param: number, value: number): void;
    reset(directive: number): void;
    compressStream2(dst: Uint8Array, src: Uint8Array, endOp: number): StreamResult;
  };
  DCtx: new () => {
    reset(directive: number): void;
    decompressStream(dst: Uint8Array, src: Uint8Array): StreamResult;
  };
  CParameter: { compressionLevel: number };
  EndDirective: { continue: number; end: number };
  ResetDirective: { sessionOnly: number };
  compressBound(size: number): number;
  versionString(): string;
}

interface ToonZstd {
  Encoder: new (level: number) => { encodeSync(data: Buffer): Buffer };
  Decoder: new () => { decodeSync(data: Buffer): Buffer };
}

const require = createRequire(import.meta.url);

function optional<T>(name: string): { mod: T; version: string } | undefined {
  try {
    const mod = require(name) as T;
    const pkg = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as {
      version: string;
    };
    return { mod, version: pkg.version };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- codecs

type Mode = 'stream' | 'frames' | 'whole';

interface Variant {
  id: string;
  codec: 'gzip' | 'brotli' | 'zstd';
  level: number;
  pkg: string;
  mode: Mode;
  /** zstd-napi only: one context kept across objects (low-level binding in a small Transform). */
  reuse?: boolean;
}

const VARIANTS: Variant[] = [
  { id: 'gzip-1', codec: 'gzip', level: 1, pkg: 'node:zlib', mode: 'stream' },
  { id: 'brotli-1', codec: 'brotli', level: 1, pkg: 'node:zlib', mode: 'stream' },
  { id: 'brotli-3', codec: 'brotli', level: 3, pkg: 'node:zlib', mode: 'stream' },
  { id: 'zstd-1', codec: 'zstd', level: 1, pkg: 'zstd-napi', mode: 'stream' },
  { id: 'zstd-3', codec: 'zstd', level: 3, pkg: 'zstd-napi', mode: 'stream' },
  { id: 'zstd-1/reuse', codec: 'zstd', level: 1, pkg: 'zstd-napi', mode: 'stream', reuse: true },
  { id: 'zstd-3/reuse', codec: 'zstd', level: 3, pkg: 'zstd-napi', mode: 'stream', reuse: true },
  { id: 'gzip-1/whole', codec: 'gzip', level: 1, pkg: 'node:zlib', mode: 'whole' },
  { id: 'brotli-1/whole', codec: 'brotli', level: 1, pkg: 'node:zlib', mode: 'whole' },
  { id: 'zstd-1/whole', codec: 'zstd', level: 1, pkg: 'zstd-napi', mode: 'whole' },
  { id: 'zstd-1/toon-whole', codec: 'zstd', level: 1, pkg: '@toondepauw/node-zstd', mode: 'whole' },
  { id: 'zstd-1/toon-frames', codec: 'zstd', level: 1, pkg: '@toondepauw/node-zstd', mode: 'frames' },
  { id: 'zstd-3/toon-frames', codec: 'zstd', level: 3, pkg: '@toondepauw/node-zstd', mode: 'frames' },
];

interface Out {
  pieces: Buffer[];
  bytes: number;
}

interface Engine {
  /** Compresses one object. `keep: false` drops the output as it comes (as if sent), counting bytes only. */
  compress(input: Buffer, keep: boolean): Promise<Out>;
  /** Turns compress output into what decompress takes (untimed): one buffer, or the frames as they are. */
  prepare(pieces: Buffer[]): Buffer[];
  decompress(input: Buffer[], keep: boolean): Promise<Out>;
}

/** Writes `input` into `t` in CHUNK-sized writes, honouring backpressure, and collects what comes out. */
async function pump(t: Transform, input: Buffer, keep: boolean): Promise<Out> {
  const out: Out = { pieces: [], bytes: 0 };
  t.on('data', (b: Buffer) => {
    out.bytes += b.length;
    if (keep) out.pieces.push(b);
  });
  const ended = once(t, 'end');
  for (let off = 0; off < input.length; off += CHUNK) {
    if (memProbe && off > 0) gc();
    if (!t.write(input.subarray(off, off + CHUNK))) await once(t, 'drain');
  }
  t.end();
  await ended;
  return out;
}

function one(b: Buffer): Out {
  return { pieces: [b], bytes: b.length };
}

function concatOne(pieces: Buffer[]): Buffer[] {
  return [pieces.length === 1 && pieces[0] ? pieces[0] : Buffer.concat(pieces)];
}

function streamEngine(makeCompress: () => Transform, makeDecompress: () => Transform): Engine {
  return {
    compress: (input, keep) => pump(makeCompress(), input, keep),
    prepare: concatOne,
    decompress: (input, keep) => pump(makeDecompress(), input[0] ?? Buffer.alloc(0), keep),
  };
}

function wholeEngine(c: (b: Buffer) => Buffer, d: (b: Buffer) => Buffer): Engine {
  return {
    compress: async (input) => one(c(input)),
    prepare: concatOne,
    decompress: async (input) => one(d(input[0] ?? Buffer.alloc(0))),
  };
}

/** Each CHUNK compressed as an independent frame; the container would have to record the frame lengths. */
function framesEngine(c: (b: Buffer) => Buffer, d: (b: Buffer) => Buffer): Engine {
  const run = async (f: (b: Buffer) => Buffer, chunks: Buffer[], keep: boolean): Promise<Out> => {
    const out: Out = { pieces: [], bytes: 0 };
    for (const [i, chunk] of chunks.entries()) {
      // Memory probe only: let Node-API finalizers run (as they would between network writes), then GC.
      if (memProbe && i > 0) {
        await new Promise((r) => setImmediate(r));
        gc();
      }
      const b = f(chunk);
      out.bytes += b.length;
      if (keep) out.pieces.push(b);
    }
    return out;
  };
  return {
    compress: async (input, keep) => {
      const chunks: Buffer[] = [];
      for (let off = 0; off < input.length; off += CHUNK) chunks.push(input.subarray(off, off + CHUNK));
      return run(c, chunks, keep);
    },
    prepare: (pieces) => pieces,
    decompress: async (input, keep) => run(d, input, keep),
  };
}

/**
 * What the agent could write around zstd-napi's binding: a Transform per object over one long-lived context
 * (reset per object instead of allocated per object). Sequential use only; the agent would keep a pool.
 */
function reuseEngine(b: ZstdBinding, level: number): Engine {
  const cctx = new b.CCtx();
  cctx.setParameter(b.CParameter.compressionLevel, level);
  const dctx = new b.DCtx();
  const cdst = Buffer.allocUnsafe(b.compressBound(CHUNK));
  const ddst = Buffer.allocUnsafe(CHUNK);
  const empty = Buffer.alloc(0);
  const compressor = () => {
    cctx.reset(b.ResetDirective.sessionOnly);
    return new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
        for (let off = 0; off < chunk.length; ) {
          const [, produced, consumed] = cctx.compressStream2(
            cdst,
            chunk.subarray(off),
            b.EndDirective.continue,
          );
          off += consumed;
          if (produced > 0) this.push(Buffer.from(cdst.subarray(0, produced)));
        }
        done();
      },
      flush(done: TransformCallback) {
        for (;;) {
          const [ret, produced] = cctx.compressStream2(cdst, empty, b.EndDirective.end);
          if (produced > 0) this.push(Buffer.from(cdst.subarray(0, produced)));
          if (ret === 0) break;
        }
        done();
      },
    });
  };
  const decompressor = () => {
    dctx.reset(b.ResetDirective.sessionOnly);
    return new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
        for (let off = 0; ; ) {
          const [, produced, consumed] = dctx.decompressStream(ddst, chunk.subarray(off));
          off += consumed;
          if (produced > 0) this.push(Buffer.from(ddst.subarray(0, produced)));
          if (off >= chunk.length && produced < ddst.length) break;
        }
        done();
      },
    });
  };
  return streamEngine(compressor, decompressor);
}

function makeEngine(v: Variant): Engine | string {
  const brotliParams = (q: number) => ({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q } });
  if (v.codec === 'gzip') {
    return v.mode === 'stream'
      ? streamEngine(
          () => zlib.createGzip({ level: v.level }),
          () => zlib.createGunzip(),
        )
      : wholeEngine(
          (b) => zlib.gzipSync(b, { level: v.level }),
          (b) => zlib.gunzipSync(b),
        );
  }
  if (v.codec === 'brotli') {
    return v.mode === 'stream'
      ? streamEngine(
          () => zlib.createBrotliCompress(brotliParams(v.level)),
          () => zlib.createBrotliDecompress(),
        )
      : wholeEngine(
          (b) => zlib.brotliCompressSync(b, brotliParams(v.level)),
          (b) => zlib.brotliDecompressSync(b),
        );
  }
  if (v.pkg === 'zstd-napi') {
    const z = optional<ZstdNapi>('zstd-napi');
    if (!z) return 'zstd-napi is not installed (npm i --no-save zstd-napi)';
    const m = z.mod;
    if (v.reuse) return reuseEngine(require('zstd-napi/binding') as ZstdBinding, v.level);
    return v.mode === 'stream'
      ? streamEngine(
          () => new m.CompressStream({ compressionLevel: v.level }),
          () => new m.DecompressStream(),
        )
      : wholeEngine(
          (b) => m.compress(b, { compressionLevel: v.level }),
          (b) => m.decompress(b),
        );
  }
  const t = optional<ToonZstd>('@toondepauw/node-zstd');
  if (!t) return '@toondepauw/node-zstd is not installed (npm i --no-save @toondepauw/node-zstd)';
  const enc = new t.mod.Encoder(v.level);
  const dec = new t.mod.Decoder();
  const c = (b: Buffer) => enc.encodeSync(b);
  const d = (b: Buffer) => dec.decodeSync(b);
  return v.mode === 'frames' ? framesEngine(c, d) : wholeEngine(c, d);
}

// ---------------------------------------------------------------- corpora

/** Transfer syntaxes whose bytes are not compressed yet: the only ones worth a general codec. */
const NATIVE = new Set<string>([
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
]);

const TS_NAMES: Record<string, string> = {
  [TS.ImplicitVRLittleEndian]: 'implicit LE',
  [TS.ExplicitVRLittleEndian]: 'explicit LE',
  [TS.ExplicitVRBigEndian]: 'explicit BE',
  [TS.DeflatedExplicitVRLittleEndian]: 'deflated LE',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG extended',
  '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
  'no-meta': 'no file meta (raw LE/BE)',
};

/** (0002,0010) from the File Meta Information, 'no-meta' when there is none. */
function transferSyntax(buf: Buffer): string {
  if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') return 'no-meta';
  let p = 132;
  while (p + 8 <= buf.length && buf.readUInt16LE(p) === 0x0002) {
    const elem = buf.readUInt16LE(p + 2);
    const vr = buf.toString('latin1', p + 4, p + 6);
    const long = vr === 'OB' || vr === 'OW' || vr === 'OF' || vr === 'SQ' || vr === 'UT' || vr === 'UN';
    const len = long ? buf.readUInt32LE(p + 8) : buf.readUInt16LE(p + 6);
    const hdr = long ? 12 : 8;
    if (elem === 0x0010) return buf.toString('latin1', p + hdr, p + hdr + len).replace(/[\0 ]+$/, '');
    p += hdr + len;
  }
  return 'unknown';
}

type Group = 'native' | 'deflated' | 'encapsulated';

function groupOf(ts: string): Group {
  if (ts === 'no-meta' || NATIVE.has(ts)) return 'native';
  return ts === TS.DeflatedExplicitVRLittleEndian ? 'deflated' : 'encapsulated';
}

interface Obj {
  file: string;
  ts: string;
  data: Buffer;
}

interface Corpus {
  name: string;
  note: string;
  objects: Obj[];
}

async function load(files: string[]): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const file of files) {
    const data = await readFile(file);
    out.push({ file: basename(file), ts: transferSyntax(data), data });
  }
  return out;
}

async function loadCorpora(): Promise<Corpus[]> {
  const samples = await load(pydicomSamples().map((s) => s.file));
  const by = (g: Group) => samples.filter((o) => groupOf(o.ts) === g);
  return [
    {
      name: 'ct-300',
      note: 'generated CT, 512x512, 12-bit uniform noise pixels',
      objects: await load(await corpusFiles(await ctCorpus())),
    },
    {
      name: 'small-2000',
      note: 'generated MR, 64x64, 12-bit noise, ~9 KB each',
      objects: await load(await corpusFiles(await smallCorpus())),
    },
    { name: 'pydicom-native', note: 'real images, uncompressed transfer syntaxes', objects: by('native') },
    { name: 'pydicom-deflated', note: 'Deflated Explicit VR LE', objects: by('deflated') },
    { name: 'pydicom-encaps', note: 'JPEG / JPEG-LS / J2K / RLE pixel data', objects: by('encapsulated') },
    {
      name: 'big-64MiB',
      note: 'generated multi-frame, random 16-bit pixels (explicit LE, incompressible)',
      objects: await load([await bigInstance(BIG_BYTES)]),
    },
  ];
}

// ---------------------------------------------------------------- measuring (child side)

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m?.[1] ? Number(m[1]) : Number.NaN;
}

/** Runs `f` and returns how far the process's RSS peaked above where it was just before (bytes). */
async function peakExtra(f: () => Promise<unknown>): Promise<number> {
  gc();
  await new Promise((r) => setTimeout(r, 20));
  const base = statusKiB('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5'); // reset VmHWM to the current RSS
  await f();
  return (statusKiB('VmHWM') - base) * 1024;
}

interface CorpusRun {
  corpus: string;
  objects: number;
  bytes: number;
  compressedBytes: number;
  compressS: number[];
  compressCpuS: number[];
  decompressS: number[];
  decompressCpuS: number[];
  perObject?: { file: string; ts: string; bytes: number; compressed: number }[];
}

interface ChildResult {
  id: string;
  version?: string;
  skipped?: string;
  runs?: CorpusRun[];
}

function cpuS(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function equalPieces(original: Buffer, pieces: Buffer[]): boolean {
  let off = 0;
  for (const p of pieces) {
    if (!p.equals(original.subarray(off, off + p.length))) return false;
    off += p.length;
  }
  return off === original.length;
}

async function child(id: string): Promise<ChildResult> {
  const v = VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown variant ${id}`);
  const engine = makeEngine(v);
  if (typeof engine === 'string') return { id, skipped: engine };
  const version = v.pkg === 'node:zlib' ? `node ${process.version}` : optional<unknown>(v.pkg)?.version;

  const runs: CorpusRun[] = [];
  for (const c of await loadCorpora()) {
    if (c.objects.length === 0) continue;
    // Warm-up: JIT, lazy native init, page faults of the first buffers.
    for (const o of c.objects.slice(0, 3))
      await engine.decompress(engine.prepare((await engine.compress(o.data, true)).pieces), false);
    const run: CorpusRun = {
      corpus: c.name,
      objects: c.objects.length,
      bytes: c.objects.reduce((n, o) => n + o.data.length, 0),
      compressedBytes: 0,
      compressS: [],
      compressCpuS: [],
      decompressS: [],
      decompressCpuS: [],
    };
    for (let r = 0; r < ROUNDS; r++) {
      gc();
      const outs: Out[] = [];
      let cpu = process.cpuUsage();
      let t0 = performance.now();
      for (const o of c.objects) outs.push(await engine.compress(o.data, true));
      run.compressS.push((performance.now() - t0) / 1000);
      run.compressCpuS.push(cpuS(cpu));
      const inputs = outs.map((o) => engine.prepare(o.pieces));
      if (r === 0) {
        run.compressedBytes = outs.reduce((n, o) => n + o.bytes, 0);
        run.perObject = c.objects.map((o, i) => ({
          file: o.file,
          ts: o.ts,
          bytes: o.data.length,
          compressed: outs[i]?.bytes ?? 0,
        }));
      }
      outs.length = 0;
      gc();
      const decoded: Out[] = [];
      cpu = process.cpuUsage();
      t0 = performance.now();
      for (const input of inputs) decoded.push(await engine.decompress(input, r === 0));
      run.decompressS.push((performance.now() - t0) / 1000);
      run.decompressCpuS.push(cpuS(cpu));
      for (const [i, o] of c.objects.entries()) {
        const d = decoded[i];
        if (!d || d.bytes !== o.data.length || (r === 0 && !equalPieces(o.data, d.pieces)))
          throw new Error(`${id}: ${c.name}/${o.file} did not round-trip`);
      }
    }
    if (!c.name.startsWith('pydicom')) delete run.perObject;
    runs.push(run);
  }
  return { id, ...(version ? { version } : {}), runs };
}

const memDir = join(workDir, 'bench-compression');
const memFile = (id: string) => join(memDir, `${id.replace(/[^a-z0-9-]/gi, '_')}.bin`);

/** One big native object: CT slices back to back, cut to MEM_PROBE_BYTES. */
async function memObject(): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for (const f of await corpusFiles(await ctCorpus())) {
    if (have >= MEM_PROBE_BYTES) break;
    const b = await readFile(f);
    parts.push(b);
    have += b.length;
  }
  return Buffer.concat(parts).subarray(0, MEM_PROBE_BYTES);
}

/**
 * Peak extra RSS of one direction for one variant, in a fresh process. Compress drops its output as it
 * comes where the API allows (streams, frames), as if sent, then writes the compressed object (frames
 * length-prefixed) for the decompress process, which drops its output likewise.
 */
async function memChild(id: string, direction: string): Promise<number> {
  const v = VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown variant ${id}`);
  const engine = makeEngine(v);
  if (typeof engine === 'string') throw new Error(engine);
  memProbe = true;
  if (direction === 'compress') {
    const input = await memObject();
    const extra = await peakExtra(() => engine.compress(input, false));
    const pieces = engine.prepare((await engine.compress(input, true)).pieces);
    const framed = pieces.flatMap((p) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(p.length);
      return [len, p];
    });
    await mkdir(memDir, { recursive: true });
    await writeFile(memFile(id), Buffer.concat(framed));
    return extra;
  }
  const file = await readFile(memFile(id));
  const pieces: Buffer[] = [];
  for (let p = 0; p < file.length; ) {
    const len = file.readUInt32LE(p);
    pieces.push(file.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return peakExtra(() => engine.decompress(pieces, false));
}

/** The skip-rule probe: for every object, zstd-1 (gzip-1 without zstd-napi) on its first CHUNK and on all of it. */
async function probe(): Promise<ProbeRow[]> {
  const z = optional<ZstdNapi>('zstd-napi');
  const codec = z ? 'zstd-1' : 'gzip-1';
  const c = z
    ? (b: Buffer) => z.mod.compress(b, { compressionLevel: 1 }).length
    : (b: Buffer) => zlib.gzipSync(b, { level: 1 }).length;
  const rows: ProbeRow[] = [];
  for (const corpus of await loadCorpora()) {
    for (const o of corpus.objects) {
      const first = o.data.subarray(0, CHUNK);
      const pixels = pixelData(o.data);
      rows.push({
        corpus: corpus.name,
        file: o.file,
        codec,
        ts: o.ts,
        bytes: o.data.length,
        ratio: o.data.length / c(o.data),
        firstChunkRatio: first.length / c(first),
        ...(pixels.length > 0 ? { pixelBytes: pixels.length, pixelRatio: pixels.length / c(pixels) } : {}),
      });
    }
  }
  return rows;
}

/** From the last (7FE0,0010) tag to the end of the file: roughly the pixel data (empty if there is none). */
function pixelData(buf: Buffer): Buffer {
  const le = buf.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  const be = buf.lastIndexOf(Buffer.from([0x7f, 0xe0, 0x00, 0x10]));
  const at = Math.max(le, be);
  return at < 0 ? Buffer.alloc(0) : buf.subarray(at);
}

interface ProbeRow {
  corpus: string;
  file: string;
  codec: string;
  ts: string;
  bytes: number;
  ratio: number;
  firstChunkRatio: number;
  pixelBytes?: number;
  pixelRatio?: number;
}

// ---------------------------------------------------------------- parent: run, tabulate, recommend

function runChild(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, '--expose-gc', process.argv[1] ?? '', ...args],
      { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, maxBuffer: 256 * 1024 * 1024, timeout: 1_800_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`child ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const round = (x: number, d = 1) => +x.toFixed(d);
const MiB = (b: number) => round(b / 2 ** 20, 1);

interface Row {
  variant: string;
  codec: string;
  level: number;
  package: string;
  mode: Mode;
  corpus: string;
  objects: number;
  megabytes: number;
  ratio: number;
  compressMBps: number;
  compressCpuMBps: number;
  decompressMBps: number;
  decompressCpuMBps: number;
  /** Serial (compress, then send): compressing pays while uplink b < c * (1 - 1/r). Mbit/s. */
  breakEvenSerialMbps: number;
  /** Pipelined (compress while sending): pays while b < c, if r > 1. Mbit/s. */
  breakEvenPipelinedMbps: number;
}

function toRow(v: Variant, run: CorpusRun): Row {
  const mb = run.bytes / 1e6;
  const ratio = run.bytes / run.compressedBytes;
  const c = mb / median(run.compressS);
  return {
    variant: v.id,
    codec: v.codec,
    level: v.level,
    package: v.pkg,
    mode: v.mode,
    corpus: run.corpus,
    objects: run.objects,
    megabytes: round(mb, 3),
    ratio: round(ratio, 3),
    compressMBps: round(c),
    compressCpuMBps: round(mb / median(run.compressCpuS)),
    decompressMBps: round(mb / median(run.decompressS)),
    decompressCpuMBps: round(mb / median(run.decompressCpuS)),
    breakEvenSerialMbps: round(Math.max(0, c * 8 * (1 - 1 / ratio))),
    breakEvenPipelinedMbps: ratio > 1 ? round(c * 8) : 0,
  };
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function skipRule(rows: ProbeRow[]) {
  const out = [];
  for (const threshold of [1.05, 1.1, 1.2]) {
    for (const g of ['native', 'deflated', 'encapsulated'] as Group[]) {
      const inG = rows.filter((r) => groupOf(r.ts) === g);
      const skipped = inG.filter((r) => r.firstChunkRatio < threshold);
      const wrong = inG.filter((r) => r.firstChunkRatio < threshold !== r.ratio < threshold);
      out.push({
        threshold,
        group: g,
        objects: inG.length,
        skippedByFirstChunk: skipped.length,
        skippedBytes: skipped.reduce((n, r) => n + r.bytes, 0),
        bytes: inG.reduce((n, r) => n + r.bytes, 0),
        firstChunkDisagreesWithWhole: wrong.length,
      });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === '--child') {
    process.stdout.write(`${JSON.stringify(await child(process.argv[3] ?? ''))}\n`);
    return;
  }
  if (mode === '--probe') {
    process.stdout.write(`${JSON.stringify(await probe())}\n`);
    return;
  }
  if (mode === '--mem') {
    process.stdout.write(`${await memChild(process.argv[3] ?? '', process.argv[4] ?? '')}\n`);
    return;
  }

  // Generate what is missing up front, so no child does it while being timed.
  await ctCorpus();
  await smallCorpus();
  await bigInstance(BIG_BYTES);

  const wanted = process.env.FERRY_BENCH_CODECS?.split(',').map((s) => s.trim());
  const variants = VARIANTS.filter((v) => !wanted || wanted.includes(v.id));
  const rows: Row[] = [];
  const memory = [];
  const skipped: { variant: string; reason: string }[] = [];
  const versions: Record<string, string> = {};
  const perFile: Record<string, { file: string; ts: string; bytes: number; ratio: number }[]> = {};
  for (const v of variants) {
    console.error(`${v.id} (${v.pkg}, ${v.mode})...`);
    const res = JSON.parse(await runChild(['--child', v.id])) as ChildResult;
    if (res.skipped) {
      skipped.push({ variant: v.id, reason: res.skipped });
      console.error(`  skipped: ${res.skipped}`);
      continue;
    }
    if (res.version) versions[v.pkg] = res.version;
    const compressPeak = Number(await runChild(['--mem', v.id, 'compress']));
    const decompressPeak = Number(await runChild(['--mem', v.id, 'decompress']));
    memory.push({
      variant: v.id,
      mode: v.mode,
      objectMiB: MiB(MEM_PROBE_BYTES),
      compressPeakExtraMiB: MiB(compressPeak),
      decompressPeakExtraMiB: MiB(decompressPeak),
    });
    for (const run of res.runs ?? []) {
      rows.push(toRow(v, run));
      if (run.perObject && run.corpus !== 'pydicom-native') {
        const list = perFile[v.id] ?? [];
        for (const o of run.perObject)
          list.push({ file: o.file, ts: o.ts, bytes: o.bytes, ratio: round(o.bytes / o.compressed, 3) });
        perFile[v.id] = list;
      }
    }
  }
  console.error('skip-rule probe...');
  const probeRows = JSON.parse(await runChild(['--probe'])) as ProbeRow[];
  const rule = skipRule(probeRows);
  await rm(memDir, { recursive: true, force: true });
  const pixelRatio = (file: string) =>
    probeRows.find((r) => r.file === file && r.corpus.startsWith('pydicom'));

  console.log(
    `\nPer-object compression, 1 MiB writes, one core; MB = 10^6 bytes of uncompressed data; median of ${ROUNDS} rounds.`,
  );
  console.log(
    'Break-even uplink in Mbit/s: serial = c*(1-1/r) (compress, then send); pipelined = c (while sending).\n',
  );
  console.log(
    table(
      ['variant', 'corpus', 'MB', 'ratio', 'comp MB/s', 'comp cpu', 'decomp MB/s', 'BE serial', 'BE pipe'],
      rows.map((r) => [
        r.variant,
        r.corpus,
        r.megabytes,
        r.ratio.toFixed(3),
        r.compressMBps,
        r.compressCpuMBps,
        r.decompressMBps,
        r.breakEvenSerialMbps,
        r.breakEvenPipelinedMbps,
      ]),
    ),
  );
  console.log(
    `\nPeak extra RSS for one ${MiB(MEM_PROBE_BYTES)} MiB native object (input in memory; output dropped as it comes):\n`,
  );
  console.log(
    table(
      ['variant', 'mode', 'compress MiB', 'decompress MiB'],
      memory.map((m) => [m.variant, m.mode, m.compressPeakExtraMiB, m.decompressPeakExtraMiB]),
    ),
  );
  const ref = perFile['zstd-1'] ? 'zstd-1' : 'gzip-1';
  const files = perFile[ref] ?? [];
  if (files.length > 0) {
    console.log(
      `\nAlready-compressed pydicom samples: ratio per file, and ${probeRows[0]?.codec} on the pixel data element alone:\n`,
    );
    const ratioOf = (variant: string, file: string) =>
      perFile[variant]?.find((f) => f.file === file)?.ratio.toFixed(3) ?? '-';
    console.log(
      table(
        ['file', 'transfer syntax', 'KB', ref, 'gzip-1', 'brotli-1', 'pixel KB', 'pixel ratio'],
        files.map((f) => {
          const px = pixelRatio(f.file);
          return [
            f.file,
            TS_NAMES[f.ts] ?? f.ts,
            round(f.bytes / 1e3),
            f.ratio.toFixed(3),
            ratioOf('gzip-1', f.file),
            ratioOf('brotli-1', f.file),
            px?.pixelBytes ? round(px.pixelBytes / 1e3) : '-',
            px?.pixelRatio ? px.pixelRatio.toFixed(3) : '-',
          ];
        }),
      ),
    );
  }
  console.log(
    `\nSkip rule "compress the first 1 MiB; skip the object if its ratio < T" (${probeRows[0]?.codec}):\n`,
  );
  console.log(
    table(
      ['T', 'group', 'objects', 'skipped', 'skipped MB', 'wrong vs whole'],
      rule.map((r) => [
        r.threshold,
        r.group,
        r.objects,
        r.skippedByFirstChunk,
        round(r.skippedBytes / 1e6, 2),
        r.firstChunkDisagreesWithWhole,
      ]),
    ),
  );
  if (skipped.length > 0)
    console.log(`\nskipped: ${skipped.map((s) => `${s.variant}: ${s.reason}`).join('; ')}`);

  const outDir = join(repoRoot, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  const doc = {
    bench: 'compression',
    at: new Date().toISOString(),
    node: process.version,
    cpus: 2,
    chunkBytes: CHUNK,
    rounds: ROUNDS,
    versions,
    skipped,
    results: rows,
    memory,
    alreadyCompressedSamples: perFile,
    pixelDataRatios: probeRows
      .filter((r) => r.corpus.startsWith('pydicom') && r.pixelRatio !== undefined)
      .map((r) => ({
        file: r.file,
        ts: r.ts,
        codec: r.codec,
        pixelBytes: r.pixelBytes,
        pixelRatio: round(r.pixelRatio ?? 0, 3),
      })),
    skipRule: rule,
  };
  await writeFile(join(outDir, 'compression-latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log('\nresults written to bench/results/compression-latest.json');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

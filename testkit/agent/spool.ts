// Test scaffolding for whatever reads from or writes to the spool: sample instances as the DIMSE
// receiver hands them over, writing them in, and opening what was sealed. Not part of the build.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deriveObjectKey,
  FRAME_HEADER_BYTES,
  type FrameCodecName,
  frameCodecOf,
  generateRecipientKeyPair,
  type InstanceManifest,
  instanceManifestSchema,
  type ObjectHeader,
  openObject,
  openSealedFrame,
  provideJpegLsWasm,
  unwrapDataKey,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { pino } from 'pino';
import type { IndexEntry } from '../../agent/src/spool/index-entry.js';
import { Spool, type SpoolOptions } from '../../agent/src/spool/spool.js';
import type { StoreRequest, StoreResult } from '../../agent/src/spool/store-contract.js';

// Opening an image object decodes its JPEG-LS frames in this thread.
provideJpegLsWasm(() => readFile(createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm')));

export const SAMPLES_DIR = join(import.meta.dirname, '../../test/fixtures/dicom-samples/pydicom');
export const silent = pino({ level: 'silent' });

/** A received instance: its dataset (no File Meta Information) and the C-STORE request for it. */
export interface ReceivedInstance {
  dataset: Buffer;
  req: StoreRequest;
}

/**
 * A Part-10 file as the DIMSE receiver hands it to the spool: the dataset after its File Meta
 * Information, and a request (message 1) naming its SOP Class, SOP Instance and transfer syntax.
 */
export function asReceived(part10: Buffer, name = 'the file'): ReceivedInstance {
  const metaEnd = 132 + 12 + part10.readUInt32LE(140);
  const meta = part10.subarray(132, metaEnd);
  const ui = (elem: number) => {
    for (let off = 0; off < meta.length; ) {
      const el = meta.readUInt16LE(off + 2);
      const vr = meta.toString('latin1', off + 4, off + 6);
      const long = ['OB', 'OW', 'UN', 'SQ', 'UT'].includes(vr);
      const len = long ? meta.readUInt32LE(off + 8) : meta.readUInt16LE(off + 6);
      const start = off + (long ? 12 : 8);
      if (el === elem) return meta.toString('latin1', start, start + len).replace(/\0+$/, '');
      off = start + len;
    }
    throw new Error(`no (0002,${elem.toString(16)}) in ${name}`);
  };
  return {
    dataset: part10.subarray(metaEnd),
    req: {
      associationId: 'test',
      callingAeTitle: 'MODALITY',
      calledAeTitle: 'GATEWAY',
      peer: '127.0.0.1:1',
      sopClassUid: ui(0x0002),
      sopInstanceUid: ui(0x0003),
      transferSyntaxUid: ui(0x0010),
      messageId: 1,
    },
  };
}

/** A pydicom sample file (test/fixtures/dicom-samples/pydicom) as received. */
export async function sample(name: string): Promise<ReceivedInstance> {
  return asReceived(await readFile(join(SAMPLES_DIR, name)), name);
}

/** A private OB element (7FE1,1010) in explicit VR LE holding `value`: appended to make a dataset bigger. */
export function privateOb(value: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(0x7fe1, 0);
  head.writeUInt16LE(0x1010, 2);
  head.write('OB', 4, 'latin1');
  head.writeUInt32LE(value.length, 8);
  return Buffer.concat([head, value]);
}

/** Writes `dataset` into the spool in slices of `sliceBytes`, as the receiver does, and ends it. */
export async function writeInstance(
  spool: Spool,
  req: StoreRequest,
  dataset: Buffer,
  sliceBytes = 4096,
): Promise<StoreResult> {
  const w = spool.begin(req);
  for (let off = 0; off < dataset.length; off += sliceBytes) w.write(dataset.subarray(off, off + sliceBytes));
  return w.end();
}

/** The object id a store answered with; a failed store throws with its code. */
export function storedId(outcome: StoreResult): string {
  if (!outcome.ok) throw new Error(`store failed with ${outcome.code}: ${outcome.message}`);
  return outcome.objectId;
}

/** `writeInstance`, which must succeed: the index entry of the stored object. */
export async function storeInstance(
  spool: Spool,
  req: StoreRequest,
  dataset: Buffer,
  sliceBytes = 4096,
): Promise<IndexEntry> {
  const outcome = await writeInstance(spool, req, dataset, sliceBytes);
  const id = storedId(outcome);
  const entry = spool.entry(id);
  if (!entry) throw new Error(`store succeeded without an index entry for ${id}`);
  return entry;
}

/** A sealed spool object opened with the recipient's private key. */
export interface OpenedObject {
  header: ObjectHeader;
  manifest: InstanceManifest;
  /** The data parts as sealed (one per frame). */
  parts: Buffer[];
  /** The Part-10 bytes. */
  plain: Buffer;
  /** In an image object, the codec each data part's frame names (image-frames.ts); else empty. */
  codecs: FrameCodecName[];
}

export async function openSpooled(spool: Spool, id: string, privateJwk: JWK): Promise<OpenedObject> {
  let header: ObjectHeader | undefined;
  let digest: Buffer | undefined;
  let key: Buffer | undefined;
  let manifest: unknown;
  const parts: Buffer[] = [];
  const frames: { index: number; flags: number; offset: number; length: number }[] = [];
  for await (const part of openObject(spool.readSealed(id), async (h) => {
    key = deriveObjectKey(await unwrapDataKey(h.wrappedKey, [privateJwk]), h.objectId);
    return key;
  })) {
    if (part.kind === 'header') ({ header, digest } = part);
    if (part.kind === 'manifest') manifest = part.manifest;
    if (part.kind === 'data') {
      parts.push(part.bytes);
      frames.push(part.frame);
    }
  }
  if (!header) throw new Error(`object ${id} opened without a header`);
  const codecs: FrameCodecName[] = [];
  if (header.compression === 'image' && key && digest) {
    // Each frame again, its plaintext undecoded, for the codec byte it starts with.
    const chunks: Buffer[] = [];
    for await (const c of spool.readSealed(id)) chunks.push(c as Buffer);
    const sealed = Buffer.concat(chunks);
    for (const f of frames) {
      const body = sealed.subarray(f.offset + FRAME_HEADER_BYTES, f.offset + f.length);
      codecs.push(frameCodecOf(openSealedFrame(key, digest, f.index, f.flags, body)));
    }
  }
  return {
    header,
    manifest: instanceManifestSchema.parse(manifest),
    parts,
    plain: Buffer.concat(parts),
    codecs,
  };
}

/** A spool in a fresh temporary directory, sealing for a fresh recipient key pair. */
export interface TempSpool {
  dir: string;
  keys: { publicJwk: JWK; privateJwk: JWK };
  spool: Spool;
}

export async function openTempSpool(opts: SpoolOptions = {}): Promise<TempSpool> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-spool-'));
  const keys = await generateRecipientKeyPair();
  return { dir, keys, spool: await Spool.open(dir, keys.publicJwk, silent, opts) };
}

/** Closes `spool` (the one open now: a test may have reopened it) and removes `dir`. */
export async function removeTempSpool({ dir, spool }: { dir: string; spool: Spool }): Promise<void> {
  await spool.close();
  await rm(dir, { recursive: true, force: true });
}

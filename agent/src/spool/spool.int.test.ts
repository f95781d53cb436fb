import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deriveObjectKey,
  generateRecipientKeyPair,
  instanceManifestSchema,
  openObject,
  unwrapDataKey,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Status, type StoreRequest } from '../dimse/store-handler.js';
import { part10Header } from './part10.js';
import { Spool } from './spool.js';

const SAMPLES = join(import.meta.dirname, '../../../test/fixtures/dicom-samples/pydicom');
const silent = pino({ level: 'silent' });

/** Dataset bytes after the File Meta Information of a Part-10 sample, and its meta fields. */
async function sample(name: string): Promise<{ dataset: Buffer; req: Omit<StoreRequest, 'messageId'> }> {
  const file = await readFile(join(SAMPLES, name));
  const metaEnd = 132 + 12 + file.readUInt32LE(140);
  const meta = file.subarray(132, metaEnd);
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
    dataset: file.subarray(metaEnd),
    req: {
      associationId: 'test',
      callingAeTitle: 'MODALITY',
      calledAeTitle: 'GATEWAY',
      peer: '127.0.0.1:1',
      sopClassUid: ui(0x0002),
      sopInstanceUid: ui(0x0003),
      transferSyntaxUid: ui(0x0010),
    },
  };
}

async function store(spool: Spool, req: StoreRequest, dataset: Buffer, sliceBytes = 4096) {
  const w = spool.begin(req);
  for (let off = 0; off < dataset.length; off += sliceBytes) w.write(dataset.subarray(off, off + sliceBytes));
  return w.end();
}

async function open(path: string, privateJwk: JWK) {
  let manifest: unknown;
  const data: Buffer[] = [];
  const bytes = await readFile(path);
  for await (const part of openObject([bytes], async (h) =>
    deriveObjectKey(await unwrapDataKey(h.wrappedKey, [privateJwk]), h.objectId),
  )) {
    if (part.kind === 'manifest') manifest = instanceManifestSchema.parse(part.manifest);
    if (part.kind === 'data') data.push(part.bytes);
  }
  return { manifest: instanceManifestSchema.parse(manifest), plain: Buffer.concat(data) };
}

describe('spool', () => {
  let dir: string;
  let keys: { publicJwk: JWK; privateJwk: JWK };
  let spool: Spool;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-spool-'));
    keys = await generateRecipientKeyPair();
    spool = await Spool.open(dir, keys.publicJwk, silent);
  });
  afterEach(async () => {
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores meta + dataset bit-exact, encrypted, with a worklist manifest', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const outcome = await store(spool, { ...req, messageId: 1 }, dataset);
    expect(outcome.status).toBe(Status.Success);
    const [entry] = spool.entries();
    expect(entry).toMatchObject({
      sopInstanceUid: req.sopInstanceUid,
      version: 1,
      state: 'spooled',
      callingAeTitle: 'MODALITY',
    });
    const raw = await readFile(spool.objectPath(entry!.id));
    expect(raw.includes(Buffer.from('CompressedSamples'))).toBe(false);
    const { manifest, plain } = await open(spool.objectPath(entry!.id), keys.privateJwk);
    expect(plain).toEqual(
      Buffer.concat([part10Header(req.sopClassUid, req.sopInstanceUid, req.transferSyntaxUid), dataset]),
    );
    expect(manifest.patient.name).toBe('CompressedSamples^CT1');
    expect(manifest.series.modality).toBe('CT');
    expect(manifest.study.instanceUid).toBe(entry!.studyInstanceUid);
    const index = await readFile(spool.paths.journal, 'utf8');
    expect(index).not.toContain('CompressedSamples');
    expect(index).toContain(req.sopInstanceUid);
  });

  it.each([
    'image_dfl.dcm',
    'MR_small_bigendian.dcm',
    'MR_small_implicit.dcm',
    'JPEG2000.dcm',
    'MR_small_RLE.dcm',
  ])('reads the header of %s without altering its bytes', async (name) => {
    const { dataset, req } = await sample(name);
    const outcome = await store(spool, { ...req, messageId: 1 }, dataset, 333);
    expect(outcome.status).toBe(Status.Success);
    const { manifest, plain } = await open(spool.objectPath(outcome.objectId!), keys.privateJwk);
    expect(plain.subarray(plain.length - dataset.length)).toEqual(dataset);
    expect(manifest.sopInstanceUid).toBe(req.sopInstanceUid);
    expect(manifest.patient.name).toBeTruthy();
  });

  it('stores an identical resend once and keeps different bytes as a new version', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    const first = await store(spool, { ...req, messageId: 1 }, dataset);
    const again = await store(spool, { ...req, messageId: 2 }, dataset);
    expect(again).toMatchObject({ status: Status.Success, duplicate: true, objectId: first.objectId });
    const changed = Buffer.from(dataset);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 0xff;
    const second = await store(spool, { ...req, messageId: 3 }, changed);
    expect(second).toMatchObject({ status: Status.Success, version: 2 });
    expect(spool.entries().map((e) => e.version)).toEqual([1, 2]);
    expect(await readdir(spool.paths.objects)).toHaveLength(2);
  });

  it('stores concurrent identical sends once', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map((messageId) => store(spool, { ...req, messageId }, dataset)),
    );
    expect(outcomes.every((o) => o.status === Status.Success)).toBe(true);
    expect(spool.entries()).toHaveLength(1);
    expect(await readdir(spool.paths.objects)).toHaveLength(1);
  });

  it('answers 0xA900 when the dataset is not the instance the request names, and keeps nothing', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const outcome = await store(spool, { ...req, sopInstanceUid: '1.2.3.4', messageId: 1 }, dataset);
    expect(outcome.status).toBe(Status.DataSetDoesNotMatchSopClass);
    expect(outcome.errorComment).toMatch(/does not match/);
    expect(spool.entries()).toHaveLength(0);
    expect(await readdir(spool.paths.objects)).toHaveLength(0);
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
  });

  it('answers 0xC211 for a dataset whose header cannot be read', async () => {
    const { req } = await sample('CT_small.dcm');
    const outcome = await store(
      spool,
      { ...req, messageId: 1 },
      Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0xff]),
    );
    expect(outcome.status).toBe(Status.CannotUnderstand);
    expect(spool.entries()).toHaveLength(0);
  });

  it('discards an aborted instance', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const w = spool.begin({ ...req, messageId: 1 });
    w.write(dataset.subarray(0, 20_000));
    w.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
    expect(spool.entries()).toHaveLength(0);
  });

  it('recovers: drops a torn index tail, partial files and objects the index never took', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    await store(spool, { ...req, messageId: 1 }, dataset);
    await spool.close();
    await appendFile(spool.paths.journal, '{"t":"put","e":{"id":"half');
    await writeFile(join(spool.paths.tmp, 'oX.part'), 'partial');
    await writeFile(join(spool.paths.objects, 'oOrphan.fobj'), 'never indexed');
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(spool.entries()).toHaveLength(1);
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
    expect(await readdir(spool.paths.objects)).toEqual([`${spool.entries()[0]!.id}.fobj`]);
    expect((await readFile(spool.paths.journal, 'utf8')).endsWith('}\n')).toBe(true);
    const more = await sample('MR_small.dcm');
    expect((await store(spool, { ...more.req, messageId: 2 }, more.dataset)).status).toBe(Status.Success);
    expect(spool.entries()).toHaveLength(2);
  });
});

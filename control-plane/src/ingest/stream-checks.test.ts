import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRecipientKeyPair, isFerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newTestObjectId,
  padSample,
  readSample,
  type SealedTestObject,
  sealTestObject,
} from '../../../testkit/control-plane/seal-object.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { EpochKeyCache } from '../storage/open-stored-object.js';
import { checkInStream, checkWith, rememberChecked, takeChecked } from './stream-checks.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A body as the HTTP layer hands it over: small chunks, so the check sees frames cut anywhere. */
async function* body(bytes: Buffer, size = 7_000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('checking a single PUT as the fs store writes it', () => {
  let root: string;
  let store: FsBlobStore;
  let privateKeys: JWK[];
  let obj: SealedTestObject;
  let publicJwk: JWK;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferry-stream-checks-'));
    store = new FsBlobStore({ root, publicUrl: 'http://127.0.0.1:1', signingSecret: Buffer.alloc(32, 1) });
    await store.init();
    const pair = await generateRecipientKeyPair();
    privateKeys = [pair.privateJwk];
    publicJwk = pair.publicJwk;
    obj = await sealTestObject({ recipientPublicKey: pair.publicJwk });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  /** PUTs `bytes` as upload `uploadId`'s single PUT, checked and remembered, then publishes it. */
  async function putAndPublish(bytes: Buffer, length = bytes.length) {
    const uploadId = newTestObjectId();
    const key = `g/test/o/${uploadId}.fobj`;
    const fields = { uploadId, key, partNumber: 1, length, single: true, expiresAt: 0 };
    const written = await store.receivePart(fields, body(bytes), checkInStream(privateKeys));
    if (written.checked) rememberChecked(store, uploadId, written.identity, written.checked);
    const handle = { key, uploadId, backendUploadId: undefined };
    await store.completeUpload(handle, [{ partNumber: 1, size: length }]);
    return { row: { id: uploadId, blobKey: key }, written };
  }

  it('finds what a read-back would: ciphertext and plaintext hashes and sizes, manifest, header', async () => {
    const { row } = await putAndPublish(obj.bytes);
    const opened = await takeChecked(store, row);
    expect(opened?.openError).toBeUndefined();
    expect(opened).toMatchObject({
      objectSha256: obj.objectSha256,
      objectBytes: obj.objectBytes,
      plainSha256: obj.sha256,
      plainBytes: obj.plainBytes,
      manifest: JSON.parse(JSON.stringify(obj.manifest)),
      head: { metadata: obj.metadata },
    });
    expect(opened?.header?.objectId).toBe(obj.objectId);
    // Taken once: a second complete reads the object back.
    expect(await takeChecked(store, row)).toBeUndefined();
  });

  it('parses the header as a whole-file parse does, in every kind of sample and past the first bytes tried', async () => {
    const samples = ['CT_small.dcm', 'MR_small_bigendian.dcm', 'image_dfl.dcm', 'rtdose.dcm', 'JPEG2000.dcm'];
    const cases = await Promise.all(samples.map(async (name) => ({ name, part10: await readSample(name) })));
    // No Pixel Data, and 100 kB of trailing padding: the first bytes tried do not end the header.
    cases.push({ name: 'padded report', part10: padSample(await readSample('reportsi.dcm'), 100_000) });
    cases.push({ name: 'padded CT', part10: padSample(await readSample('CT_small.dcm'), 100_000) });
    for (const { name, part10 } of cases) {
      const sealed = await sealTestObject({ recipientPublicKey: publicJwk, part10 });
      const { row } = await putAndPublish(sealed.bytes);
      const opened = await takeChecked(store, row);
      expect(opened?.openError, name).toBeUndefined();
      expect(opened?.head.metadata, name).toEqual(sealed.metadata);
    }
  });

  it('keeps a frame that fails authentication as the reason, with the tampered bytes hashed whole', async () => {
    const tampered = Buffer.from(obj.bytes);
    const at = tampered.length - 40;
    tampered[at] = tampered[at]! ^ 0x01;
    const { row } = await putAndPublish(tampered);
    const opened = await takeChecked(store, row);
    expect(isFerryError(opened?.openError, 'crypto.bad_object')).toBe(true);
    expect(opened?.objectSha256).toBe(sha256(tampered));
    expect(opened?.objectBytes).toBe(tampered.length);
  });

  it('gives nothing when another file has taken the key since the PUT: complete reads that one back', async () => {
    const { row } = await putAndPublish(obj.bytes);
    const other = Buffer.from(obj.bytes);
    other[other.length - 1] = other[other.length - 1]! ^ 0x01;
    const path = join(root, row.blobKey);
    await rm(path);
    await writeFile(path, other);
    expect(await takeChecked(store, row)).toBeUndefined();
  });

  /** Uploads `bytes` in two parts, then joins them with the check, as complete does on the fs store. */
  async function multipart(bytes: Buffer) {
    const uploadId = newTestObjectId();
    const key = `g/test/o/${uploadId}.fobj`;
    const handle = await store.createUpload({ key, uploadId, parts: 2 });
    const half = Math.ceil(bytes.length / 2);
    const slices = [bytes.subarray(0, half), bytes.subarray(half)];
    // The second part first: parts arrive in any order.
    for (const partNumber of [2, 1]) {
      const part = slices[partNumber - 1]!;
      const fields = { uploadId, key, partNumber, length: part.length, single: false, expiresAt: 0 };
      await store.receivePart(fields, body(part));
    }
    const parts = slices.map((p, i) => ({ partNumber: i + 1, size: p.length }));
    const keys = { privateKeys, cache: new EpochKeyCache() };
    const { identity, checked } = await store.completeChecked(handle, parts, checkWith(keys));
    rememberChecked(store, uploadId, identity, checked);
    return { id: uploadId, blobKey: key };
  }

  it('checks a multipart object as complete joins its parts, and the joined object is what was checked', async () => {
    const big = await sealTestObject({ recipientPublicKey: publicJwk, padBytes: 300_000 });
    const row = await multipart(big.bytes);
    const opened = await takeChecked(store, row);
    expect(opened?.openError).toBeUndefined();
    expect(opened).toMatchObject({ objectSha256: big.objectSha256, plainSha256: big.sha256 });
    expect(opened?.head.metadata).toEqual(big.metadata);
    const stored: Buffer[] = [];
    for await (const c of await store.get(row.blobKey)) stored.push(c as Buffer);
    expect(sha256(Buffer.concat(stored))).toBe(big.objectSha256);

    const tampered = Buffer.from(big.bytes);
    tampered[tampered.length - 40] = tampered[tampered.length - 40]! ^ 0x01;
    const bad = await takeChecked(store, await multipart(tampered));
    expect(isFerryError(bad?.openError, 'crypto.bad_object')).toBe(true);
    expect(bad?.objectSha256).toBe(sha256(tampered));
  });

  it('refuses a short body as the request it is, never as a bad object, and leaves nothing', async () => {
    const uploadId = newTestObjectId();
    const key = `g/test/o/${uploadId}.fobj`;
    const fields = {
      uploadId,
      key,
      partNumber: 1,
      length: obj.bytes.length + 10,
      single: true,
      expiresAt: 0,
    };
    const err = await store.receivePart(fields, body(obj.bytes), checkInStream(privateKeys)).catch((e) => e);
    expect(isFerryError(err, 'request.invalid')).toBe(true);
    expect((await store.listParts({ key, uploadId, backendUploadId: undefined })).length).toBe(0);
  });
});

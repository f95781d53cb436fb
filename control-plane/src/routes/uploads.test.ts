import { createHash, randomBytes } from 'node:crypto';
import {
  generateRecipientKeyPair,
  type UploadCompleteResponse,
  type UploadCompleteResult,
  type UploadOfferObject,
  type UploadOfferResponse,
  type UploadOfferResult,
} from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  enrollTestGateway,
  getRaw,
  type SeededGroup,
  STORE_COMBOS,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import {
  newTestObjectId,
  newTestUid,
  type SealedTestObject,
  type SealTestObjectOptions,
  sealTestObject,
} from '../../../testkit/control-plane/seal-object.js';
import { runCommonRouteTests } from '../../../testkit/control-plane/security-suite.js';
import { instances, studies, studyEvents, uploads } from '../db/schema/index.js';

type Upload = Extract<UploadOfferResult, { status: 'upload' }>;
type Stored = Extract<UploadCompleteResult, { status: 'stored' }>;

const OFFER = '/api/v1/agents/uploads';
const COMPLETE = '/api/v1/agents/uploads/complete';
const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// Security: both routes run the shared suite.

const SECURITY_OBJECT_ID = 'tsecurity0000000000000001';

function securityOffer(): UploadOfferObject {
  return {
    objectId: SECURITY_OBJECT_ID,
    sopInstanceUid: '2.25.4242',
    studyInstanceUid: '2.25.4243',
    sha256: 'a'.repeat(64),
    plainBytes: 100,
    objectBytes: 200,
    receivedAt: '2026-11-28T10:00:00.000Z',
  };
}

describe.each(BACKENDS)('upload routes security (%s)', (backend) => {
  runCommonRouteTests(backend, {
    method: 'POST',
    path: OFFER,
    caller: 'agent',
    body: { objects: [securityOffer()] },
    // Each group gets its own upload for the same object id; B's answer never names A's.
    otherGroup: 'filtered',
  });

  runCommonRouteTests<{ uploadId: string }>(backend, {
    method: 'POST',
    path: COMPLETE,
    caller: 'agent',
    resourceOfGroup: async (t, group) => {
      const res = await t.request<UploadOfferResponse>('POST', OFFER, {
        token: await group.gateway!.token(),
        body: { objects: [securityOffer()] },
      });
      const result = res.body.objects[0];
      if (result?.status !== 'upload') throw new Error(`offer failed: ${res.text}`);
      return { uploadId: result.uploadId };
    },
    body: (ids) => ({
      objects: [{ objectId: SECURITY_OBJECT_ID, uploadId: ids.uploadId, objectSha256: 'b'.repeat(64) }],
    }),
    // A per-object answer: B is told there is no such upload, in a 200, without A's ids.
    otherGroup: 'filtered',
  });
});

// ---------------------------------------------------------------------------------------------
// Behaviour, through the real app and blob store.

describe.each(STORE_COMBOS)('uploads (%s, %s blobs)', (backend, blobs) => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  let other: SeededGroup;
  let otherGw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend, { blobs });
    g = await t.seedGroup('Uploads group');
    const { facilityId } = await seedFacility(t, g);
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    other = await t.seedGroup('Other group');
    otherGw = await enrollTestGateway(t, other);
  });
  afterAll(async () => {
    await t?.close();
  });

  const seal = (opts: Omit<SealTestObjectOptions, 'recipientPublicKey'>) =>
    sealTestObject({ ...opts, recipientPublicKey: t.deps.recipientPublicKey });

  async function offer(objects: UploadOfferObject[], as: TestGateway = gw): Promise<UploadOfferResult[]> {
    const res = await t.request<UploadOfferResponse>('POST', OFFER, {
      token: await as.token(),
      body: { objects },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.objects).toHaveLength(objects.length);
    return res.body.objects;
  }

  async function offerOne(obj: SealedTestObject, as: TestGateway = gw): Promise<UploadOfferResult> {
    return (await offer([obj.offer], as))[0]!;
  }

  function asUpload(r: UploadOfferResult | undefined): Upload {
    expect(r?.status, JSON.stringify(r)).toBe('upload');
    return r as Upload;
  }

  /** PUTs one part to its URL: the app itself for fs URLs, the S3 server for presigned ones. */
  async function putPart(url: string, body: Buffer): Promise<number> {
    const init = { method: 'PUT', body, headers: { 'content-length': String(body.length) } };
    const res = url.startsWith(TEST_PUBLIC_URL) ? await t.app.request(url, init) : await fetch(url, init);
    await res.arrayBuffer();
    return res.status;
  }

  async function putParts(
    target: Upload,
    bytes: Buffer,
    only?: (partNumber: number) => boolean,
  ): Promise<void> {
    for (const p of target.parts) {
      if (p.done || (only && !only(p.partNumber))) continue;
      const status = await putPart(p.url!, bytes.subarray(p.offset, p.offset + p.length));
      expect(status, `PUT part ${p.partNumber}`).toBe(200);
    }
  }

  async function complete(
    items: { objectId: string; uploadId: string; objectSha256: string }[],
    as: TestGateway = gw,
  ): Promise<UploadCompleteResult[]> {
    const res = await t.request<UploadCompleteResponse>('POST', COMPLETE, {
      token: await as.token(),
      body: { objects: items },
    });
    expect(res.status, res.text).toBe(200);
    return res.body.objects;
  }

  const completeOne = async (obj: SealedTestObject, target: Upload, as: TestGateway = gw) =>
    (
      await complete(
        [{ objectId: obj.objectId, uploadId: target.uploadId, objectSha256: obj.objectSha256 }],
        as,
      )
    )[0]!;

  /** Offer, upload every part, complete: the agent's happy path. */
  async function ship(obj: SealedTestObject): Promise<Stored> {
    const target = asUpload(await offerOne(obj));
    await putParts(target, obj.bytes);
    const result = await completeOne(obj, target);
    expect(result.status, JSON.stringify(result)).toBe('stored');
    return result as Stored;
  }

  const uploadRow = async (objectId: string, groupId = g.groupId) =>
    (
      await t.database.db
        .select()
        .from(uploads)
        .where(and(eq(uploads.groupId, groupId), eq(uploads.objectId, objectId)))
    )[0];

  const instancesOf = (sop: string) =>
    t.database.db
      .select()
      .from(instances)
      .where(and(eq(instances.groupId, g.groupId), eq(instances.sopInstanceUid, sop)))
      .orderBy(instances.version);

  const studyOf = async (uid: string) =>
    (
      await t.database.db
        .select()
        .from(studies)
        .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, uid)))
    )[0];

  it('ships a real sealed DICOM object end to end and answers with a verified receipt', async () => {
    const studyUid = newTestUid();
    const obj = await seal({
      sample: 'CT_small.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: newTestUid() },
    });
    const target = asUpload(await offerOne(obj));
    expect(target.parts).toEqual([
      { partNumber: 1, offset: 0, length: obj.objectBytes, done: false, url: expect.any(String) },
    ]);
    expect(target.partBytes).toBe(8 * MiB);
    const ttl = new Date(target.expiresAt).getTime() - Date.now();
    // Minutes, not a quarter of an hour: a URL cannot be revoked, only outlived.
    expect(ttl).toBeGreaterThan(4 * 60_000);
    expect(ttl).toBeLessThanOrEqual(5 * 60_000);
    expect(await uploadRow(obj.objectId)).toMatchObject({
      state: 'open',
      blobKey: `g/${g.groupId}/o/${obj.objectId}.fobj`,
      studyInstanceUid: studyUid,
      gatewayId: gw.gatewayId,
    });

    await putParts(target, obj.bytes);
    const result = await completeOne(obj, target);
    expect(result).toEqual({
      objectId: obj.objectId,
      status: 'stored',
      receipt: {
        objectId: obj.objectId,
        sopInstanceUid: obj.manifest.sopInstanceUid,
        sha256: obj.sha256,
        objectSha256: obj.objectSha256,
        storedAt: expect.any(String),
        duplicate: false,
      },
    });

    expect(await uploadRow(obj.objectId)).toMatchObject({ state: 'stored', completedAt: expect.any(Date) });
    const [inst] = await instancesOf(obj.manifest.sopInstanceUid);
    expect(inst).toMatchObject({
      objectId: obj.objectId,
      sha256: obj.sha256,
      objectSha256: obj.objectSha256,
      plainBytes: obj.plainBytes,
      objectBytes: obj.objectBytes,
      current: true,
      version: 1,
    });
    expect(inst?.metadata).toEqual(obj.metadata);
    expect(await studyOf(studyUid)).toMatchObject({
      status: 'receiving',
      instanceCount: 1,
      seriesCount: 1,
      modalities: ['CT'],
      patientNameSearch: 'compressedsamples ct1',
    });
    // The stored blob is exactly what was sent.
    const chunks: Buffer[] = [];
    for await (const c of await t.deps.blobStore.get(inst!.blobKey)) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(obj.objectSha256);
  });

  it('answers a re-offer and a second complete with the same receipt', async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    const first = await ship(obj);
    const again = await offerOne(obj);
    expect(again).toEqual({ objectId: obj.objectId, status: 'stored', receipt: first.receipt });
    const target = (await uploadRow(obj.objectId))!;
    const twice = await complete([
      { objectId: obj.objectId, uploadId: target.id, objectSha256: obj.objectSha256 },
    ]);
    expect(twice[0]).toEqual(first);
  });

  it('recognises the same instance under another object id as a duplicate, keeping one copy', async () => {
    const original = await seal({ sample: 'MR_small.dcm', set: { sopInstanceUid: newTestUid() } });
    const stored = await ship(original);
    // Already stored when offered: no upload at all.
    const resent = await seal({ part10: original.plaintext });
    expect(await offerOne(resent)).toEqual({
      objectId: resent.objectId,
      status: 'stored',
      receipt: { ...stored.receipt, objectId: resent.objectId, duplicate: true },
    });
    // Offered while the first was still in flight: both upload, the second completes as a duplicate.
    const a = await seal({ sample: 'MR_small.dcm', set: { sopInstanceUid: newTestUid() } });
    const b = await seal({ part10: a.plaintext });
    const [ta, tb] = (await offer([a.offer, b.offer])).map(asUpload);
    await putParts(ta!, a.bytes);
    await putParts(tb!, b.bytes);
    const [ra, rb] = await complete([
      { objectId: a.objectId, uploadId: ta!.uploadId, objectSha256: a.objectSha256 },
      { objectId: b.objectId, uploadId: tb!.uploadId, objectSha256: b.objectSha256 },
    ]);
    // Verified side by side: whichever is recorded second is the duplicate.
    expect([ra?.status, rb?.status]).toEqual(['stored', 'stored']);
    const firstWasDuplicate = (ra as Stored).receipt.duplicate;
    expect((rb as Stored).receipt.duplicate).toBe(!firstWasDuplicate);
    const [kept, dropped] = firstWasDuplicate ? [b, a] : [a, b];
    const rows = await instancesOf(a.manifest.sopInstanceUid);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.objectId).toBe(kept.objectId);
    // The redundant copy is not kept.
    expect(await t.deps.blobStore.head(`g/${g.groupId}/o/${dropped.objectId}.fobj`)).toBeUndefined();
    expect(await t.deps.blobStore.head(`g/${g.groupId}/o/${kept.objectId}.fobj`)).toBeDefined();
    // Each receipt names the hash of the very object its agent sent (the agent checks it), also later.
    expect((ra as Stored).receipt.objectSha256).toBe(a.objectSha256);
    expect((rb as Stored).receipt.objectSha256).toBe(b.objectSha256);
    const droppedTarget = dropped === a ? ta! : tb!;
    const again = await completeOne(dropped, droppedTarget);
    expect(again).toMatchObject({
      status: 'stored',
      receipt: { duplicate: true, objectSha256: dropped.objectSha256 },
    });
    expect(await offerOne(dropped)).toMatchObject({
      status: 'stored',
      receipt: { duplicate: true, objectSha256: dropped.objectSha256 },
    });
  });

  it('keeps a resend with other bytes as a new version and flags the study', async () => {
    const studyUid = newTestUid();
    const sop = newTestUid();
    const v1 = await seal({
      sample: 'MR_small.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
    });
    const v2 = await seal({
      sample: 'MR_small_padded.dcm',
      set: { studyInstanceUid: studyUid, sopInstanceUid: sop },
    });
    await ship(v1);
    const second = await ship(v2);
    expect(second.receipt.duplicate).toBe(false);
    const rows = await instancesOf(sop);
    expect(rows.map((r) => [r.version, r.current, r.objectId])).toEqual([
      [1, false, v1.objectId],
      [2, true, v2.objectId],
    ]);
    const study = await studyOf(studyUid);
    expect(study).toMatchObject({ updated: true, instanceCount: 1 });
    const events = await t.database.db.select().from(studyEvents).where(eq(studyEvents.studyId, study!.id));
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['created', 'new_version']));
  });

  it('resumes a multipart upload after 1 of 3 parts, sending only the missing ones', async () => {
    const obj = await seal({
      sample: 'CT_small.dcm',
      set: { sopInstanceUid: newTestUid() },
      padBytes: 17 * MiB,
    });
    const first = asUpload(await offerOne(obj));
    expect(first.parts.map((p) => [p.partNumber, p.offset, p.length, p.done])).toEqual([
      [1, 0, 8 * MiB, false],
      [2, 8 * MiB, 8 * MiB, false],
      [3, 16 * MiB, obj.objectBytes - 16 * MiB, false],
    ]);
    await putParts(first, obj.bytes, (n) => n === 1);
    const early = await completeOne(obj, first);
    expect(early).toMatchObject({ status: 'retry', code: 'upload.incomplete' });
    expect((await uploadRow(obj.objectId))?.state).toBe('open');

    // The agent restarts and offers again: same upload, part 1 done, fresh URLs for 2 and 3.
    const resumed = asUpload(await offerOne(obj));
    expect(resumed.uploadId).toBe(first.uploadId);
    expect(resumed.parts.map((p) => [p.partNumber, p.done, p.url !== undefined])).toEqual([
      [1, true, false],
      [2, false, true],
      [3, false, true],
    ]);
    await putParts(resumed, obj.bytes);
    const done = await completeOne(obj, resumed);
    expect(done).toMatchObject({
      status: 'stored',
      receipt: { objectSha256: obj.objectSha256, sha256: obj.sha256 },
    });
    const [inst] = await instancesOf(obj.manifest.sopInstanceUid);
    expect(inst?.plainBytes).toBe(obj.plainBytes);
    expect((inst!.metadata as Record<string, unknown>)['00100010']).toEqual(obj.metadata['00100010']);
  });

  it('asks again for a single-PUT object completed before it arrived', async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    const target = asUpload(await offerOne(obj));
    expect(await completeOne(obj, target)).toMatchObject({ status: 'retry', code: 'upload.incomplete' });
    expect((await uploadRow(obj.objectId))?.state).toBe('open');
    await putParts(target, obj.bytes);
    expect(await completeOne(obj, target)).toMatchObject({ status: 'stored' });
  });

  it('asks for a re-send when the stored bytes do not hash to what the agent sent', async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    const target = asUpload(await offerOne(obj));
    const torn = Buffer.from(obj.bytes);
    const at = torn.length - 100;
    torn[at] = torn[at]! ^ 0x01;
    await putParts(target, torn);
    const result = await completeOne(obj, target);
    expect(result).toMatchObject({ status: 'retry', code: 'upload.hash_mismatch' });
    // The upload is forgotten: the next offer starts afresh, and a correct send is stored.
    expect(await uploadRow(obj.objectId)).toBeUndefined();
    const again = asUpload(await offerOne(obj));
    expect(again.uploadId).not.toBe(target.uploadId);
    expect(again.parts.every((p) => !p.done)).toBe(true);
    await putParts(again, obj.bytes);
    expect(await completeOne(obj, again)).toMatchObject({ status: 'stored' });
  });

  /** A PUT as anyone holding the URL sends it: its status and body text. */
  async function putRaw(url: string, body: Buffer): Promise<{ status: number; text: string }> {
    const init = { method: 'PUT', body, headers: { 'content-length': String(body.length) } };
    const res = url.startsWith(TEST_PUBLIC_URL) ? await t.app.request(url, init) : await fetch(url, init);
    return { status: res.status, text: await res.text() };
  }

  /** What the store holds at the instance's key, hashed. */
  async function storedSha(obj: SealedTestObject): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of await t.deps.blobStore.get(`g/${g.groupId}/o/${obj.objectId}.fobj`))
      chunks.push(c as Buffer);
    return sha256(Buffer.concat(chunks));
  }

  /** WADO-RS RetrieveInstance as a reader of the group gets it: the one part's bytes. */
  async function wado(obj: SealedTestObject): Promise<Buffer> {
    const m = obj.manifest;
    const res = await getRaw(
      t,
      `/dicomweb/studies/${m.study.instanceUid}/series/${m.series.instanceUid}/instances/${m.sopInstanceUid}`,
      {
        token: g.reader.token,
        headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
      },
    );
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString('utf8', 0, 300)).toBe(200);
    const parts = readMultipart(body, res.headers.get('content-type') ?? '');
    expect(parts).toHaveLength(1);
    return parts[0]!.body;
  }

  /** fs answers with its own code; S3 with its XML error (or, for a staging key, by storing what no one reads). */
  function expectClosed(res: { status: number; text: string }, what: string): void {
    if (blobs === 'fs') {
      expect(res.status, `${what}: ${res.text}`).toBe(404);
      expect(JSON.parse(res.text).error.code, what).toBe('upload.not_found');
    }
  }

  it('a receipt is final: PUTs to its URLs afterwards change neither the stored bytes nor WADO-RS', async () => {
    const studyUid = newTestUid();
    const seriesUid = newTestUid();
    const sop = newTestUid();
    // Another patient's instance sealed to the very same length (same sample, same-length names and
    // UIDs), so a swap would pass every length check on the way.
    const otherSop = `${sop.slice(0, -1)}${sop.endsWith('1') ? '2' : '1'}`;
    const at = { studyInstanceUid: studyUid, seriesInstanceUid: seriesUid };
    const victim = await seal({ set: { ...at, sopInstanceUid: sop, patientName: 'VICTIM^ANNA' } });
    const swap = await seal({
      objectId: victim.objectId,
      set: { ...at, sopInstanceUid: otherSop, patientName: 'OTHER^BERTA' },
    });
    expect(swap.objectBytes).toBe(victim.objectBytes);
    expect(swap.objectSha256).not.toBe(victim.objectSha256);
    // A multipart object too: its part URLs must die with the receipt.
    const big = await seal({ set: { ...at, sopInstanceUid: newTestUid() }, padBytes: 9 * MiB });

    const single = asUpload(await offerOne(victim));
    const multi = asUpload(await offerOne(big));
    expect([single.parts.length, multi.parts.length]).toEqual([1, 2]);
    await putParts(single, victim.bytes);
    await putParts(multi, big.bytes);
    expect(await completeOne(victim, single)).toMatchObject({ status: 'stored' });
    expect(await completeOne(big, multi)).toMatchObject({ status: 'stored' });
    expect((await wado(victim)).equals(victim.plaintext)).toBe(true);

    // (a) another patient's sealed instance, (b) random bytes, (c) a part of the multipart object.
    const url = single.parts[0]!.url!;
    expectClosed(await putRaw(url, swap.bytes), 'swapped instance');
    expectClosed(await putRaw(url, randomBytes(victim.objectBytes)), 'random bytes');
    const part = multi.parts[0]!;
    const late = await putRaw(part.url!, randomBytes(part.length));
    if (blobs === 's3')
      expect([late.status, late.text]).toEqual([404, expect.stringContaining('NoSuchUpload')]);
    else expectClosed(late, 'multipart part');

    // The agent completing again (a retry) must not publish anything either.
    expect(await completeOne(victim, single)).toMatchObject({ status: 'stored' });
    expect(await storedSha(victim)).toBe(victim.objectSha256);
    expect(await storedSha(big)).toBe(big.objectSha256);
    // Compared with equals(): a deep toEqual of 9 MiB takes seconds.
    expect((await wado(victim)).equals(victim.plaintext)).toBe(true);
    expect((await wado(big)).equals(big.plaintext)).toBe(true);
    const [inst] = await instancesOf(sop);
    expect(inst).toMatchObject({ objectSha256: victim.objectSha256, current: true, version: 1 });
  });

  it('a cancelled upload takes no more bytes, and nothing it took reaches the final key', async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    const target = asUpload(await offerOne(obj));
    const torn = Buffer.from(obj.bytes);
    torn[torn.length - 1] = torn[torn.length - 1]! ^ 0x01;
    await putParts(target, torn);
    expect(await completeOne(obj, target)).toMatchObject({ status: 'retry', code: 'upload.hash_mismatch' });
    expect(await uploadRow(obj.objectId)).toBeUndefined();
    // The cancelled upload's URL: refused (fs), or kept where nothing reads it (S3 staging).
    expectClosed(await putRaw(target.parts[0]!.url!, obj.bytes), 'cancelled single PUT');
    expect(await t.deps.blobStore.head(`g/${g.groupId}/o/${obj.objectId}.fobj`)).toBeUndefined();
    const big = await seal({ set: { sopInstanceUid: newTestUid() }, padBytes: 9 * MiB });
    const multi = asUpload(await offerOne(big));
    const bad = Buffer.from(big.bytes);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x01;
    await putParts(multi, bad);
    expect(await completeOne(big, multi)).toMatchObject({ status: 'retry', code: 'upload.hash_mismatch' });
    const part = multi.parts[0]!;
    const late = await putRaw(part.url!, big.bytes.subarray(0, part.length));
    if (blobs === 's3')
      expect([late.status, late.text]).toEqual([404, expect.stringContaining('NoSuchUpload')]);
    else expectClosed(late, 'cancelled multipart part');
    // The next offer starts afresh and stores the right bytes.
    await ship(obj);
    expect(await storedSha(obj)).toBe(obj.objectSha256);
  });

  it('refuses an object whose decrypted content does not match the offer', async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    // Hashed correctly as uploaded, but the plaintext is not what the offer claims.
    const lying = { ...obj, offer: { ...obj.offer, sha256: sha256(Buffer.from('something else')) } };
    const target = asUpload(await offerOne(lying));
    await putParts(target, obj.bytes);
    expect(await completeOne(obj, target)).toMatchObject({
      status: 'refused',
      code: 'upload.object_invalid',
    });
    expect(await uploadRow(obj.objectId)).toBeUndefined();
    expect(await instancesOf(obj.manifest.sopInstanceUid)).toHaveLength(0);

    // Sealed for a key this control plane does not hold: cannot be opened at all.
    const foreign = await sealTestObject({
      recipientPublicKey: (await generateRecipientKeyPair()).publicJwk,
      set: { sopInstanceUid: newTestUid() },
    });
    const ft = asUpload(await offerOne(foreign));
    await putParts(ft, foreign.bytes);
    expect(await completeOne(foreign, ft)).toMatchObject({
      status: 'refused',
      code: 'upload.object_invalid',
    });
  });

  it('records a batch together, and one bad instance in it does not hold back the others', async () => {
    const study = newTestUid();
    const good1 = await seal({ set: { studyInstanceUid: study, sopInstanceUid: newTestUid() } });
    const orphan = await seal({ set: { studyInstanceUid: '', sopInstanceUid: newTestUid() } });
    const good2 = await seal({ set: { studyInstanceUid: study, sopInstanceUid: newTestUid() } });
    expect(orphan.manifest.study.instanceUid).toBeUndefined();
    const objs = [good1, orphan, good2];
    const targets = (await offer(objs.map((o) => o.offer))).map(asUpload);
    for (const [i, o] of objs.entries()) await putParts(targets[i]!, o.bytes);
    const results = await complete(
      objs.map((o, i) => ({
        objectId: o.objectId,
        uploadId: targets[i]!.uploadId,
        objectSha256: o.objectSha256,
      })),
    );
    expect(results.map((r) => r.status)).toEqual(['stored', 'refused', 'stored']);
    expect(results[1]).toMatchObject({ code: 'upload.object_invalid' });
    expect(await uploadRow(orphan.objectId)).toBeUndefined();
    expect((await studyOf(study))?.instanceCount).toBe(2);
  });

  it("keeps groups apart: no completing another group's upload, no duplicates across groups", async () => {
    const obj = await seal({ set: { sopInstanceUid: newTestUid() } });
    const target = asUpload(await offerOne(obj));
    await putParts(target, obj.bytes);
    const stolen = await completeOne(obj, target, otherGw);
    expect(stolen).toMatchObject({ status: 'refused', code: 'upload.not_found' });
    expect(JSON.stringify(stolen)).not.toContain(target.uploadId);
    expect((await uploadRow(obj.objectId))?.state).toBe('open');
    await completeOne(obj, target);
    // The other group holds nothing of this instance: it must upload its own copy.
    const theirs = asUpload(await offerOne(obj, otherGw));
    expect(theirs.uploadId).not.toBe(target.uploadId);
    expect((await uploadRow(obj.objectId, other.groupId))?.blobKey).toBe(
      `g/${other.groupId}/o/${obj.objectId}.fobj`,
    );
  });

  it('handles a batch in one request: uploads, stored, repeated and conflicting ids', async () => {
    const stored = await seal({ set: { sopInstanceUid: newTestUid() } });
    await ship(stored);
    const reused = await seal({ set: { sopInstanceUid: newTestUid() } });
    asUpload(await offerOne(reused));
    const fresh: UploadOfferObject[] = Array.from({ length: 500 - 3 }, () => ({
      objectId: newTestObjectId(),
      sopInstanceUid: newTestUid(),
      studyInstanceUid: newTestUid(),
      sha256: randomBytes(32).toString('hex'),
      plainBytes: 1000,
      objectBytes: 1200,
      receivedAt: new Date().toISOString(),
    }));
    // The same object id as an open upload, with another SOP Instance UID.
    const conflicting = { ...reused.offer, sopInstanceUid: newTestUid() };
    const started = performance.now();
    const results = await offer([...fresh, stored.offer, fresh[0]!, conflicting]);
    const ms = performance.now() - started;
    expect(results.slice(0, fresh.length).every((r) => r.status === 'upload')).toBe(true);
    expect(results[fresh.length]).toMatchObject({ status: 'stored', receipt: { duplicate: false } });
    expect(results[fresh.length + 1]).toMatchObject({ status: 'refused', code: 'request.invalid' });
    expect(results[fresh.length + 2]).toMatchObject({ status: 'refused', code: 'resource.conflict' });
    // Offered again, all 497 resume under the same upload ids.
    const again = await offer(fresh);
    expect(again.map((r) => (r as Upload).uploadId)).toEqual(
      results.slice(0, fresh.length).map((r) => (r as Upload).uploadId),
    );
    expect(ms).toBeLessThan(10_000);
  });

  if (backend === 'postgres')
    it('makes one study when two instances of a new study complete at the same time', async () => {
      const studyUid = newTestUid();
      const objs = await Promise.all(
        [1, 2, 3, 4].map(() => seal({ set: { studyInstanceUid: studyUid, sopInstanceUid: newTestUid() } })),
      );
      const targets = (await offer(objs.map((o) => o.offer))).map(asUpload);
      await Promise.all(objs.map((o, i) => putParts(targets[i]!, o.bytes)));
      const results = await Promise.all(objs.map((o, i) => completeOne(o, targets[i]!)));
      expect(results.every((r) => r.status === 'stored')).toBe(true);
      const rows = await t.database.db
        .select()
        .from(studies)
        .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, studyUid)));
      expect(rows).toHaveLength(1);
      expect(rows[0]?.instanceCount).toBe(4);
    });
});

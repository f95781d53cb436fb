/**
 * Packs of small objects (shared/src/protocol/uploads.ts `acceptPacks`): one PUT and one blob for
 * several objects, each member checked as it arrives and completed on its own; reads served from
 * inside the pack; pack blobs deleted once nothing names them.
 */
import { createHash } from 'node:crypto';
import type {
  UploadCompleteResponse,
  UploadCompleteResult,
  UploadOfferObject,
  UploadOfferResponse,
  UploadPack,
} from '@ferry/shared';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  enrollTestGateway,
  getRaw,
  type SeededGroup,
  STORE_COMBOS,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { readMultipart } from '../../../testkit/control-plane/multipart-reader.js';
import {
  newTestUid,
  type SealedTestObject,
  type SealTestObjectOptions,
  sealTestObject,
} from '../../../testkit/control-plane/seal-object.js';
import { readZip } from '../../../testkit/control-plane/zip-reader.js';
import { systemCtx } from '../context.js';
import { instances, packBlobs, studies, uploads } from '../db/schema/index.js';
import { sweepPackBlobs } from '../services/sweep-pack-blobs.js';

const OFFER = '/api/v1/agents/uploads';
const COMPLETE = '/api/v1/agents/uploads/complete';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.each(STORE_COMBOS)('upload packs (%s, %s blobs)', (backend, blobs) => {
  let t: TestApp;
  let g: SeededGroup;
  let gw: TestGateway;
  let otherGw: TestGateway;

  beforeAll(async () => {
    t = await createTestApp(backend, { blobs });
    g = await t.seedGroup('Packs group');
    const { facilityId } = await seedFacility(t, g);
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    const other = await t.seedGroup('Other packs group');
    otherGw = await enrollTestGateway(t, other);
  });
  afterAll(async () => {
    await t?.close();
  });

  const seal = (opts: Omit<SealTestObjectOptions, 'recipientPublicKey'>) =>
    sealTestObject({ ...opts, recipientPublicKey: t.deps.recipientPublicKey });

  async function sealStudy(n: number): Promise<SealedTestObject[]> {
    const study = newTestUid();
    const series = newTestUid();
    return Promise.all(
      Array.from({ length: n }, () =>
        seal({ set: { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: newTestUid() } }),
      ),
    );
  }

  async function offerPacked(objects: UploadOfferObject[], as: TestGateway = gw) {
    const res = await t.request<UploadOfferResponse>('POST', OFFER, {
      token: await as.token(),
      body: { objects, acceptPacks: true },
    });
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  async function putPack(pack: UploadPack, body: Buffer | ReadableStream, length = pack.length) {
    const res = await t.app.request(pack.url, {
      method: 'PUT',
      body,
      headers: { 'content-length': String(length) },
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
    return { status: res.status, text: await res.text() };
  }

  const packBody = (pack: UploadPack, objs: SealedTestObject[], bytesOf = (o: SealedTestObject) => o.bytes) =>
    Buffer.concat(pack.members.map((m) => bytesOf(objs.find((o) => o.objectId === m.objectId)!)));

  async function complete(
    items: { objectId: string; uploadId: string; objectSha256: string }[],
  ): Promise<UploadCompleteResult[]> {
    const res = await t.request<UploadCompleteResponse>('POST', COMPLETE, {
      token: await gw.token(),
      body: { objects: items },
    });
    expect(res.status, res.text).toBe(200);
    return res.body.objects;
  }

  const completePack = (
    pack: UploadPack,
    objs: SealedTestObject[],
    claim = (o: SealedTestObject) => o.objectSha256,
  ) =>
    complete(
      pack.members.map((m) => {
        const o = objs.find((x) => x.objectId === m.objectId)!;
        return { objectId: o.objectId, uploadId: m.uploadId, objectSha256: claim(o) };
      }),
    );

  const instancesOf = (objs: SealedTestObject[]) =>
    t.database.db
      .select()
      .from(instances)
      .where(
        and(
          eq(instances.groupId, g.groupId),
          inArray(
            instances.objectId,
            objs.map((o) => o.objectId),
          ),
        ),
      );

  const sweep = () =>
    sweepPackBlobs({
      ctx: systemCtx(t.database.db, t.deps.log, 'test-sweep'),
      deps: { blobStore: t.deps.blobStore },
      input: { graceMs: 0 },
    });

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
    return readMultipart(body, res.headers.get('content-type') ?? '')[0]!.body;
  }

  /** Offer as one pack, PUT it, complete it: every member stored. */
  async function shipPacked(objs: SealedTestObject[]): Promise<UploadPack> {
    const offered = await offerPacked(objs.map((o) => o.offer));
    expect(offered.packs).toHaveLength(1);
    const pack = offered.packs![0]!;
    expect((await putPack(pack, packBody(pack, objs))).status).toBe(200);
    const results = await completePack(pack, objs);
    expect(results.map((r) => r.status)).toEqual(objs.map(() => 'stored'));
    return pack;
  }

  it('sends small objects as one pack: one PUT, one blob, a receipt per member, reads from inside it', async () => {
    const objs = await sealStudy(6);
    const offered = await offerPacked(objs.map((o) => o.offer));
    expect(offered.objects.map((r) => r.status)).toEqual(objs.map(() => 'packed'));
    const pack = offered.packs![0]!;
    expect(pack.members.map((m) => m.objectId)).toEqual(objs.map((o) => o.objectId));
    expect(pack.length).toBe(objs.reduce((n, o) => n + o.objectBytes, 0));
    expect((await putPack(pack, packBody(pack, objs))).status).toBe(200);
    const results = await completePack(pack, objs);
    for (const [i, r] of results.entries()) {
      expect(r).toMatchObject({
        status: 'stored',
        receipt: {
          objectId: objs[i]!.objectId,
          sha256: objs[i]!.sha256,
          objectSha256: objs[i]!.objectSha256,
        },
      });
    }
    const rows = await instancesOf(objs);
    expect(new Set(rows.map((r) => r.blobKey)).size).toBe(1);
    expect(rows.map((r) => r.blobOffset).sort((a, b) => a! - b!)).toEqual(pack.members.map((m) => m.offset));
    expect((await t.deps.blobStore.head(rows[0]!.blobKey))?.size).toBe(pack.length);
    for (const o of objs) expect((await wado(o)).equals(o.plaintext)).toBe(true);
    // Frames and the study zip read from inside the pack too.
    const m = objs[3]!.manifest;
    const frame = await getRaw(
      t,
      `/dicomweb/studies/${m.study.instanceUid}/series/${m.series.instanceUid}/instances/${m.sopInstanceUid}/frames/1`,
      {
        token: g.reader.token,
        headers: { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' },
      },
    );
    expect(frame.status).toBe(200);
    expect((await frame.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    const zip = await getRaw(t, `/api/v1/studies/${m.study.instanceUid}/download`, { token: g.reader.token });
    expect(zip.status).toBe(200);
    const { entries } = readZip(Buffer.from(await zip.arrayBuffer()));
    expect(entries.map((e) => sha256(e.bytes)).sort()).toEqual(objs.map((o) => o.sha256).sort());
    // Offered again: stored, nothing to send.
    const again = await offerPacked(objs.map((o) => o.offer));
    expect(again.objects.map((r) => r.status)).toEqual(objs.map(() => 'stored'));
    expect(again.packs).toBeUndefined();
  });

  it('refuses a bad member alone: its pack-mates get their receipts', async () => {
    const objs = await sealStudy(3);
    const bad = objs[1]!;
    // Bytes the agent itself holds wrong (so it hashes what it sends): they do not open.
    const tampered = Buffer.from(bad.bytes);
    tampered[tampered.length - 40]! ^= 0xff;
    const offered = await offerPacked(objs.map((o) => o.offer));
    const pack = offered.packs![0]!;
    const body = packBody(pack, objs, (o) => (o === bad ? tampered : o.bytes));
    expect((await putPack(pack, body)).status).toBe(200);
    const results = await completePack(pack, objs, (o) => (o === bad ? sha256(tampered) : o.objectSha256));
    expect(results.map((r) => r.status)).toEqual(['stored', 'refused', 'stored']);
    expect(results[1]).toMatchObject({ code: 'upload.object_invalid' });
    expect((await instancesOf(objs)).map((r) => r.objectId).sort()).toEqual(
      [objs[0]!.objectId, objs[2]!.objectId].sort(),
    );
  });

  it('retries a member whose bytes are not what the agent sent, and takes it whole when sent again', async () => {
    const objs = await sealStudy(3);
    const torn = objs[2]!;
    const offered = await offerPacked(objs.map((o) => o.offer));
    const pack = offered.packs![0]!;
    const flipped = Buffer.from(torn.bytes);
    flipped[100]! ^= 0x01;
    expect(
      (
        await putPack(
          pack,
          packBody(pack, objs, (o) => (o === torn ? flipped : o.bytes)),
        )
      ).status,
    ).toBe(200);
    const results = await completePack(pack, objs);
    expect(results.map((r) => r.status)).toEqual(['stored', 'stored', 'retry']);
    expect(results[2]).toMatchObject({ code: 'upload.hash_mismatch' });
    // Alone now: the ordinary single PUT.
    const res = await t.request<UploadOfferResponse>('POST', OFFER, {
      token: await gw.token(),
      body: { objects: [torn.offer], acceptPacks: true },
    });
    const target = res.body.objects[0]!;
    expect(target.status).toBe('upload');
  });

  it('a PUT cut off stores nothing; offered again, the members go in a new pack', async () => {
    const objs = await sealStudy(4);
    const first = (await offerPacked(objs.map((o) => o.offer))).packs![0]!;
    const whole = packBody(first, objs);
    const cut = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(whole.subarray(0, Math.floor(whole.length / 2)));
        controller.error(new Error('connection reset'));
      },
    });
    const status = await putPack(first, cut).catch(() => ({ status: 0, text: '' }));
    expect(status.status).not.toBe(200);
    const rows = await t.database.db
      .select()
      .from(uploads)
      .where(
        inArray(
          uploads.id,
          first.members.map((m) => m.uploadId),
        ),
      );
    expect(rows.every((r) => r.state === 'open' && r.blobOffset === null)).toBe(true);
    expect(
      await t.database.db.select().from(packBlobs).where(eq(packBlobs.packId, first.packId)),
    ).toHaveLength(0);
    const incomplete = await completePack(first, objs);
    expect(incomplete.map((r) => r.status)).toEqual(objs.map(() => 'retry'));
    const second = await shipPacked(objs);
    expect(second.packId).not.toBe(first.packId);
    for (const o of objs) expect((await wado(o)).equals(o.plaintext)).toBe(true);
  });

  it('a pack sent twice: both PUTs kept apart, the unreferenced blob swept, the other kept', async () => {
    const objs = await sealStudy(3);
    const pack = (await offerPacked(objs.map((o) => o.offer))).packs![0]!;
    const body = packBody(pack, objs);
    expect((await putPack(pack, body)).status).toBe(200);
    expect((await putPack(pack, body)).status).toBe(200);
    const written = await t.database.db.select().from(packBlobs).where(eq(packBlobs.packId, pack.packId));
    expect(written).toHaveLength(2);
    expect((await completePack(pack, objs)).map((r) => r.status)).toEqual(objs.map(() => 'stored'));
    // Sent again after the receipts: refused, nothing written.
    expect((await putPack(pack, body)).status).toBe(404);
    await sweep();
    const kept = await t.database.db.select().from(packBlobs).where(eq(packBlobs.packId, pack.packId));
    expect(kept).toHaveLength(1);
    const [row] = await instancesOf(objs);
    expect(kept[0]!.blobKey).toBe(row!.blobKey);
    const gone = written.find((w) => w.blobKey !== row!.blobKey)!;
    expect(await t.deps.blobStore.head(gone.blobKey)).toBeUndefined();
    for (const o of objs) expect((await wado(o)).equals(o.plaintext)).toBe(true);
  });

  it('a deleted study frees its pack blob once no member is left', async () => {
    const objs = await sealStudy(3);
    await shipPacked(objs);
    const [row] = await instancesOf(objs);
    const key = row!.blobKey;
    // One member's instance gone: the pack still holds the others.
    await t.database.db.delete(instances).where(eq(instances.objectId, objs[0]!.objectId));
    await sweep();
    expect((await t.deps.blobStore.head(key))?.size).toBeGreaterThan(0);
    await t.database.db.delete(studies).where(eq(studies.id, row!.studyId));
    await sweep();
    expect(await t.deps.blobStore.head(key)).toBeUndefined();
    // Offered again, the instances come back whole.
    await shipPacked(objs);
    for (const o of objs) expect((await wado(o)).equals(o.plaintext)).toBe(true);
  });

  it("takes a pack PUT only on its signed URL, for its own length, and never another group's", async () => {
    const objs = await sealStudy(2);
    const pack = (await offerPacked(objs.map((o) => o.offer))).packs![0]!;
    const body = packBody(pack, objs);
    const url = new URL(pack.url);
    const forged = new URL(url);
    forged.searchParams.set('len', String(pack.length + 1));
    expect(
      (await putPack({ ...pack, url: forged.toString() }, Buffer.concat([body, Buffer.alloc(1)]))).status,
    ).toBe(403);
    const unsigned = new URL(url);
    unsigned.searchParams.delete('sig');
    expect((await putPack({ ...pack, url: unsigned.toString() }, body)).status).toBe(403);
    const expired = new URL(url);
    expired.searchParams.set('exp', '1000');
    expect((await putPack({ ...pack, url: expired.toString() }, body)).status).toBe(403);
    // Another pack's signature on this pack's id.
    const theirs = (
      await offerPacked(
        (await sealStudy(2)).map((o) => o.offer),
        otherGw,
      )
    ).packs![0]!;
    const swapped = new URL(theirs.url);
    swapped.pathname = url.pathname;
    expect((await putPack({ ...pack, url: swapped.toString() }, body, theirs.length)).status).toBe(403);
    expect((await putPack(pack, body.subarray(1), pack.length - 1)).status).toBe(400);
    expect(
      await t.database.db.select().from(packBlobs).where(eq(packBlobs.packId, pack.packId)),
    ).toHaveLength(0);
    expect((await putPack(pack, body)).status).toBe(200);
  });
});

/**
 * A measurement, not a timed test: completes N small instances of one study through the real app (offer,
 * PUT, complete) and prints how long the complete took. Skipped unless FERRY_MEASURE_COMPLETE is set:
 *
 * ```sh
 * FERRY_MEASURE_COMPLETE=500 npx vitest run control-plane/src/services/complete-uploads.measure.test.ts
 * ```
 *
 * FERRY_MEASURE_BACKENDS (pglite,postgres) picks the databases; FERRY_MEASURE_BATCH (500) is the objects
 * per complete request.
 */
import { createHash } from 'node:crypto';
import {
  deriveObjectKey,
  newDataKey,
  ObjectSealer,
  TS,
  type UploadCompleteResponse,
  type UploadOfferResponse,
  type UploadOfferResult,
  wrapDataKey,
} from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../context.js';
import { series, studies } from '../db/schema/index.js';
import { parseDicomHeader } from '../dicom/dicom-json.js';
import {
  type Backend,
  createTestApp,
  enrollTestGateway,
  seedFacility,
  TEST_PUBLIC_URL,
  type TestApp,
} from '../testing/harness.js';
import {
  manifestFor,
  newTestObjectId,
  newTestUid,
  readSample,
  rewriteSample,
  sealTestObject,
} from '../testing/seal-object.js';
import { type RecordInstanceInput, recordInstances } from './record-instances.js';

const COUNT = Number(process.env.FERRY_MEASURE_COMPLETE ?? 0);
const BATCH = Number(process.env.FERRY_MEASURE_BATCH ?? 500);
const BACKENDS = (process.env.FERRY_MEASURE_BACKENDS ?? 'pglite,postgres').split(',') as Backend[];

type Upload = Extract<UploadOfferResult, { status: 'upload' }>;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Seals `count` rewrites of MR_small.dcm (about 9 KB) the way the agent does: one epoch key, wrapped
 * once for the control plane, per-object keys derived from it (sealTestObject wraps a key per object,
 * and the control plane would then unwrap one per object).
 */
async function sealStudy(recipient: JWK, count: number, studyUid: string, seriesUids: string[]) {
  const epochKey = newDataKey();
  const wrappedKey = await wrapDataKey(epochKey, recipient);
  const sample = await readSample('MR_small.dcm');
  const objs = [];
  for (let i = 0; i < count; i++) {
    const plaintext = rewriteSample(sample, {
      studyInstanceUid: studyUid,
      seriesInstanceUid: seriesUids[i % seriesUids.length],
      sopInstanceUid: newTestUid(),
      instanceNumber: i + 1,
    });
    const objectId = newTestObjectId();
    const receivedAt = new Date().toISOString();
    const parsed = await parseDicomHeader(plaintext, { whole: true });
    const manifest = manifestFor(parsed.metadata, {
      objectId,
      receivedAt,
      transferSyntaxUid: parsed.transferSyntaxUid ?? TS.ExplicitVRLittleEndian,
      callingAeTitle: 'MODALITY',
      calledAeTitle: 'FERRY',
    });
    const sealer = new ObjectSealer(
      {
        v: 1,
        objectId,
        enc: 'A256GCM',
        kdf: 'HKDF-SHA256',
        wrappedKey,
        compression: 'none',
        contentType: 'application/dicom',
        createdAt: receivedAt,
      },
      deriveObjectKey(epochKey, objectId),
    );
    const bytes = Buffer.concat([
      sealer.headerBytes,
      ...sealer.sealManifest(manifest),
      ...sealer.sealData([plaintext], true),
    ]);
    const plainSha = sha256(plaintext);
    objs.push({
      objectId,
      bytes,
      objectSha256: sha256(bytes),
      offer: {
        objectId,
        sopInstanceUid: manifest.sopInstanceUid,
        studyInstanceUid: studyUid,
        sha256: plainSha,
        plainBytes: plaintext.length,
        objectBytes: bytes.length,
        receivedAt,
      },
    });
  }
  return objs;
}

describe.runIf(COUNT > 0).each(BACKENDS)('complete %s small instances of one study (%s)', (backend) => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('measures', async () => {
    t = await createTestApp(backend);
    const app = t;
    const g = await app.seedGroup('Measure');
    const { facilityId } = await seedFacility(app, g);
    const gw = await enrollTestGateway(app, { groupId: g.groupId, facilityId });
    const studyUid = newTestUid();
    const seriesUids = [newTestUid(), newTestUid(), newTestUid()];
    const objs = await sealStudy(app.deps.recipientPublicKey, COUNT, studyUid, seriesUids);

    let offerMs = 0;
    let completeMs = 0;
    for (let at = 0; at < objs.length; at += BATCH) {
      const batch = objs.slice(at, at + BATCH);
      let started = performance.now();
      const offered = await app.request<UploadOfferResponse>('POST', '/api/v1/agents/uploads', {
        token: await gw.token(),
        body: { objects: batch.map((o) => o.offer) },
      });
      offerMs += performance.now() - started;
      expect(offered.status, offered.text).toBe(200);
      const targets = offered.body.objects as Upload[];
      for (const [i, o] of batch.entries()) {
        const part = targets[i]!.parts[0]!;
        expect(part.url?.startsWith(TEST_PUBLIC_URL)).toBe(true);
        const res = await app.app.request(part.url!, {
          method: 'PUT',
          body: o.bytes,
          headers: { 'content-length': String(o.bytes.length) },
        });
        expect(res.status).toBe(200);
      }
      started = performance.now();
      const done = await app.request<UploadCompleteResponse>('POST', '/api/v1/agents/uploads/complete', {
        token: await gw.token(),
        body: {
          objects: batch.map((o, i) => ({
            objectId: o.objectId,
            uploadId: targets[i]!.uploadId,
            objectSha256: o.objectSha256,
          })),
        },
      });
      completeMs += performance.now() - started;
      expect(done.status, done.text).toBe(200);
      expect(done.body.objects.every((r) => r.status === 'stored')).toBe(true);
    }

    const [study] = await app.database.db
      .select()
      .from(studies)
      .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, studyUid)));
    expect(study).toMatchObject({ instanceCount: COUNT, seriesCount: seriesUids.length });
    const rows = await app.database.db.select().from(series).where(eq(series.studyId, study!.id));
    expect(rows.reduce((n, r) => n + r.instanceCount, 0)).toBe(COUNT);
    console.log(
      `[measure] ${backend}: ${COUNT} instances via the app, ${BATCH} per request: offer ${offerMs.toFixed(0)} ms, ` +
        `complete ${completeMs.toFixed(0)} ms (${(completeMs / COUNT).toFixed(2)} ms/instance)`,
    );
  });
});

describe.runIf(COUNT > 0).each(BACKENDS)('record %s small instances of one study (%s)', (backend) => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('measures the index write alone, 200 instances per transaction', async () => {
    t = await createTestApp(backend);
    const app = t;
    const g = await app.seedGroup('Measure');
    const { facilityId } = await seedFacility(app, g);
    const gw = await enrollTestGateway(app, { groupId: g.groupId, facilityId });
    const studyUid = newTestUid();
    const seriesUids = [newTestUid(), newTestUid(), newTestUid()];
    const one = await sealTestObject({
      recipientPublicKey: app.deps.recipientPublicKey,
      sample: 'MR_small.dcm',
      set: { studyInstanceUid: studyUid },
    });
    const storedAt = new Date();
    const inputs: RecordInstanceInput[] = Array.from({ length: COUNT }, (_, i) => {
      const sop = newTestUid();
      const objectId = `tmeasure${String(i).padStart(8, '0')}`;
      return {
        groupId: g.groupId,
        facilityId,
        gatewayId: gw.gatewayId,
        objectId,
        blobKey: `g/${g.groupId}/o/${objectId}.fobj`,
        manifest: {
          ...one.manifest,
          objectId,
          sopInstanceUid: sop,
          series: { ...one.manifest.series, instanceUid: seriesUids[i % seriesUids.length] },
        },
        metadata: one.metadata,
        sha256: `${i}`.padStart(64, '0'),
        objectSha256: one.objectSha256,
        plainBytes: one.plainBytes,
        objectBytes: one.objectBytes,
        storedAt,
      };
    });
    const ctx: Ctx = {
      db: app.database.db,
      actor: { kind: 'agent', groupId: g.groupId, facilityId, gatewayId: gw.gatewayId },
      requestId: 'measure',
      ip: undefined,
      log: app.deps.log,
    };
    const started = performance.now();
    for (let at = 0; at < inputs.length; at += 200) {
      await recordInstances({ ctx, input: inputs.slice(at, at + 200) });
    }
    const ms = performance.now() - started;
    const [study] = await app.database.db
      .select()
      .from(studies)
      .where(and(eq(studies.groupId, g.groupId), eq(studies.studyInstanceUid, studyUid)));
    expect(study).toMatchObject({ instanceCount: COUNT, seriesCount: seriesUids.length });
    console.log(
      `[measure] ${backend}: ${COUNT} instances recorded directly: ${ms.toFixed(0)} ms (${(ms / COUNT).toFixed(2)} ms/instance)`,
    );
  });
});

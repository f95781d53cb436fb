/**
 * The ingest path's SQL stays a fixed number of statements of a fixed size per pack PUT and complete,
 * whatever the number of members: ids and rows travel as one array or jsonb parameter, not one
 * parameter each (drizzle's per-value query building cost more CPU than PostgreSQL's work). Observed
 * on PostgreSQL, where every statement goes through pg's Client.query.
 */
import type { UploadCompleteResponse, UploadOfferResponse } from '@ferry/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  enrollTestGateway,
  seedFacility,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { newTestUid, sealTestObject } from '../../../testkit/control-plane/seal-object.js';

/** Members per pack: far more than any statement of the path may carry parameters. */
const MEMBERS = 40;
const MAX_PARAMS = 24;

interface Seen {
  text: string;
  params: number;
}

describe('ingest statements (postgres)', () => {
  let t: TestApp;
  let gw: TestGateway;
  let seen: Seen[] | undefined;
  const query = pg.Client.prototype.query;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    const g = await t.seedGroup('Statements group');
    const { facilityId } = await seedFacility(t, g);
    gw = await enrollTestGateway(t, { groupId: g.groupId, facilityId });
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const [q, values] = args as [string | pg.QueryConfig, unknown[] | undefined];
      const text = typeof q === 'string' ? q : q.text;
      seen?.push({ text, params: (values ?? (typeof q === 'string' ? [] : (q.values ?? []))).length });
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
  });
  afterAll(async () => {
    pg.Client.prototype.query = query;
    await t?.close();
  });

  async function watch(run: () => Promise<void>): Promise<Seen[]> {
    seen = [];
    try {
      await run();
      return seen;
    } finally {
      seen = undefined;
    }
  }

  it('offers, places and completes a pack of many members in a few small statements each', async () => {
    const study = newTestUid();
    const series = newTestUid();
    const objs = await Promise.all(
      Array.from({ length: MEMBERS }, () =>
        sealTestObject({
          recipientPublicKey: t.deps.recipientPublicKey,
          set: { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: newTestUid() },
        }),
      ),
    );
    const token = await gw.token();
    let offered: UploadOfferResponse | undefined;
    const offer = await watch(async () => {
      const res = await t.request<UploadOfferResponse>('POST', '/api/v1/agents/uploads', {
        token,
        body: { objects: objs.map((o) => o.offer), acceptPacks: true },
      });
      expect(res.status, res.text).toBe(200);
      offered = res.body;
    });
    const pack = offered!.packs![0]!;
    expect(pack.members).toHaveLength(MEMBERS);
    const put = await watch(async () => {
      const body = Buffer.concat(pack.members.map((m) => objs.find((o) => o.objectId === m.objectId)!.bytes));
      const res = await t.app.request(pack.url, {
        method: 'PUT',
        body,
        headers: { 'content-length': String(pack.length) },
      });
      expect(res.status, await res.text()).toBe(200);
    });
    const complete = await watch(async () => {
      const res = await t.request<UploadCompleteResponse>('POST', '/api/v1/agents/uploads/complete', {
        token: await gw.token(),
        body: {
          objects: pack.members.map((m) => {
            const o = objs.find((x) => x.objectId === m.objectId)!;
            return { objectId: o.objectId, uploadId: m.uploadId, objectSha256: o.objectSha256 };
          }),
        },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.objects.map((r) => r.status)).toEqual(objs.map(() => 'stored'));
    });
    for (const s of [...offer, ...put, ...complete])
      expect(s.params, s.text.slice(0, 120)).toBeLessThanOrEqual(MAX_PARAMS);
    // The offer reads what the group holds (instances) and has open (uploads) in one select.
    const reads = offer.filter((s) => /^\s*select/.test(s.text) && /"uploads"|"instances"/.test(s.text));
    expect(reads.length, reads.map((s) => s.text.slice(0, 60)).join('\n')).toBe(1);
    // The pack PUT: the pack with whether a member is open (one read), its blob row, the members placed.
    expect(put.length, put.map((s) => s.text.slice(0, 60)).join('\n')).toBeLessThanOrEqual(3);
    // Authentication is one statement once the gateway's keys are known (the offer read them): the
    // gateway, its revocation, the key, the jti and last contact together (auth/agent-token.ts).
    const auth = complete.filter((s) => /agent_token_uses|\bgateways\b/.test(s.text));
    expect(auth.length, auth.map((s) => s.text.slice(0, 80)).join('\n')).toBe(1);
    // Authentication (1), the uploads read, and one transaction: begin, mark stored, lock the study,
    // read versions, upsert series, insert instances, update the study (and notify), events, commit.
    expect(complete.length, complete.map((s) => s.text.slice(0, 60)).join('\n')).toBeLessThanOrEqual(11);
  });
});

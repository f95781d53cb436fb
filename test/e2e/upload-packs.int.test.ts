// Packs of small objects (shared/src/protocol/uploads.ts `acceptPacks`) across real processes: DCMTK
// storescu to the real agent, the real control plane on PostgreSQL, fs and radosgw S3. Small instances
// and CT slices go up several to a PUT and a blob, and come back byte-identical through WADO-RS and the
// study zip; a pack PUT cut halfway, kill -9 of the agent and a control-plane restart mid-pack lose
// nothing.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '@ferry/shared';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { events, waitFor } from '../harness/agent.js';
import { type Cloud, startCloud, storedVersions } from '../harness/cloud.js';
import { corpusFiles, ctCorpus, smallCorpus } from '../harness/corpus.js';
import { dicomStrings, parseStorescuOutput, requireTool, storescu } from '../harness/dcmtk.js';
import { datasetHash } from '../harness/spool.js';

const MiB = 1024 * 1024;

let cloud: Cloud | undefined;
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});

async function send(c: Cloud, files: string[]): Promise<void> {
  const r = await storescu({ port: c.agent.port, files, verbose: true, timeoutMs: 300_000 });
  const ok = parseStorescuOutput(r.stderr).outcomes.filter((o) => o.status === 'Success');
  expect(ok, r.stderr.slice(-2000)).toHaveLength(files.length);
}

interface Sent {
  file: string;
  study: string;
  series: string;
  sop: string;
  sha: string;
}

async function describeFiles(files: string[]): Promise<Sent[]> {
  return mapLimit(files, 4, async (file) => {
    const [study, series, sop] = await dicomStrings(file, [
      'StudyInstanceUID',
      'SeriesInstanceUID',
      'SOPInstanceUID',
    ]);
    if (!study || !series || !sop) throw new Error(`${file} lacks UIDs`);
    return { file, study, series, sop, sha: (await datasetHash(file)).sha256 };
  });
}

/** Every instance stored once, current, and what WADO-RS returns is what was sent. */
async function expectDelivered(c: Cloud, sent: Sent[]): Promise<void> {
  const byStudy = new Map<string, Sent[]>();
  for (const s of sent) byStudy.set(s.study, [...(byStudy.get(s.study) ?? []), s]);
  const dir = join(c.root, `wado-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const problems: string[] = [];
  for (const [uid, list] of byStudy) {
    const study = await c.waitForStudy(uid, { instances: list.length, timeoutMs: 240_000 });
    const all = storedVersions(study);
    expect(all.filter((v) => v.current)).toHaveLength(list.length);
    expect(all.filter((v) => v.version > 1 || !v.current)).toEqual([]);
    const differs = await mapLimit(list, 4, async (s) => {
      const got = await c.wadoDataset(uid, s.series, s.sop, dir);
      return got.sha256 !== s.sha;
    });
    problems.push(...list.filter((_, i) => differs[i]).map((s) => `${s.file}: WADO differs`));
  }
  expect(problems).toEqual([]);
}

/** Instances per blob for the SOP Instance UIDs given, from the control plane's own database. */
async function membersPerBlob(c: Cloud, sops: string[]): Promise<number[]> {
  const client = new pg.Client({ connectionString: c.databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>(
      `select count(*) as n from instances where sop_instance_uid = any($1) and blob_offset is not null
       group by blob_key`,
      [sops],
    );
    return r.rows.map((row) => Number(row.n));
  } finally {
    await client.end();
  }
}

async function zipEntries(c: Cloud, studyUid: string): Promise<number> {
  const res = await c.cp.fetch(`${c.cp.url}/api/v1/studies/${studyUid}/download`, {
    headers: { authorization: `Bearer ${c.session}` },
  });
  expect(res.status).toBe(200);
  const zip = Buffer.from(await res.arrayBuffer());
  // Central directory entries: PK\x01\x02.
  let n = 0;
  for (let at = zip.indexOf('PK\x01\x02'); at >= 0; at = zip.indexOf('PK\x01\x02', at + 4)) n++;
  return n;
}

describe.each([{ blobs: 'fs' as const }, { blobs: 's3' as const }])(
  'packs end to end ($blobs blobs, postgres)',
  ({ blobs }) => {
    it('sends small instances and CT slices several to a pack, and reads them back byte-identical', async () => {
      requireTool('storescu');
      const small = (await corpusFiles(await smallCorpus())).slice(0, 400);
      const ct = (await corpusFiles(await ctCorpus())).slice(0, 60);
      cloud = await startCloud({
        name: `packs-${blobs}`,
        blobs,
        database: 'postgres',
        stablePeriodSeconds: 1,
        // Packing as such: with auto, 400 small instances load the control plane enough that its
        // PUTs time like a slow link, and CT slices coded as images trickle in one offer at a time.
        agentConfig: { upload: { compression: 'none' } },
      });
      const c = cloud;
      const sent = await describeFiles([...small, ...ct]);
      await send(c, small);
      await send(c, ct);
      await expectDelivered(c, sent);
      const smallPacks = await membersPerBlob(
        c,
        sent.slice(0, small.length).map((s) => s.sop),
      );
      const ctPacks = await membersPerBlob(
        c,
        sent.slice(small.length).map((s) => s.sop),
      );
      // Nearly every instance went in a pack, several to a blob.
      expect(smallPacks.reduce((a, b) => a + b, 0)).toBeGreaterThan(small.length * 0.9);
      expect(Math.max(...smallPacks)).toBeGreaterThan(8);
      expect(ctPacks.reduce((a, b) => a + b, 0)).toBeGreaterThan(ct.length * 0.5);
      expect(Math.max(...ctPacks)).toBeGreaterThan(4);
      expect(events(c.agent, 'upload.quarantined')).toEqual([]);
      const ctStudy = sent[small.length]!.study;
      expect(await zipEntries(c, ctStudy)).toBe(ct.length);
    }, 600_000);
  },
);

describe('packs through faults (s3 blobs, postgres)', () => {
  it('a pack PUT cut halfway, kill -9 of the agent and a control-plane restart mid-pack lose nothing', async () => {
    requireTool('storescu');
    const ct = (await corpusFiles(await ctCorpus())).slice(60, 140);
    const sent = await describeFiles(ct);
    cloud = await startCloud({
      name: 'packs-faults',
      blobs: 's3',
      database: 'postgres',
      stablePeriodSeconds: 1,
      tcpProxyControlPlane: true,
    });
    const c = cloud;
    const link = c.cpLink;
    if (!link) throw new Error('no link to the control plane');
    // No connection to the control plane carries a whole pack (about 16 MiB) while this is on.
    link.resetAfterBytes(4 * MiB);
    await send(c, ct);
    await waitFor(
      () => link.stats().resets >= 2 && events(c.agent, 'upload.retry').length >= 2,
      60_000,
      'pack PUTs cut halfway and retried',
    );
    await c.agent.kill9();
    link.resetAfterBytes(null);
    const upBefore = link.stats().bytesUp;
    await c.restartAgent();
    // The control plane goes down while packs are on their way.
    await waitFor(() => link.stats().bytesUp > upBefore + 8 * MiB, 60_000, 'packs under way again');
    await c.restartControlPlane(500);
    await expectDelivered(c, sent);
    expect(events(c.agent, 'upload.quarantined')).toEqual([]);
    expect(
      (
        await membersPerBlob(
          c,
          sent.map((s) => s.sop),
        )
      ).length,
    ).toBeGreaterThan(0);
  }, 600_000);
});

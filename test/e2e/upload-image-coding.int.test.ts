// Issue 19's proof across real processes: with `upload.compression` = image, every sendable pydicom
// sample and every real CT, MR and CR file of test/data/real goes DCMTK storescu → the real agent →
// the real control plane on PostgreSQL (fs and radosgw S3), and WADO-RS (transfer-syntax=*) gives back
// exactly what storescp kept of the same send. The control plane's own record of how each object
// travelled (instances.transport_coding, counted as it opened the object) says the image codec took
// the native pixels of every image it can code as rows (JPEG-LS, band for band on real images) and
// nothing else (zstd or as received).
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { mapLimit, type TransportCoding, TS } from '@ferry/shared';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pixelPlanOf } from '../../testkit/control-plane/image-object.js';
import { sleep } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { dicomStrings, requireTool } from '../harness/dcmtk.js';
import { realDataFiles } from '../harness/real-data.js';
import {
  describeRef,
  expectDeliveredIdentical,
  PARALLEL,
  type Sent,
  sendBoth,
  sendPydicomSamples,
  successes,
} from '../harness/reference-send.js';

/** The agent's writer leaves frames below this to zstd (agent/src/spool/pixel-bands.ts MIN_FRAME_BYTES). */
const MIN_CODED_FRAME_BYTES = 8 << 10;
const NATIVE = new Set<string>([
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
]);

interface Recorded {
  transport: TransportCoding | null;
  plainBytes: number;
  objectBytes: number;
  transferSyntaxUid: string;
}

/** The current instance row of each SOP Instance UID, from the control plane's own database. */
async function recorded(c: Cloud, sops: string[]): Promise<Map<string, Recorded>> {
  const client = new pg.Client({ connectionString: c.databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{
      sop_instance_uid: string;
      transport_coding: TransportCoding | null;
      plain_bytes: string;
      object_bytes: string;
      transfer_syntax_uid: string;
    }>(
      `select sop_instance_uid, transport_coding, plain_bytes, object_bytes, transfer_syntax_uid
       from instances where current and sop_instance_uid = any($1)`,
      [sops],
    );
    return new Map(
      r.rows.map((row) => [
        row.sop_instance_uid,
        {
          transport: row.transport_coding,
          plainBytes: Number(row.plain_bytes),
          objectBytes: Number(row.object_bytes),
          transferSyntaxUid: row.transfer_syntax_uid,
        },
      ]),
    );
  } finally {
    await client.end();
  }
}

/**
 * What each instance's record must say: JPEG-LS bands for native pixels the codec takes as rows
 * (as many as the image has bands, for a real image), nothing coded as JPEG-LS otherwise. Every
 * problem is listed, not only the first.
 */
async function codingProblems(c: Cloud, sent: Sent[], real: Set<string>): Promise<string[]> {
  const latest = [...new Map(sent.map((s) => [s.sopUid, s])).values()];
  const rows = await recorded(
    c,
    latest.map((s) => s.sopUid),
  );
  const problems: string[] = [];
  for (const s of latest) {
    const row = rows.get(s.sopUid);
    const t = row?.transport;
    if (!row || !t) {
      problems.push(`${s.name}: no transport coding recorded`);
      continue;
    }
    const plan = await pixelPlanOf(await readFile(s.refFile));
    const coded = plan !== undefined && plan.frameBytes >= MIN_CODED_FRAME_BYTES;
    const said = `${s.name} (${row.transferSyntaxUid}): ${JSON.stringify(t)}`;
    if (coded) {
      if (t.compression !== 'image' || t.jpeglsFrames === 0) problems.push(`${said}: no JPEG-LS`);
      else if (real.has(s.name) && t.jpeglsFrames !== plan.bands.length)
        problems.push(`${said}: ${plan.bands.length} bands, not all JPEG-LS`);
    } else if (t.jpeglsFrames !== 0 || t.compression === 'image') {
      problems.push(`${said}: JPEG-LS where the codec cannot take the pixels as rows`);
    } else if (t.compression !== (NATIVE.has(row.transferSyntaxUid) ? 'zstd' : 'none')) {
      problems.push(`${said}: not zstd for a native syntax, as received for any other`);
    }
  }
  return problems;
}

describe.each([{ blobs: 'fs' as const }, { blobs: 's3' as const }])(
  'image coding end to end ($blobs blobs, postgres)',
  ({ blobs }) => {
    let cloud: Cloud;

    beforeAll(async () => {
      for (const tool of ['storescu', 'storescp', 'dcmdump']) requireTool(tool);
      cloud = await startCloud({
        name: `image-${blobs}`,
        blobs,
        database: 'postgres',
        stablePeriodSeconds: 2,
        agentConfig: { upload: { compression: 'image' } },
      });
      // The pushed config is the one in force once the gateway connects: say image there too.
      const put = await cloud.api('PUT', '/api/v1/settings/gateways', { upload: { compression: 'image' } });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const upload = (await cloud.agentConfig()).upload as { compression?: string } | undefined;
        if (upload?.compression === 'image') break;
        if (Date.now() > deadline)
          throw new Error(`upload.compression never applied: ${JSON.stringify(upload)}`);
        await sleep(100);
      }
    }, 120_000);

    afterAll(() => cloud?.close());

    it('delivers every pydicom sample byte-identical, JPEG-LS exactly where the pixels allow', async () => {
      const sent = await sendPydicomSamples(cloud, join(cloud.root, 'ref-samples'));
      await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-samples'));
      expect(await codingProblems(cloud, sent, new Set())).toEqual([]);
    }, 900_000);

    it('delivers every real CT, MR and CR file byte-identical, every band of every image JPEG-LS', async () => {
      const files = realDataFiles();
      const { agent, refFiles } = await sendBoth(cloud, files, [], join(cloud.root, 'ref-real'));
      expect(successes(agent), agent.stderr.slice(-1500)).toHaveLength(files.length);
      expect(refFiles).toHaveLength(files.length);
      const sent = await mapLimit(refFiles, PARALLEL, (f) => describeRef(basename(f), f));
      await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-real'));
      expect(await codingProblems(cloud, sent, new Set(sent.map((s) => s.name)))).toEqual([]);
      // What the codec bought on real CT: well beyond zstd's 1.2-1.5:1.
      const rows = await recorded(
        cloud,
        sent.map((s) => s.sopUid),
      );
      const modalities = await mapLimit(
        sent,
        PARALLEL,
        async (s) => (await dicomStrings(s.refFile, ['Modality']))[0],
      );
      const ct = sent.filter((_, i) => modalities[i] === 'CT').map((s) => rows.get(s.sopUid)!);
      expect(ct).toHaveLength(realDataFiles((f) => f.modality === 'CT').length);
      const plain = ct.reduce((n, r) => n + r.plainBytes, 0);
      const sealed = ct.reduce((n, r) => n + r.objectBytes, 0);
      expect(plain / sealed).toBeGreaterThan(2);
    }, 900_000);
  },
);

// Issue 16: a dataset cut off inside its Pixel Data (32,768 bytes declared, 13,479 sent) once got
// C-STORE Success and reached the worklist. Through a real association to an enrolled agent it is now
// refused with a failure status that says what is wrong, leaves nothing in the spool or the cloud,
// and the next instance on the same association is stored and uploaded as before.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeScratch } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { pydicomSamplesDir } from '../harness/corpus.js';
import { sha256 } from '../harness/part10.js';
import { type Part10, RawScu, readPart10, Uids } from '../harness/raw-scu.js';
import { indexEntries, spoolDirs } from '../harness/spool.js';

const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const CT_STUDY = '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322';
const MR_STUDY = '1.3.6.1.4.1.5962.1.2.4.20040826185059.5457';

let cloud: Cloud;
let ct: Part10;
let mr: Part10;

beforeAll(async () => {
  ct = await readPart10(join(pydicomSamplesDir, 'CT_small.dcm'));
  mr = await readPart10(join(pydicomSamplesDir, 'MR_small.dcm'));
  cloud = await startCloud({ name: 'truncated-dataset', stablePeriodSeconds: 1 });
}, 120_000);

afterAll(async () => {
  await cloud?.close();
  await removeScratch(cloud?.root);
});

describe('a dataset cut off inside its Pixel Data', () => {
  it('is refused with what is wrong, kept nowhere, and the association stores the next one', async () => {
    // CT_small is 128 x 128 x 16 bits: Pixel Data (7FE0,0010) OW of 32,768 bytes (then trailing padding).
    const pixelHeader = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 0x00, 0x80, 0, 0]);
    const pixels = ct.dataset.lastIndexOf(pixelHeader) + pixelHeader.length;
    expect(pixels).toBeGreaterThan(pixelHeader.length);
    const cut = ct.dataset.subarray(0, pixels + 13_479);

    const { scu } = await RawScu.open(cloud.agent.port, {
      calledAe: cloud.aeTitle,
      contexts: [
        { id: 1, abstractSyntax: Uids.CtImageStorage, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
        { id: 3, abstractSyntax: MR_IMAGE_STORAGE, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
      ],
    });
    const refused = await scu.store({
      contextId: 1,
      messageId: 1,
      sopClassUid: ct.sopClassUid,
      sopInstanceUid: ct.sopInstanceUid,
      dataset: cut,
    });
    expect(refused.status).toBe(0xc210);
    expect(refused.errorComment).toBe('dataset ends inside Pixel Data: 13479 of 32768 bytes');

    const stored = await scu.store({
      contextId: 3,
      messageId: 2,
      sopClassUid: mr.sopClassUid,
      sopInstanceUid: mr.sopInstanceUid,
      dataset: mr.dataset,
    });
    expect(stored.status).toBe(0x0000);
    await scu.release();

    // The MR reaches the cloud byte for byte; the CT never existed there or in the spool.
    const study = await cloud.waitForStudy(MR_STUDY, { instances: 1, timeoutMs: 60_000 });
    expect(
      study.series.flatMap((s) => s.instances.flatMap((i) => i.versions.map((v) => v.sha256))),
    ).toHaveLength(1);
    const series = study.series[0]!;
    const got = await cloud.wadoDataset(MR_STUDY, series.seriesInstanceUid, mr.sopInstanceUid, cloud.root);
    expect(got.sha256).toBe(sha256(mr.dataset));
    expect(await cloud.study(CT_STUDY)).toBeUndefined();
    const entries = await indexEntries(cloud.agentDataDir);
    expect(entries.map((e) => e.sopInstanceUid)).toEqual([mr.sopInstanceUid]);
    expect((await spoolDirs(cloud.agentDataDir)).tmp).toEqual([]);

    // One warning that says what and where, with no patient data in it.
    const warnings = cloud.agent.logLines().filter((l) => l.event === 'dicom.dataset_malformed');
    expect(warnings).toEqual([
      expect.objectContaining({
        sopInstanceUid: ct.sopInstanceUid,
        problem: 'dataset ends inside Pixel Data: 13479 of 32768 bytes',
      }),
    ]);
    expect(JSON.stringify(warnings)).not.toMatch(/CompressedSamples|CT1/);
  }, 120_000);
});

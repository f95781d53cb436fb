/**
 * A small worklist for read-side tests, in two groups, seeded through the real ingest path
 * (sealTestObject, recordInstances, the blob store):
 *
 * - group A, facility A1: `mueller` (MÜLLER^Zoë, CT, 2024-01-05, two instances, instance 1 resent with
 *   other bytes so it has two versions and the study is `updated`) and `doe` (DOE^JOHN, MR, 2024-02-10,
 *   patient id `X%_1` with LIKE wildcards in it);
 * - group A, facility A2: `obrien` (O'BRIEN^PAT, MR stored as JPEG 2000 lossless, 2023-12-31);
 * - group B: `other` (DOE^JANE, CT, 2024-02-10), which group A must never see.
 *
 * No vitest import here.
 */
import { type SeededGroup, seedFacility, type TestApp } from './harness.js';
import { newTestUid } from './seal-object.js';
import { type StoredTestInstance, seedStoredInstance } from './seed-stored-study.js';

export interface SeededStudy {
  studyUid: string;
  seriesUid: string;
  groupId: string;
  facilityId: string;
  /** The current version of each instance, in instance order. */
  current: StoredTestInstance[];
  /** Every stored object, superseded versions included. */
  all: StoredTestInstance[];
}

export interface Worklist {
  a: SeededGroup;
  b: SeededGroup;
  facilities: {
    a1: { facilityId: string; name: string };
    a2: { facilityId: string; name: string };
    b: { facilityId: string; name: string };
  };
  mueller: SeededStudy;
  doe: SeededStudy;
  obrien: SeededStudy;
  other: SeededStudy;
}

export const JPEG2000_LOSSLESS = '1.2.840.10008.1.2.4.90';

async function seedStudy(
  t: TestApp,
  where: { groupId: string; facilityId: string },
  opts: {
    sample: string;
    patientName: string;
    patientId: string;
    studyDate: string;
    description: string;
    accessionNumber: string;
    receivedAt: string;
    instances: number;
  },
): Promise<SeededStudy> {
  const studyUid = newTestUid();
  const seriesUid = newTestUid();
  const current: StoredTestInstance[] = [];
  for (let n = 1; n <= opts.instances; n++) {
    const at = new Date(Date.parse(opts.receivedAt) + n * 1000).toISOString();
    current.push(
      await seedStoredInstance(t, where, {
        sample: opts.sample,
        receivedAt: at,
        set: {
          studyInstanceUid: studyUid,
          seriesInstanceUid: seriesUid,
          sopInstanceUid: newTestUid(),
          instanceNumber: n,
          patientName: opts.patientName,
          patientId: opts.patientId,
          studyDate: opts.studyDate,
          studyDescription: opts.description,
          accessionNumber: opts.accessionNumber,
        },
      }),
    );
  }
  return {
    studyUid,
    seriesUid,
    groupId: where.groupId,
    facilityId: where.facilityId,
    current,
    all: [...current],
  };
}

export async function seedWorklist(t: TestApp): Promise<Worklist> {
  const a = await t.seedGroup('Worklist A');
  const b = await t.seedGroup('Worklist B');
  const a1 = await seedFacility(t, a, { name: 'North hospital' });
  const a2 = await seedFacility(t, a, { name: 'South clinic' });
  const fb = await seedFacility(t, b, { name: 'Other group hospital' });
  const inA1 = { groupId: a.groupId, facilityId: a1.facilityId };

  const mueller = await seedStudy(t, inA1, {
    sample: 'CT_small.dcm',
    patientName: 'MÜLLER^Zoë',
    patientId: 'PID-001',
    studyDate: '20240105',
    description: 'Chest CT',
    accessionNumber: 'ACC-1',
    receivedAt: '2024-03-01T10:00:00.000Z',
    instances: 2,
  });
  // Instance 1 again, with other bytes: version 2 becomes current, version 1 stays as history.
  const first = mueller.current[0]!;
  const resent = await seedStoredInstance(t, inA1, {
    part10: first.sealed.plaintext,
    padBytes: 64,
    receivedAt: '2024-03-01T10:05:00.000Z',
  });
  mueller.current[0] = resent;
  mueller.all.push(resent);

  const doe = await seedStudy(t, inA1, {
    sample: 'MR_small.dcm',
    patientName: 'DOE^JOHN',
    patientId: 'X%_1',
    studyDate: '20240210',
    description: 'Brain MR',
    accessionNumber: 'ACC-2',
    receivedAt: '2024-03-02T10:00:00.000Z',
    instances: 1,
  });
  const obrien = await seedStudy(
    t,
    { groupId: a.groupId, facilityId: a2.facilityId },
    {
      sample: 'MR_small_jp2klossless.dcm',
      patientName: "O'BRIEN^PAT",
      patientId: 'PID-003',
      studyDate: '20231231',
      description: 'Knee MR',
      accessionNumber: 'ACC-3',
      receivedAt: '2024-03-03T10:00:00.000Z',
      instances: 1,
    },
  );
  const other = await seedStudy(
    t,
    { groupId: b.groupId, facilityId: fb.facilityId },
    {
      sample: 'CT_small.dcm',
      patientName: 'DOE^JANE',
      patientId: 'PID-B',
      studyDate: '20240210',
      description: 'Other group CT',
      accessionNumber: 'ACC-B',
      receivedAt: '2024-03-04T10:00:00.000Z',
      instances: 1,
    },
  );
  return {
    a,
    b,
    facilities: {
      a1: { facilityId: a1.facilityId, name: a1.name },
      a2: { facilityId: a2.facilityId, name: a2.name },
      b: { facilityId: fb.facilityId, name: fb.name },
    },
    mueller,
    doe,
    obrien,
    other,
  };
}

/** One study of `group` (for the shared security suite's resourceOfGroup). */
export async function seedOneStudy(
  t: TestApp,
  group: SeededGroup,
): Promise<{ studyUid: string; seriesUid: string; sopUid: string }> {
  const f = await seedFacility(t, group);
  const s = await seedStudy(
    t,
    { groupId: group.groupId, facilityId: f.facilityId },
    {
      sample: 'MR_small.dcm',
      patientName: 'SECURITY^SUITE',
      patientId: `P-${group.groupId.slice(0, 8)}`,
      studyDate: '20240101',
      description: 'Security suite',
      accessionNumber: 'SEC',
      receivedAt: new Date().toISOString(),
      instances: 1,
    },
  );
  return {
    studyUid: s.studyUid,
    seriesUid: s.seriesUid,
    sopUid: s.current[0]!.sealed.manifest.sopInstanceUid,
  };
}

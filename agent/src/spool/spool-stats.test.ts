import { describe, expect, it } from 'vitest';
import type { IndexEntry } from './index-entry.js';
import { CodingTally, RATIO_MIN_RAW_BYTES, RATIO_SPAN_BYTES, spoolStatsOf } from './spool-stats.js';

function entry(id: string, state: IndexEntry['state'], receivedAt: string, study?: string): IndexEntry {
  return {
    id,
    sopInstanceUid: `2.25.${id.length}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    ...(study ? { studyInstanceUid: study } : {}),
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    callingAeTitle: 'CT',
    receivedAt,
    plainBytes: 100,
    sha256: '0'.repeat(64),
    objectBytes: 1000,
    version: 1,
    state,
    inline: true,
  };
}

describe('spool stats', () => {
  it('counts what is still to ship, its studies and its oldest, and the quarantined apart', () => {
    const stats = spoolStatsOf([
      entry('a', 'delivered', '2026-11-28T10:00:00.000Z', '2.25.1'),
      entry('b', 'uploading', '2026-11-28T11:40:00.000Z', '2.25.1'),
      entry('c', 'spooled', '2026-11-28T11:50:00.000Z', '2.25.2'),
      entry('d', 'spooled', '2026-11-28T11:55:00.000Z'),
      entry('e', 'quarantined', '2026-11-28T09:00:00.000Z', '2.25.3'),
    ]);
    expect(stats).toEqual({
      pendingCount: 3,
      pendingBytes: 3000,
      pendingStudies: 3,
      quarantined: 1,
      oldestUnsentAt: new Date('2026-11-28T11:40:00.000Z'),
    });
  });

  it('has no oldest when nothing is pending', () => {
    expect(spoolStatsOf([entry('a', 'delivered', '2026-11-28T10:00:00.000Z')])).toMatchObject({
      pendingCount: 0,
      pendingStudies: 0,
      oldestUnsentAt: undefined,
    });
  });
});

describe('coding tally ratios', () => {
  const MiB = 1 << 20;
  it("gives each coding's raw ÷ sealed over recent objects once enough were sealed so", () => {
    const t = new CodingTally();
    t.record('CT', { instances: 1, rawBytes: RATIO_MIN_RAW_BYTES - 1, sealedBytes: MiB }, 'image');
    expect(t.ratio('image')).toBeUndefined();
    t.record('CT', { instances: 1, rawBytes: 1, sealedBytes: 0 }, 'image');
    expect(t.ratio('image')).toBe(RATIO_MIN_RAW_BYTES / MiB);
    // Uncoded objects (and entries of older logs, with no coding) say nothing about a coding's ratio.
    t.record('CT', { instances: 1, rawBytes: 100 * MiB, sealedBytes: 100 * MiB }, 'none');
    t.record('CT', { instances: 1, rawBytes: 100 * MiB, sealedBytes: 100 * MiB });
    expect(t.ratio('image')).toBe(RATIO_MIN_RAW_BYTES / MiB);
    expect(t.ratio('zstd')).toBeUndefined();
    // The per-modality tally still counts every object.
    expect(t.snapshot().CT!.instances).toBe(4);
  });

  it('lets older objects fade: traffic that changes moves the ratio towards its own', () => {
    const t = new CodingTally();
    t.record('CT', { rawBytes: RATIO_SPAN_BYTES, sealedBytes: RATIO_SPAN_BYTES / 4 }, 'image');
    expect(t.ratio('image')).toBe(4);
    for (let i = 0; i < 8; i++)
      t.record('MR', { rawBytes: RATIO_SPAN_BYTES / 2, sealedBytes: RATIO_SPAN_BYTES / 4 }, 'image');
    expect(t.ratio('image')).toBeGreaterThan(2);
    expect(t.ratio('image')).toBeLessThan(2.05);
  });
});

import { describe, expect, it } from 'vitest';
import { type CompressionReport, type HealthReport, healthReportSchema } from './health.js';

const report: HealthReport = {
  agentVersion: '1.0.0',
  uptimeSeconds: 1,
  configVersion: 1,
  spool: { pendingCount: 0, pendingBytes: 0, pendingStudies: 0, oldestUnsentAt: null, quarantined: 0 },
  upload: { bytesPerSecond: 0, objectsDelivered: 0, errors: 0, lastError: null },
  dicom: {
    listening: true,
    aeTitle: 'GW',
    port: 104,
    activeAssociations: 0,
    associations: 0,
    lastStoreByCallingAe: [],
    tlsCertExpiresAt: null,
  },
  disk: { freeBytes: 1, totalBytes: 2 },
  clockOffsetMs: null,
  conditions: [],
};

const compression: CompressionReport = {
  mode: 'auto',
  coding: 'image',
  reason: 'uplink_slower_than_codec',
  drainBytesPerSecond: 2.5e6,
  lastDrainBytesPerSecond: 2.5e6,
  codecBytesPerSecond: null,
  byModality: [
    {
      modality: 'CT',
      instances: 2,
      rawBytes: 1e6,
      sealedBytes: 3e5,
      jpeglsFrames: 2,
      fallbackFrames: 0,
      codecMs: 25,
    },
  ],
};

describe('health report compression (issue 19)', () => {
  it('is optional, so an older agent stays valid, and kept when sent', () => {
    expect(healthReportSchema.parse(report).compression).toBeUndefined();
    expect(healthReportSchema.parse({ ...report, compression }).compression).toEqual(compression);
  });

  it('takes a mode, coding or reason a newer agent names, and refuses negative figures', () => {
    const newer = { ...compression, mode: 'htj2k', coding: 'htj2k', reason: 'something_new' };
    expect(healthReportSchema.safeParse({ ...report, compression: newer }).success).toBe(true);
    const bad = { ...compression, byModality: [{ ...compression.byModality[0], sealedBytes: -1 }] };
    expect(healthReportSchema.safeParse({ ...report, compression: bad }).success).toBe(false);
  });
});

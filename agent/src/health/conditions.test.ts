import { describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_ERROR_MS,
  CLOCK_SKEW_WARN_MS,
  clockSkew,
  commitmentUndelivered,
  configRejected,
  diskLow,
  listenerDown,
  TLS_EXPIRY_WARN_MS,
  tlsExpiring,
  UPLOAD_STALL_MS,
  uploadQuarantined,
  uploadStalled,
} from './conditions.js';

const GiB = 1024 ** 3;

describe('diskLow', () => {
  it('uses the smaller of 10% and 5 GiB for the warning', () => {
    // 1 TB disk: 5 GiB is smaller than 10%.
    expect(diskLow(6 * GiB, 1000 * GiB)).toBeUndefined();
    expect(diskLow(4.9 * GiB, 1000 * GiB)?.severity).toBe('warning');
    // 20 GiB disk: 10% (2 GiB) is smaller than 5 GiB.
    expect(diskLow(3 * GiB, 20 * GiB)).toBeUndefined();
    expect(diskLow(1.9 * GiB, 20 * GiB)?.severity).toBe('warning');
  });

  it('uses the smaller of 2% and 1 GiB for the error', () => {
    expect(diskLow(0.9 * GiB, 1000 * GiB)?.severity).toBe('error');
    expect(diskLow(1.1 * GiB, 1000 * GiB)?.severity).toBe('warning');
    expect(diskLow(0.3 * GiB, 20 * GiB)?.severity).toBe('error');
    expect(diskLow(0.5 * GiB, 20 * GiB)?.severity).toBe('warning');
  });

  it('says how much is free and ignores an unknown disk', () => {
    expect(diskLow(0.5 * GiB, 100 * GiB)?.message).toMatch(/0\.5 GiB free of 100\.0 GiB/);
    expect(diskLow(0, 0)).toBeUndefined();
  });
});

describe('uploadStalled', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const base = {
    pendingCount: 3,
    uploadsOn: true,
    lastProgressAt: ago(UPLOAD_STALL_MS + 1000),
    oldestPendingAt: ago(UPLOAD_STALL_MS + 1000),
    now,
  };

  it('warns when objects wait and nothing was delivered for 10 minutes', () => {
    const f = uploadStalled(base);
    expect(f?.severity).toBe('warning');
    expect(f?.message).toMatch(/^3 object\(s\) waiting and nothing delivered for 10 min/);
  });

  it('holds off when any part of the rule is missing', () => {
    expect(uploadStalled({ ...base, pendingCount: 0 })).toBeUndefined();
    expect(uploadStalled({ ...base, uploadsOn: false })).toBeUndefined();
    expect(uploadStalled({ ...base, lastProgressAt: ago(UPLOAD_STALL_MS - 1000) })).toBeUndefined();
    expect(uploadStalled({ ...base, oldestPendingAt: ago(UPLOAD_STALL_MS - 1000) })).toBeUndefined();
    expect(uploadStalled({ ...base, oldestPendingAt: undefined })).toBeUndefined();
  });
});

describe('uploadQuarantined', () => {
  it('warns with the count', () => {
    expect(uploadQuarantined(0)).toBeUndefined();
    expect(uploadQuarantined(2)).toMatchObject({
      severity: 'warning',
      message: expect.stringMatching(/^2 object/),
    });
  });
});

describe('clockSkew', () => {
  it('warns past 30 s and errs past 60 s (where the control plane refuses its tokens), either way', () => {
    expect(clockSkew(null)).toBeUndefined();
    expect(clockSkew(CLOCK_SKEW_WARN_MS)).toBeUndefined();
    expect(clockSkew(CLOCK_SKEW_WARN_MS + 1)?.severity).toBe('warning');
    expect(clockSkew(-(CLOCK_SKEW_WARN_MS + 1))?.message).toMatch(/behind/);
    expect(clockSkew(CLOCK_SKEW_ERROR_MS + 1)?.severity).toBe('error');
    expect(clockSkew(CLOCK_SKEW_ERROR_MS + 5000)?.message).toMatch(/65 s ahead/);
  });
});

describe('listenerDown', () => {
  it('is an error naming the port', () => {
    expect(listenerDown(true, 104)).toBeUndefined();
    expect(listenerDown(false, 104)).toMatchObject({
      severity: 'error',
      message: expect.stringMatching(/port 104/),
    });
  });
});

describe('tlsExpiring', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  it('warns inside 14 days and errs once expired', () => {
    expect(tlsExpiring(undefined, now)).toBeUndefined();
    expect(tlsExpiring(new Date(now.getTime() + TLS_EXPIRY_WARN_MS + 1000), now)).toBeUndefined();
    expect(tlsExpiring(new Date(now.getTime() + 3 * 86_400_000), now)).toMatchObject({
      severity: 'warning',
      message: expect.stringMatching(/expires in 3 day/),
    });
    expect(tlsExpiring(new Date(now.getTime() - 1000), now)?.severity).toBe('error');
  });
});

describe('configRejected', () => {
  it('holds while the rejected version is newer than the applied one, with the reason', () => {
    expect(configRejected(undefined, 3)).toBeUndefined();
    expect(configRejected({ version: 3, reason: 'x' }, 3)).toBeUndefined();
    expect(configRejected({ version: 4, reason: 'port 104 is in use' }, 3)).toMatchObject({
      severity: 'warning',
      message: expect.stringMatching(/version 4 was rejected .*version 3 stays in force.*port 104 is in use/),
    });
    expect(configRejected({ version: 4, reason: 'x'.repeat(600) }, 3)?.message.length).toBe(500);
  });
});

describe('commitmentUndelivered', () => {
  it('warns while a storage commitment report cannot be delivered, naming the requesters', () => {
    expect(commitmentUndelivered(undefined)).toBeUndefined();
    expect(commitmentUndelivered({ count: 0, callingAeTitles: [], lastError: undefined })).toBeUndefined();
    const f = commitmentUndelivered({
      count: 2,
      callingAeTitles: ['CT1', 'MR2'],
      lastError: "no peer in this gateway's peers list has the AE title MR2",
    });
    expect(f).toMatchObject({ code: 'dicom.commitment_undelivered', severity: 'warning' });
    expect(f?.message).toMatch(/^2 storage commitment report\(s\) not delivered to CT1, MR2 yet .*peers/);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { healthReportSchema } from '@ferry/shared';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../../test/harness/tls.js';
import type { ListenerStats } from '../dimse/listener-stats.js';
import { CompressionChoice } from '../spool/compression-choice.js';
import type { IndexEntry } from '../spool/index-entry.js';
import { CodingTally } from '../spool/spool-stats.js';
import type { UploaderStats } from '../uploader/uploader-stats.js';
import { HealthMonitor, type HealthMonitorDeps } from './health-monitor.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-health-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(id: string, state: IndexEntry['state'], receivedAt: string, study?: string): IndexEntry {
  return {
    id,
    sopInstanceUid: `2.25.${id}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    ...(study ? { studyInstanceUid: study } : {}),
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    callingAeTitle: 'MODALITY',
    receivedAt,
    plainBytes: 100,
    sha256: 'a'.repeat(64),
    objectBytes: 1000,
    version: 1,
    state,
    inline: true,
  };
}

class Clock {
  t = new Date('2026-11-28T12:00:00.000Z');
  advance(ms: number) {
    this.t = new Date(this.t.getTime() + ms);
  }
}

function setup(
  opts: { uploader?: boolean; entries?: IndexEntry[]; compression?: HealthMonitorDeps['compression'] } = {},
) {
  const clock = new Clock();
  const startedAt = clock.t;
  const listener: ListenerStats = {
    listening: true,
    aeTitle: 'GATEWAY',
    port: 11112,
    activeAssociations: 1,
    associationsTotal: 0,
    instancesStoredTotal: 0,
    lastStoreByCallingAe: new Map(),
    tlsCertFile: undefined,
    // An allow-list is set: tests of other conditions do not see dicom.open_to_any_caller.
    allowedCallingAeCount: 1,
  };
  const uploader: UploaderStats = {
    bytesSentTotal: 0,
    objectsDeliveredTotal: 0,
    errorsTotal: 0,
    lastError: undefined,
    lastDeliveredAt: undefined,
    deliveryLatencyMsTotal: 0,
  };
  const state = {
    entries: opts.entries ?? [],
    applied: 1,
    rejected: undefined as { version: number; reason: string } | undefined,
  };
  const monitor = new HealthMonitor({
    dataDir: dir,
    spool: { entries: () => state.entries },
    listenerStats: () => listener,
    uploaderStats: () => (opts.uploader === false ? undefined : uploader),
    appliedConfigVersion: () => state.applied,
    rejectedConfig: () => state.rejected,
    agentVersion: '1.2.3',
    startedAt,
    now: () => clock.t,
    ...(opts.compression ? { compression: opts.compression } : {}),
  });
  return { clock, listener, uploader, state, monitor };
}

describe('HealthMonitor', () => {
  it('reports the spool from the index: pending count, bytes, studies, oldest, quarantined', async () => {
    const { monitor } = setup({
      entries: [
        entry('a', 'spooled', '2026-11-28T11:50:00.000Z', '2.25.1'),
        entry('b', 'uploading', '2026-11-28T11:40:00.000Z', '2.25.1'),
        entry('c', 'spooled', '2026-11-28T11:55:00.000Z', '2.25.2'),
        entry('d', 'delivered', '2026-11-28T10:00:00.000Z', '2.25.3'),
        entry('e', 'quarantined', '2026-11-28T09:00:00.000Z', '2.25.4'),
      ],
    });
    const r = healthReportSchema.parse(await monitor.report());
    expect(r.spool).toEqual({
      pendingCount: 3,
      pendingBytes: 3000,
      pendingStudies: 2,
      oldestUnsentAt: '2026-11-28T11:40:00.000Z',
      quarantined: 1,
    });
    expect(r.agentVersion).toBe('1.2.3');
    expect(r.configVersion).toBe(1);
    expect(r.disk.totalBytes).toBeGreaterThan(0);
    expect(r.disk.freeBytes).toBeGreaterThan(0);
    expect(r.conditions.map((c) => c.code)).toEqual(['upload.quarantined']);
  });

  it('reports the coding in force and, per modality, bytes received and sent and codec time', async () => {
    const { monitor: older } = setup();
    // Without the compression source (an older agent) the report has no section, and is valid.
    const before = healthReportSchema.parse(await older.report());
    expect(before.compression).toBeUndefined();

    const choice = new CompressionChoice('auto', pino({ level: 'silent' }), {
      codecBytesPerSecond: () => 41e6,
    });
    choice.choose(300 << 20);
    choice.noteLinkRate(2_500_000);
    const tally = new CodingTally();
    tally.record('CT', {
      instances: 1,
      rawBytes: 525_000,
      sealedBytes: 150_000,
      jpeglsFrames: 1,
      codecMs: 12.6,
    });
    tally.record('CT', {
      instances: 1,
      rawBytes: 525_000,
      sealedBytes: 160_000,
      jpeglsFrames: 1,
      codecMs: 13,
    });
    tally.record('', { instances: 1, rawBytes: 2_000, sealedBytes: 2_100, fallbackFrames: 1 });
    const { monitor } = setup({ compression: () => ({ status: choice.status(), coding: tally.snapshot() }) });
    const r = healthReportSchema.parse(await monitor.report());
    expect(r.compression).toEqual({
      mode: 'auto',
      coding: 'image',
      reason: 'large_backlog_unmeasured',
      drainBytesPerSecond: null,
      lastDrainBytesPerSecond: 2_500_000,
      linkBytesPerSecond: 2_500_000,
      codecBytesPerSecond: 41e6,
      byModality: [
        {
          modality: 'CT',
          instances: 2,
          rawBytes: 1_050_000,
          sealedBytes: 310_000,
          jpeglsFrames: 2,
          fallbackFrames: 0,
          codecMs: 26,
        },
        {
          modality: '',
          instances: 1,
          rawBytes: 2_000,
          sealedBytes: 2_100,
          jpeglsFrames: 0,
          fallbackFrames: 1,
          codecMs: 0,
        },
      ],
    });
  });

  it('reports each unexpired AE title alias with the associations that called it, and no field without one', async () => {
    const { monitor, listener } = setup();
    expect((await monitor.report()).dicom).not.toHaveProperty('aeTitleAliases');
    listener.aeTitleAliases = [
      {
        aeTitle: 'OLD_CT',
        expiresAt: '2026-12-05T12:00:00.000Z',
        associations: 3,
        lastAt: new Date('2026-11-28T11:59:00Z'),
      },
      { aeTitle: 'OLDER', expiresAt: '2026-12-01T12:00:00.000Z', associations: 0, lastAt: undefined },
    ];
    const r = healthReportSchema.parse(await monitor.report());
    expect(r.dicom.aeTitleAliases).toEqual([
      {
        aeTitle: 'OLD_CT',
        expiresAt: '2026-12-05T12:00:00.000Z',
        associations: 3,
        lastAt: '2026-11-28T11:59:00.000Z',
      },
      { aeTitle: 'OLDER', expiresAt: '2026-12-01T12:00:00.000Z', associations: 0, lastAt: null },
    ]);
  });

  it('turns monotonic counters into interval figures', async () => {
    const { monitor, clock, uploader, listener } = setup();
    clock.advance(10_000);
    uploader.bytesSentTotal = 50_000;
    uploader.objectsDeliveredTotal = 5;
    uploader.errorsTotal = 2;
    uploader.lastError = { code: 'storage.unavailable', at: clock.t };
    listener.associationsTotal = 4;
    listener.instancesStoredTotal = 12;
    uploader.deliveryLatencyMsTotal = 5 * 800;
    const first = await monitor.report();
    expect(first.uptimeSeconds).toBe(10);
    expect(first.upload).toEqual({
      bytesPerSecond: 5000,
      objectsDelivered: 5,
      errors: 2,
      lastError: { code: 'storage.unavailable', at: clock.t.toISOString() },
      deliveryLatencyMs: 800,
    });
    expect(first.dicom.associations).toBe(4);
    expect(first.dicom.instancesReceived).toBe(12);

    clock.advance(5_000);
    uploader.bytesSentTotal = 60_000;
    uploader.objectsDeliveredTotal = 6;
    listener.associationsTotal = 4;
    const second = await monitor.report();
    expect(second.upload.bytesPerSecond).toBe(2000);
    expect(second.upload.objectsDelivered).toBe(1);
    expect(second.upload.errors).toBe(0);
    expect(second.dicom.associations).toBe(0);
    expect(second.dicom.instancesReceived).toBe(0);
    // One object delivered in the interval, the latency total did not move: a mean of 0 ms, not the first interval's.
    expect(second.upload.deliveryLatencyMs).toBe(0);
    clock.advance(5_000);
    expect((await monitor.report()).upload.deliveryLatencyMs).toBeNull();
  });

  it('lists the latest C-STORE per caller, most recent first', async () => {
    const { monitor, listener } = setup();
    listener.lastStoreByCallingAe = new Map([
      ['CT1', new Date('2026-11-28T11:00:00.000Z')],
      ['MR1', new Date('2026-11-28T11:30:00.000Z')],
    ]);
    const r = await monitor.report();
    expect(r.dicom.lastStoreByCallingAe).toEqual([
      { aeTitle: 'MR1', at: '2026-11-28T11:30:00.000Z' },
      { aeTitle: 'CT1', at: '2026-11-28T11:00:00.000Z' },
    ]);
  });

  it('keeps a condition’s since while it holds and starts afresh after it clears', async () => {
    const { monitor, clock, listener } = setup();
    listener.listening = false;
    const first = (await monitor.report()).conditions;
    expect(first).toEqual([
      expect.objectContaining({
        code: 'dicom.listener_down',
        severity: 'error',
        since: clock.t.toISOString(),
      }),
    ]);
    const since = first[0]!.since;
    clock.advance(30_000);
    expect((await monitor.report()).conditions[0]!.since).toBe(since);
    listener.listening = true;
    clock.advance(30_000);
    expect((await monitor.report()).conditions).toEqual([]);
    listener.listening = false;
    clock.advance(30_000);
    expect((await monitor.report()).conditions[0]!.since).toBe(clock.t.toISOString());
  });

  it('raises clock skew, stalled uploads and a rejected config from its inputs', async () => {
    const { monitor, clock, state } = setup({
      entries: [entry('a', 'spooled', '2026-11-28T11:00:00.000Z', '2.25.1')],
    });
    monitor.setClockOffset(-45_000);
    state.rejected = { version: 2, reason: 'port 104 is in use' };
    clock.advance(11 * 60_000);
    const r = await monitor.report();
    expect(r.clockOffsetMs).toBe(-45_000);
    expect(r.conditions.map((c) => `${c.code}:${c.severity}`).sort()).toEqual([
      'config.rejected:warning',
      'control.clock_skew:warning',
      'upload.stalled:warning',
    ]);
    state.applied = 3;
    expect((await monitor.report()).conditions.map((c) => c.code)).not.toContain('config.rejected');
  });

  it('warns dicom.open_to_any_caller while the allow-list is empty, and clears when one is set', async () => {
    const { monitor, listener, clock } = setup();
    listener.allowedCallingAeCount = 0;
    const open = (await monitor.report()).conditions;
    expect(open).toEqual([
      {
        code: 'dicom.open_to_any_caller',
        severity: 'warning',
        message: expect.stringMatching(
          /^the DICOM listener on port 11112 accepts any calling AE title, so any machine on the network can store to it/,
        ),
        since: clock.t.toISOString(),
      },
    ]);
    clock.advance(30_000);
    listener.allowedCallingAeCount = 2;
    expect((await monitor.report()).conditions).toEqual([]);
  });

  it('does not call uploads stalled while uploads are off', async () => {
    const { monitor, clock } = setup({
      uploader: false,
      entries: [entry('a', 'spooled', '2026-11-28T11:00:00.000Z')],
    });
    clock.advance(20 * 60_000);
    const r = await monitor.report();
    expect(r.conditions).toEqual([]);
    expect(r.upload).toEqual({
      bytesPerSecond: 0,
      objectsDelivered: 0,
      errors: 0,
      lastError: null,
      deliveryLatencyMs: null,
    });
  });

  it('reads the TLS certificate expiry and warns when it is near', async () => {
    const cert = join(dir, 'cert.pem');
    await selfSignedCert({ cert, key: join(dir, 'key.pem') }, 'gateway', 5);
    const { monitor, listener, clock } = setup();
    clock.t = new Date();
    listener.tlsCertFile = cert;
    const r = await monitor.report();
    const expires = Date.parse(r.dicom.tlsCertExpiresAt ?? '');
    expect(expires - Date.now()).toBeGreaterThan(4 * 86_400_000);
    expect(expires - Date.now()).toBeLessThan(6 * 86_400_000);
    expect(r.conditions).toEqual([
      expect.objectContaining({ code: 'dicom.tls_expiring', severity: 'warning' }),
    ]);
  });
});

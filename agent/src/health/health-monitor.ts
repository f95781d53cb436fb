import { X509Certificate } from 'node:crypto';
import { readFile, stat, statfs } from 'node:fs/promises';
import type {
  CompressionReport,
  Condition,
  ConditionCode,
  HealthReport,
  InForceSettings,
} from '@ferry/shared';
import type { UndeliveredReports } from '../dimse/commitment-service.js';
import type { ListenerStats } from '../dimse/listener-stats.js';
import type { CompressionStatus } from '../spool/compression-choice.js';
import type { Spool } from '../spool/spool.js';
import { type CodingStats, spoolStatsOf } from '../spool/spool-stats.js';
import type { UploaderStats } from '../uploader/uploader-stats.js';
import {
  clockSkew,
  commitmentUndelivered,
  configRejected,
  diskLow,
  type Finding,
  listenerDown,
  openToAnyCaller,
  tlsExpiring,
  uploadQuarantined,
  uploadStalled,
} from './conditions.js';

export interface HealthMonitorDeps {
  dataDir: string;
  /** Only `entries()` is read: the spool index in memory (UIDs, sizes, states). */
  spool: Pick<Spool, 'entries'>;
  listenerStats: () => ListenerStats;
  /** Undefined while uploads are off (the gateway is not enrolled). */
  uploaderStats: () => UploaderStats | undefined;
  appliedConfigVersion: () => number;
  rejectedConfig: () => { version: number; reason: string } | undefined;
  /** Storage commitment reports not delivered yet (unset: none). */
  commitmentReports?: () => UndeliveredReports;
  /** The listener settings in force and the flags that set any (unset: not reported). */
  inForce?: () => InForceSettings;
  /** How the spool codes new objects and what coding did per modality (unset: not reported). */
  compression?: () => { status: CompressionStatus; coding: CodingStats };
  agentVersion: string;
  startedAt: Date;
  /** For tests. */
  now?: () => Date;
}

const MAX_CALLERS = 50;
/** The health schema's bound; a gateway sees a handful of modalities. */
const MAX_MODALITIES = 64;

const orNull = (n: number | undefined) => (n === undefined ? null : Math.round(n));

/** The heartbeat's `compression`: the spool's choice and its per-modality tally, most bytes first. */
export function compressionReportOf(c: {
  status: CompressionStatus;
  coding: CodingStats;
}): CompressionReport {
  return {
    mode: c.status.mode,
    coding: c.status.coding,
    reason: c.status.reason,
    drainBytesPerSecond: orNull(c.status.drainBytesPerSecond),
    lastDrainBytesPerSecond: orNull(c.status.lastDrainBytesPerSecond),
    linkBytesPerSecond: orNull(c.status.linkBytesPerSecond),
    codecBytesPerSecond: orNull(c.status.codecBytesPerSecond),
    byModality: Object.entries(c.coding)
      .sort((a, b) => b[1].rawBytes - a[1].rawBytes)
      .slice(0, MAX_MODALITIES)
      .map(([modality, t]) => ({ modality: modality.slice(0, 16), ...t, codecMs: Math.round(t.codecMs) })),
  };
}

interface Counters {
  at: number;
  bytesSent: number;
  delivered: number;
  errors: number;
  associations: number;
  stored: number;
  latencyMs: number;
}

/**
 * Builds each heartbeat's HealthReport. Interval figures are differences of the listener's and the
 * uploader's monotonic counters since the previous report; a condition's `since` stays the time it
 * was first seen for as long as it holds.
 */
/** Builds each heartbeat's health report; the channel (live-config/) calls it through its own `HealthSource`. */
export class HealthMonitor {
  readonly #deps: HealthMonitorDeps;
  readonly #now: () => Date;
  #previous: Counters;
  #clockOffsetMs: number | null = null;
  readonly #since = new Map<ConditionCode, string>();
  #cert: { path: string; mtimeMs: number; expiresAt: Date | undefined } | undefined;

  constructor(deps: HealthMonitorDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#previous = {
      at: deps.startedAt.getTime(),
      bytesSent: 0,
      delivered: 0,
      errors: 0,
      associations: 0,
      stored: 0,
      latencyMs: 0,
    };
  }

  setClockOffset(ms: number): void {
    this.#clockOffsetMs = ms;
  }

  async report(): Promise<HealthReport> {
    const deps = this.#deps;
    const now = this.#now();
    const listener = deps.listenerStats();
    const uploader = deps.uploaderStats();
    const spool = spoolStatsOf(this.#deps.spool.entries());
    const disk = await this.#disk();
    const certExpiresAt = await this.#certExpiry(listener.tlsCertFile);
    const applied = deps.appliedConfigVersion();

    const current: Counters = {
      at: now.getTime(),
      bytesSent: uploader?.bytesSentTotal ?? this.#previous.bytesSent,
      delivered: uploader?.objectsDeliveredTotal ?? this.#previous.delivered,
      errors: uploader?.errorsTotal ?? this.#previous.errors,
      associations: listener.associationsTotal,
      stored: listener.instancesStoredTotal,
      latencyMs: uploader?.deliveryLatencyMsTotal ?? this.#previous.latencyMs,
    };
    const prev = this.#previous;
    this.#previous = current;
    const seconds = Math.max(0.001, (current.at - prev.at) / 1000);
    // A counter that went backwards (a restarted uploader) counts from zero.
    const delta = (a: number, b: number) => (a >= b ? a - b : a);
    const delivered = delta(current.delivered, prev.delivered);

    const findings = [
      diskLow(disk.freeBytes, disk.totalBytes),
      uploadStalled({
        pendingCount: spool.pendingCount,
        uploadsOn: uploader !== undefined,
        lastProgressAt: uploader?.lastDeliveredAt ?? deps.startedAt,
        oldestPendingAt: spool.oldestUnsentAt,
        now,
      }),
      uploadQuarantined(spool.quarantined),
      clockSkew(this.#clockOffsetMs),
      listenerDown(listener.listening, listener.port),
      tlsExpiring(certExpiresAt, now),
      openToAnyCaller(listener.allowedCallingAeCount, listener.port),
      configRejected(deps.rejectedConfig(), applied),
      commitmentUndelivered(deps.commitmentReports?.()),
    ].filter((f): f is Finding => f !== undefined);

    return {
      agentVersion: deps.agentVersion,
      uptimeSeconds: Math.max(0, Math.floor((now.getTime() - deps.startedAt.getTime()) / 1000)),
      configVersion: applied,
      spool: {
        pendingCount: spool.pendingCount,
        pendingBytes: spool.pendingBytes,
        pendingStudies: spool.pendingStudies,
        oldestUnsentAt: spool.oldestUnsentAt?.toISOString() ?? null,
        quarantined: spool.quarantined,
      },
      upload: {
        bytesPerSecond: Math.round(delta(current.bytesSent, prev.bytesSent) / seconds),
        objectsDelivered: delivered,
        errors: delta(current.errors, prev.errors),
        lastError: uploader?.lastError
          ? { code: uploader.lastError.code.slice(0, 64), at: uploader.lastError.at.toISOString() }
          : null,
        deliveryLatencyMs:
          delivered > 0 ? Math.round(delta(current.latencyMs, prev.latencyMs) / delivered) : null,
      },
      dicom: {
        listening: listener.listening,
        aeTitle: listener.aeTitle,
        port: listener.port,
        activeAssociations: listener.activeAssociations,
        associations: delta(current.associations, prev.associations),
        instancesReceived: delta(current.stored, prev.stored),
        lastStoreByCallingAe: [...listener.lastStoreByCallingAe]
          .sort((a, b) => b[1].getTime() - a[1].getTime())
          .slice(0, MAX_CALLERS)
          .map(([aeTitle, at]) => ({ aeTitle, at: at.toISOString() })),
        tlsCertExpiresAt: certExpiresAt?.toISOString() ?? null,
        ...(listener.aeTitleAliases?.length
          ? {
              aeTitleAliases: listener.aeTitleAliases.map((a) => ({
                aeTitle: a.aeTitle,
                expiresAt: a.expiresAt,
                associations: a.associations,
                lastAt: a.lastAt?.toISOString() ?? null,
              })),
            }
          : {}),
      },
      disk,
      clockOffsetMs: this.#clockOffsetMs,
      ...(deps.inForce ? { inForce: deps.inForce() } : {}),
      ...(deps.compression ? { compression: compressionReportOf(deps.compression()) } : {}),
      conditions: this.#stamp(findings, now),
    };
  }

  #stamp(findings: Finding[], now: Date): Condition[] {
    const present = new Set(findings.map((f) => f.code));
    for (const code of this.#since.keys()) if (!present.has(code)) this.#since.delete(code);
    return findings.map((f) => {
      let since = this.#since.get(f.code);
      if (!since) {
        since = now.toISOString();
        this.#since.set(f.code, since);
      }
      return { code: f.code, severity: f.severity, message: f.message, since };
    });
  }

  async #disk(): Promise<{ freeBytes: number; totalBytes: number }> {
    try {
      const s = await statfs(this.#deps.dataDir);
      return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch {
      // Reported as unknown (0/0): the disk rule needs a total, and a heartbeat must still go out.
      return { freeBytes: 0, totalBytes: 0 };
    }
  }

  /** Re-read only when the certificate file changes, so a renewed certificate clears the condition. */
  async #certExpiry(path: string | undefined): Promise<Date | undefined> {
    if (!path) return undefined;
    try {
      const { mtimeMs } = await stat(path);
      if (this.#cert?.path !== path || this.#cert.mtimeMs !== mtimeMs) {
        const cert = new X509Certificate(await readFile(path));
        this.#cert = { path, mtimeMs, expiresAt: new Date(cert.validTo) };
      }
      return this.#cert.expiresAt;
    } catch {
      return undefined;
    }
  }
}

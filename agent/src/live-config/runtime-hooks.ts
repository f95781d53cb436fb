import type { DiagnosticRequest, DiagnosticResult, HealthReport } from '@ferry/shared';
import type { JWK } from 'jose';

/**
 * What the control channel needs from the rest of the agent. The channel (control/channel.ts) knows
 * nothing of DICOM, the spool or the uploader; agent.ts wires these in.
 */

/** Builds the next heartbeat's health report (interval counters cover the time since the last call). */
export interface HealthSource {
  report(): Promise<HealthReport>;
  /** The channel tells the health monitor the clock offset it measured (agent minus server, ms). */
  setClockOffset(ms: number): void;
}

/** Runs a diagnostic the control plane asked for; never throws (failures are `ok: false`). */
export interface DiagnosticRunner {
  run(request: DiagnosticRequest): Promise<DiagnosticResult>;
}

export type ApplyOutcome = { ok: true } | { ok: false; reason: string };

/** Applies pushed desired config live; a rejected version leaves the config in force untouched. */
export interface ConfigApplier {
  /** The version in force (0 when the gateway has none from the control plane). */
  appliedVersion(): number;
  apply(version: number, config: Record<string, unknown>): Promise<ApplyOutcome>;
}

/** The control plane's recipient key as the gateway holds it (see control/recipient-key.ts). */
export interface RecipientKeyHolder {
  /** RFC 7638 thumbprint of the key new objects are sealed for. */
  thumbprint(): Promise<string>;
  /** Keeps and uses a rotated key; false when it is the one in use or does not match `thumbprint`. */
  apply(publicJwk: JWK, thumbprint: string): Promise<boolean>;
}

/** Monotonic counters and live state the DICOM listener exposes for health. */
export interface ListenerStats {
  listening: boolean;
  aeTitle: string;
  port: number;
  activeAssociations: number;
  /** Associations accepted since start (monotonic). */
  associationsTotal: number;
  /** Latest C-STORE Success per calling AE title. */
  lastStoreByCallingAe: ReadonlyMap<string, Date>;
  /** The DICOM TLS certificate file, when the listener uses TLS. */
  tlsCertFile: string | undefined;
  /** Calling AE titles the listener accepts now; 0 means it accepts any caller. */
  allowedCallingAeCount: number;
}

/** Monotonic counters the uploader exposes for health. */
export interface UploaderStats {
  bytesSentTotal: number;
  objectsDeliveredTotal: number;
  errorsTotal: number;
  lastError: { code: string; at: Date } | undefined;
  /** When an object was last delivered (for upload.stalled). */
  lastDeliveredAt: Date | undefined;
}

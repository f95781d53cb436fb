import { AGENT_TOKEN_CLOCK_SKEW_SECONDS, type ConditionCode } from '@ferry/shared';

/**
 * The condition rules, as pure functions of what the health monitor measured. Each returns the
 * condition's severity and message, or undefined when it does not hold. Thresholds are named here.
 */

export type Severity = 'info' | 'warning' | 'error';
export interface Finding {
  code: ConditionCode;
  severity: Severity;
  message: string;
}

const GiB = 1024 ** 3;
/** spool.disk_low warns below the smaller of these, and is an error below the smaller of the next two. */
export const DISK_WARN_FRACTION = 0.1;
export const DISK_WARN_BYTES = 5 * GiB;
export const DISK_ERROR_FRACTION = 0.02;
export const DISK_ERROR_BYTES = 1 * GiB;
/** upload.stalled: nothing delivered for this long while the oldest pending object is at least this old. */
export const UPLOAD_STALL_MS = 10 * 60_000;
/**
 * control.clock_skew: the control plane refuses agent tokens from a clock more than
 * AGENT_TOKEN_CLOCK_SKEW_SECONDS off (ahead: issued in the future; behind: the 60 s token arrives
 * expired), so that is an error; half of it is a warning while calls still work.
 */
export const CLOCK_SKEW_ERROR_MS = AGENT_TOKEN_CLOCK_SKEW_SECONDS * 1000;
export const CLOCK_SKEW_WARN_MS = CLOCK_SKEW_ERROR_MS / 2;
/** dicom.tls_expiring: warn this long before the listener's certificate expires. */
export const TLS_EXPIRY_WARN_MS = 14 * 86_400_000;

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

export function diskLow(freeBytes: number, totalBytes: number): Finding | undefined {
  if (totalBytes <= 0) return undefined;
  const pct = ((freeBytes / totalBytes) * 100).toFixed(1);
  const what = `${gib(freeBytes)} free of ${gib(totalBytes)} (${pct}%) on the spool's disk`;
  if (freeBytes < Math.min(DISK_ERROR_BYTES, DISK_ERROR_FRACTION * totalBytes))
    return {
      code: 'spool.disk_low',
      severity: 'error',
      message: `${what}: receiving will fail soon; free space or check uploads`,
    };
  if (freeBytes < Math.min(DISK_WARN_BYTES, DISK_WARN_FRACTION * totalBytes))
    return { code: 'spool.disk_low', severity: 'warning', message: `${what}: free space or check uploads` };
  return undefined;
}

export function uploadStalled(input: {
  pendingCount: number;
  uploadsOn: boolean;
  /** The last delivery, or when the agent started when nothing was delivered since. */
  lastProgressAt: Date;
  oldestPendingAt: Date | undefined;
  now: Date;
}): Finding | undefined {
  const { pendingCount, uploadsOn, lastProgressAt, oldestPendingAt, now } = input;
  if (pendingCount === 0 || !uploadsOn || !oldestPendingAt) return undefined;
  const idle = now.getTime() - lastProgressAt.getTime();
  const age = now.getTime() - oldestPendingAt.getTime();
  if (idle < UPLOAD_STALL_MS || age < UPLOAD_STALL_MS) return undefined;
  return {
    code: 'upload.stalled',
    severity: 'warning',
    message: `${pendingCount} object(s) waiting and nothing delivered for ${Math.floor(idle / 60_000)} min; check the uplink and the upload errors`,
  };
}

export function uploadQuarantined(count: number): Finding | undefined {
  if (count <= 0) return undefined;
  return {
    code: 'upload.quarantined',
    severity: 'warning',
    message: `${count} object(s) quarantined: the control plane refused them; see the agent log and export them for review`,
  };
}

export function clockSkew(offsetMs: number | null): Finding | undefined {
  if (offsetMs === null) return undefined;
  const abs = Math.abs(offsetMs);
  const what = `the gateway clock is ${Math.round(abs / 1000)} s ${offsetMs > 0 ? 'ahead of' : 'behind'} the control plane`;
  if (abs > CLOCK_SKEW_ERROR_MS)
    return {
      code: 'control.clock_skew',
      severity: 'error',
      message: `${what}; authentication will fail: enable NTP`,
    };
  if (abs > CLOCK_SKEW_WARN_MS)
    return { code: 'control.clock_skew', severity: 'warning', message: `${what}; enable NTP` };
  return undefined;
}

export function listenerDown(listening: boolean, port: number): Finding | undefined {
  if (listening) return undefined;
  return {
    code: 'dicom.listener_down',
    severity: 'error',
    message: `the DICOM listener is not accepting on port ${port}; modalities cannot send`,
  };
}

export function tlsExpiring(expiresAt: Date | undefined, now: Date): Finding | undefined {
  if (!expiresAt) return undefined;
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0)
    return {
      code: 'dicom.tls_expiring',
      severity: 'error',
      message: `the DICOM TLS certificate expired at ${expiresAt.toISOString()}; senders using TLS are refused: renew it`,
    };
  if (left < TLS_EXPIRY_WARN_MS)
    return {
      code: 'dicom.tls_expiring',
      severity: 'warning',
      message: `the DICOM TLS certificate expires in ${Math.ceil(left / 86_400_000)} day(s) (${expiresAt.toISOString()}): renew it`,
    };
  return undefined;
}

/**
 * An empty calling-AE allow-list accepts associations from anyone who knows the AE title and port:
 * any machine on the hospital network can store into the gateway and so into the cloud.
 */
export function openToAnyCaller(allowedCallingAeCount: number, port: number): Finding | undefined {
  if (allowedCallingAeCount > 0) return undefined;
  return {
    code: 'dicom.open_to_any_caller',
    severity: 'warning',
    message: `the DICOM listener on port ${port} accepts any calling AE title, so any machine on the network can store to it: set allowedCallingAeTitles in the gateway settings`,
  };
}

export function configRejected(
  rejected: { version: number; reason: string } | undefined,
  appliedVersion: number,
): Finding | undefined {
  if (!rejected || rejected.version <= appliedVersion) return undefined;
  const message = `config version ${rejected.version} was rejected (version ${appliedVersion} stays in force): ${rejected.reason}`;
  return { code: 'config.rejected', severity: 'warning', message: message.slice(0, 500) };
}

/**
 * Storage commitment reports the gateway could not deliver: the modality keeps waiting (and keeps
 * its copies). Most often its AE title is missing from the peers list, or its host or port is wrong.
 */
export function commitmentUndelivered(
  reports: { count: number; callingAeTitles: string[]; lastError: string | undefined } | undefined,
): Finding | undefined {
  if (!reports || reports.count === 0) return undefined;
  const who = reports.callingAeTitles.join(', ');
  const message = `${reports.count} storage commitment report(s) not delivered to ${who} yet (${reports.lastError ?? 'no answer'}); list each requester's AE title, host and port in the gateway's peers`;
  return { code: 'dicom.commitment_undelivered', severity: 'warning', message: message.slice(0, 500) };
}

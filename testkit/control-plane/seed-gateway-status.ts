import type { Condition, HealthReport } from '@ferry/shared';
import type { Db } from '../../control-plane/src/db/client.js';
import { type GatewayStatus, gatewayEvents, gatewayStatus } from '../../control-plane/src/db/schema/index.js';

/** A valid health report with nothing waiting; `spool` and the rest may be overridden. */
export function healthReport(
  over: Partial<Omit<HealthReport, 'spool'>> & { spool?: Partial<HealthReport['spool']> } = {},
): HealthReport {
  const { spool, ...rest } = over;
  return {
    agentVersion: '0.0.0-test',
    uptimeSeconds: 60,
    configVersion: 1,
    spool: {
      pendingCount: 0,
      pendingBytes: 0,
      pendingStudies: 0,
      oldestUnsentAt: null,
      quarantined: 0,
      ...spool,
    },
    upload: { bytesPerSecond: 0, objectsDelivered: 0, errors: 0, lastError: null },
    dicom: {
      listening: true,
      aeTitle: 'TEST',
      port: 4104,
      activeAssociations: 0,
      associations: 0,
      lastStoreByCallingAe: [],
      tlsCertExpiresAt: null,
    },
    disk: { freeBytes: 10e9, totalBytes: 20e9 },
    clockOffsetMs: 0,
    conditions: [],
    ...rest,
  };
}

export function condition(code: string, severity: Condition['severity'] = 'warning'): Condition {
  return { code, severity, message: `${code} (test)`, since: new Date().toISOString() };
}

/**
 * Writes a gateway's live state as the channel would (tests of the readers of gateway_status; the
 * channel itself is what writes it in production).
 */
export async function seedGatewayStatus(
  db: Db,
  gatewayId: string,
  s: {
    status: GatewayStatus;
    statusSince?: Date;
    health?: HealthReport | null;
    appliedConfigVersion?: number | null;
    rejectedConfig?: { version: number; reason: string; at: string } | null;
    lastHeartbeatAt?: Date | null;
  },
): Promise<void> {
  const values = {
    gatewayId,
    status: s.status,
    statusSince: s.statusSince ?? new Date(),
    health: s.health ?? null,
    appliedConfigVersion: s.appliedConfigVersion ?? s.health?.configVersion ?? null,
    rejectedConfig: s.rejectedConfig ?? null,
    lastHeartbeatAt: s.lastHeartbeatAt === undefined ? new Date() : s.lastHeartbeatAt,
  };
  await db
    .insert(gatewayStatus)
    .values(values)
    .onConflictDoUpdate({ target: gatewayStatus.gatewayId, set: values });
}

/** A gateway event row as the channel writes it. */
export async function seedGatewayEvent(
  db: Db,
  e: { groupId: string; gatewayId: string; type: string; details?: Record<string, unknown>; at?: Date },
): Promise<string> {
  const [row] = await db
    .insert(gatewayEvents)
    .values({
      groupId: e.groupId,
      gatewayId: e.gatewayId,
      type: e.type,
      details: e.details ?? {},
      ...(e.at ? { at: e.at } : {}),
    })
    .returning({ id: gatewayEvents.id });
  return row!.id;
}

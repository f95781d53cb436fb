import type { Condition } from '@ferry/shared';
import type { GatewayStatus } from '../db/schema/index.js';

/**
 * The status a heartbeat implies: degraded when any condition is a warning or an error, online
 * otherwise. Offline is never derived from a heartbeat; it comes from a closed channel or silence.
 */
export function deriveGatewayStatus(conditions: readonly Pick<Condition, 'severity'>[]): GatewayStatus {
  return conditions.some((c) => c.severity === 'warning' || c.severity === 'error') ? 'degraded' : 'online';
}

import type { Condition } from '@ferry/shared';

/** The condition the control plane itself raises for a gateway it no longer hears from. */
export const GATEWAY_OFFLINE_CODE = 'gateway.offline';

/**
 * `gateway.offline` (error) since the gateway went offline, shown with its reported conditions on the
 * gateway page, in the fleet and in the API, and opened as an alert.
 */
export function offlineCondition(statusSince: Date, lastHeartbeatAt: Date | null): Condition {
  const heard = lastHeartbeatAt ? `last heartbeat ${lastHeartbeatAt.toISOString()}` : 'no heartbeat yet';
  return {
    code: GATEWAY_OFFLINE_CODE,
    severity: 'error',
    message: `The gateway is offline: its channel dropped or it went silent (${heard}). Check that it runs and reaches the control plane.`,
    since: statusSince.toISOString(),
  };
}

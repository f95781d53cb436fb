import type { GatewayStatus } from '../../services/list-fleet-gateways.js';

/** A gateway's status as a badge, and a second one when it is revoked (fleet and gateway pages). */
export function StatusBadge({ status, revoked }: { status: GatewayStatus; revoked?: boolean }) {
  return (
    <>
      <span class={`badge ${status}`} data-status={status}>
        {status}
      </span>
      {revoked ? (
        <>
          {' '}
          <span class="badge revoked">revoked</span>
        </>
      ) : null}
    </>
  );
}

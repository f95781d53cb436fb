import type { ReleaseDescriptor } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import type { DbOrTx } from './client.js';

/** The one NOTIFY channel the replicas share for gateway fan-out. */
export const GATEWAY_NOTIFY_CHANNEL = 'ferry_gateways';

/**
 * What replicas tell each other. `config`: new desired config versions for these gateways;
 * `diagnostic`: a diagnostic waits to be sent; `revoked`: close the gateway's channel with reenroll.
 */
export type GatewayNotice =
  | { kind: 'config'; gatewayIds: string[] }
  | { kind: 'diagnostic'; gatewayId: string; diagnosticId: string }
  | { kind: 'revoked'; gatewayId: string }
  | { kind: 'upgrade'; gatewayId: string; upgradeId: string; release: ReleaseDescriptor };

/** NOTIFY payloads must stay under 8000 bytes: about 180 gateway ids per notice. */
const IDS_PER_NOTICE = 150;

/**
 * Queues `notice` on the gateway channel. Inside a transaction it is delivered on commit (and dropped
 * on rollback), which is why callers pass their transaction.
 */
export async function notifyGateways(tx: DbOrTx, notice: GatewayNotice): Promise<void> {
  const notices: GatewayNotice[] = [];
  if (notice.kind === 'config') {
    for (let i = 0; i < notice.gatewayIds.length; i += IDS_PER_NOTICE)
      notices.push({ kind: 'config', gatewayIds: notice.gatewayIds.slice(i, i + IDS_PER_NOTICE) });
  } else {
    notices.push(notice);
  }
  for (const n of notices)
    await tx.execute(sql`select pg_notify(${GATEWAY_NOTIFY_CHANNEL}, ${JSON.stringify(n)})`);
}

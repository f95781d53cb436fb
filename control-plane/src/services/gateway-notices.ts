/**
 * The notices replicas send each other about gateways (db/notify.ts): a new desired config, a
 * diagnostic waiting to be sent, a revocation. Services queue them in their transactions; the channel
 * hub of each replica listens here and acts for the gateways it holds.
 */
import type { Database } from '../db/client.js';
import type { ListenHandlers, Unlisten } from '../db/listen.js';
import { GATEWAY_NOTIFY_CHANNEL, type GatewayNotice } from '../db/notify.js';

export type { GatewayNotice, ListenHandlers, Unlisten };

/** The database as the channel hub holds it: its services query through `db`, notices come through `listen`. */
export type GatewayNoticeDatabase = Pick<Database, 'db' | 'listen'>;

/**
 * Subscribes to the replicas' gateway notices (raw payloads, for the listener to parse). After a lost
 * connection `onReconnect` is called: notices sent in the gap are gone.
 */
export function listenGatewayNotices(
  database: Pick<Database, 'listen'>,
  handlers: ListenHandlers,
): Promise<Unlisten> {
  return database.listen(GATEWAY_NOTIFY_CHANNEL, handlers);
}

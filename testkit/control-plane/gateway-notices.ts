import type { Database } from '../../control-plane/src/db/client.js';
import { GATEWAY_NOTIFY_CHANNEL, type GatewayNotice } from '../../control-plane/src/db/notify.js';

/** What a test heard on the gateway NOTIFY channel (real LISTEN on either backend). */
export interface NoticeLog {
  notices: GatewayNotice[];
  /** The gateway ids of every `config` notice heard so far. */
  configIds(): string[];
  /** Waits until `pred` holds over what was heard (polling), or fails after `ms`. */
  waitFor(pred: (notices: GatewayNotice[]) => boolean, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function listenForNotices(database: Database): Promise<NoticeLog> {
  const notices: GatewayNotice[] = [];
  const unlisten = await database.listen(GATEWAY_NOTIFY_CHANNEL, {
    onPayload: (payload) => notices.push(JSON.parse(payload) as GatewayNotice),
  });
  return {
    notices,
    configIds: () => notices.flatMap((n) => (n.kind === 'config' ? n.gatewayIds : [])),
    async waitFor(pred, ms = 5000) {
      const until = Date.now() + ms;
      while (!pred(notices)) {
        if (Date.now() > until) throw new Error(`no such notice within ${ms} ms: ${JSON.stringify(notices)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: unlisten,
  };
}

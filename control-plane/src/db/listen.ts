import pg from 'pg';

/** Stops a subscription. */
export type Unlisten = () => Promise<void>;

export interface ListenHandlers {
  onPayload: (payload: string) => void;
  /**
   * Called after the dedicated connection was lost and re-established: notifications sent in the gap
   * are gone, so the subscriber should re-read what it cares about.
   */
  onReconnect?: () => void;
  onError?: (err: Error) => void;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

/**
 * LISTEN on PostgreSQL through one dedicated connection (a pooled one would be handed back and lose
 * the subscription). A lost connection is re-opened with backoff until unlisten is called.
 */
export async function listenPostgres(
  url: string,
  channel: string,
  handlers: ListenHandlers,
): Promise<Unlisten> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const quoted = `"${channel.replaceAll('"', '""')}"`;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) handlers.onPayload(n.payload);
    });
    c.on('error', (err) => {
      handlers.onError?.(err);
      schedule(c);
    });
    c.on('end', () => schedule(c));
    await c.connect();
    await c.query(`LISTEN ${quoted}`);
    client = c;
    retryMs = RETRY_MIN_MS;
  };
  const schedule = (dead: pg.Client) => {
    if (stopped || client !== dead || timer) return;
    client = undefined;
    dead.end().catch(() => {});
    const attempt = () => {
      timer = undefined;
      if (stopped) return;
      connect().then(
        () => handlers.onReconnect?.(),
        (err: Error) => {
          handlers.onError?.(err);
          retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
          timer = setTimeout(attempt, retryMs);
        },
      );
    };
    timer = setTimeout(attempt, retryMs);
  };

  await connect();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
  };
}

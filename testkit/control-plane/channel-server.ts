/**
 * Serves a test app over a real socket with the agents' channel: the app of `createTestApp`, rebuilt
 * with a ChannelHub on the same database, on 127.0.0.1 and an ephemeral port. No vitest import.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { createApp } from '../../control-plane/src/app.js';
import type { AppDeps } from '../../control-plane/src/app-deps.js';
import { type Database, openDatabase } from '../../control-plane/src/db/client.js';
import { rowsOf } from '../../control-plane/src/db/queries/gateway-channel.js';
import type { AppEnv } from '../../control-plane/src/edge/types.js';
import { createChannelSocketServer } from '../../control-plane/src/server.js';
import { ChannelHub } from '../../control-plane/src/ws/channel-hub.js';
import type { CurrentRecipientKey } from '../../control-plane/src/ws/gateway-channel.js';
import { type TestApp, testDatabaseUrl } from './harness.js';

export interface ChannelServerOptions {
  /** Default 30; fractional values make liveness tests fast. */
  heartbeatSeconds?: number;
  configResyncSeconds?: number;
  replicaId?: string;
  pingIntervalMs?: number;
  helloTimeoutMs?: number;
  /** Serve on this database instead of the test app's (a second replica's own connections). */
  database?: Database;
  /** The current recipient key the hub hands to gateways (the server's follows the key file). */
  recipientKey?: () => CurrentRecipientKey;
}

export interface ChannelServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port>/api/v1/agents/channel */
  channelUrl: string;
  hub: ChannelHub;
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
  /** Stops the hub (1001 to every agent), then the server; leaves the database open. */
  close(): Promise<void>;
}

export async function serveTestAppWithChannel(
  t: TestApp,
  opts: ChannelServerOptions = {},
): Promise<ChannelServer> {
  const database = opts.database ?? t.database;
  const hub = new ChannelHub({
    database,
    log: t.deps.log,
    replicaId: opts.replicaId ?? `test-${process.pid}`,
    heartbeatSeconds: opts.heartbeatSeconds ?? 30,
    configResyncSeconds: opts.configResyncSeconds ?? 300,
    ...(opts.pingIntervalMs !== undefined ? { pingIntervalMs: opts.pingIntervalMs } : {}),
    ...(opts.helloTimeoutMs !== undefined ? { helloTimeoutMs: opts.helloTimeoutMs } : {}),
    ...(opts.recipientKey ? { recipientKey: opts.recipientKey } : {}),
  });
  await hub.start();
  const deps: AppDeps = { ...t.deps, database, channelHub: hub };
  const app = createApp(deps);
  const server = serve({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    websocket: { server: createChannelSocketServer() },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    channelUrl: `ws://127.0.0.1:${port}/api/v1/agents/channel`,
    hub,
    app,
    deps,
    async close() {
      await hub.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

/**
 * A second connection set (pool and LISTEN) to a PostgreSQL test app's database, as another replica
 * would have. PostgreSQL only: PGlite lives inside one process.
 */
export async function openSecondReplicaDatabase(t: TestApp): Promise<Database> {
  if (t.backend !== 'postgres') throw new Error('a second replica needs PostgreSQL');
  const [row] = rowsOf<{ name: string }>(await t.database.db.execute(sql`select current_database() as name`));
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${row!.name}`;
  const database = await openDatabase({ url: url.toString() });
  return { ...database, migrate: async () => {} };
}

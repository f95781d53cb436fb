import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHANNEL_CLOSE } from '@ferry/shared';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway, testHealth } from '../../testkit/control-plane/channel-client.js';
import {
  BACKENDS,
  createTestApp,
  insertTestGateway,
  type TestApp,
  testDatabaseUrl,
} from '../../testkit/control-plane/harness.js';
import { openDatabase } from './db/client.js';
import { rowsOf } from './db/queries/gateway-channel.js';
import { gatewayStatus, groups } from './db/schema/index.js';
import { loadEnv } from './env.js';
import { type RunningServer, startServer } from './server.js';

const PUBLIC_URL = 'http://cp.ferry.test';

describe.each(BACKENDS)('startServer serves the agent channel (%s)', (backend) => {
  let dir: string;
  let pgApp: TestApp | undefined;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-cp-server-'));
    let databaseUrl: string | undefined;
    if (backend === 'postgres') {
      // A fresh migrated database from the harness; startServer opens its own connections to it.
      pgApp = await createTestApp('postgres');
      const [row] = rowsOf<{ name: string }>(
        await pgApp.database.db.execute(sql`select current_database() as name`),
      );
      const url = new URL(testDatabaseUrl());
      url.pathname = `/${row!.name}`;
      databaseUrl = url.toString();
      // Its secrets are sealed with the harness's key: the server runs with that key file, as a
      // control plane must run with the key file its database was used with.
      await mkdir(join(dir, 'keys'), { mode: 0o700 });
      await writeFile(
        join(dir, 'keys', 'recipient.private.jwk'),
        JSON.stringify({ keys: pgApp.deps.recipientPrivateKeys }),
        { mode: 0o600 },
      );
    }
    const env = loadEnv({
      FERRY_DATA_DIR: dir,
      FERRY_HTTP_PORT: '0',
      FERRY_HTTP_HOST: '127.0.0.1',
      FERRY_PUBLIC_URL: PUBLIC_URL,
      FERRY_ADMIN_PASSWORD: 'correct horse battery staple',
      FERRY_HEARTBEAT_SECONDS: '0.5',
      FERRY_REPLICA_ID: 'cp-test',
      ...(databaseUrl ? { FERRY_DATABASE_URL: databaseUrl } : {}),
    });
    server = await startServer(env, pino({ level: 'silent' }));
  }, 60_000);
  afterAll(async () => {
    await pgApp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a channel, heartbeats, and on stop closes it with 1001 leaving the gateway online', async () => {
    const [group] = await server.database.db.select({ id: groups.id }).from(groups).limit(1);
    const gw = await insertTestGateway(server.database.db, group!.id, { publicUrl: PUBLIC_URL });
    const channelUrl = `ws://127.0.0.1:${server.port}/api/v1/agents/channel`;
    const { client, welcome } = await connectGateway(channelUrl, gw);
    expect(welcome.heartbeatSeconds).toBe(0.5);
    client.send({ type: 'heartbeat', seq: 1, health: testHealth() });
    expect((await client.next('heartbeat.ack')).seq).toBe(1);
    const [before] = await server.database.db.select().from(gatewayStatus);
    expect(before).toMatchObject({ gatewayId: gw.gatewayId, status: 'online', replicaId: 'cp-test' });

    await server.stop();
    expect((await client.closed).code).toBe(CHANNEL_CLOSE.goingAway);
    // Read the row through connections that outlive the server's own.
    const reopened = pgApp ? undefined : await openDatabase({ dataDir: join(dir, 'db') });
    try {
      const check = pgApp?.database.db ?? reopened!.db;
      const [after] = await check.select().from(gatewayStatus);
      expect(after).toMatchObject({ status: 'online', channelId: null });
    } finally {
      await reopened?.close();
    }
  });
});

/**
 * Test harness for the control plane: a real app (the real createApp, real session secret, real
 * database) per test or per describe block, on either database backend and either blob backend.
 * It composes the parts named for what they do, and re-exports them so tests import one module:
 *
 * - db-clones.ts: a fresh migrated database per app (PGlite snapshot or PostgreSQL template clone);
 * - blob-backends.ts: a temp directory or a fresh bucket on the test S3 server (s3.ts);
 * - requests.ts: in-process requests, session tokens and agent tokens;
 * - seed.ts: groups, users, facilities and gateways inserted directly;
 * - names.ts: the public URL and unique ids.
 *
 * No vitest import here, so benches and scripts can use it too.
 */
import { generateRecipientKeyPair } from '@ferry/shared';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { pino } from 'pino';
import { AgentRelease } from '../../control-plane/src/agent-release/agent-release.js';
import { createApp } from '../../control-plane/src/app.js';
import type { AppDeps } from '../../control-plane/src/app-deps.js';
import { loadSessionSecret } from '../../control-plane/src/auth/session.js';
import type { Database } from '../../control-plane/src/db/client.js';
import type { AppEnv } from '../../control-plane/src/edge/types.js';
import { SecretBox } from '../../control-plane/src/keys/secret-box.js';
import { testAgentReleaseFile, testReleaseSigner } from './agent-release.js';
import { type BlobBackend, openTestBlobStore, type TestBlobStore } from './blob-backends.js';
import { type Backend, openDatabaseClone } from './db-clones.js';
import { TEST_PUBLIC_URL } from './names.js';
import { type RequestOptions, requestApp, type TestResponse } from './requests.js';
import { type SeededGroup, seedGroup } from './seed.js';

export * from './blob-backends.js';
export * from './db-clones.js';
export * from './names.js';
export * from './requests.js';
export { S3_TEST_HINT, type S3TestConfig, s3TestConfig, testS3Client } from './s3.js';
export * from './seed.js';

/**
 * The database and blob store pairs a route that writes blobs is tested on: each database on the fs
 * store, and S3 on PostgreSQL (its production pairing).
 */
export const STORE_COMBOS: [Backend, BlobBackend][] = [
  ['pglite', 'fs'],
  ['postgres', 'fs'],
  ['postgres', 's3'],
];

export interface TestApp {
  backend: Backend;
  /** Which store `deps.blobStore` is. */
  blobs: BlobBackend;
  app: OpenAPIHono<AppEnv>;
  database: Database;
  deps: AppDeps;
  /** An in-process request through `app.request` (no socket, so no client address). */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts?: RequestOptions,
  ): Promise<TestResponse<T>>;
  seedGroup(name?: string, opts?: { operator?: boolean }): Promise<SeededGroup>;
  close(): Promise<void>;
}

export async function createTestApp(
  backend: Backend,
  opts: {
    blobs?: BlobBackend;
    /** The agent release tarball to serve (default: a small real one, testAgentReleaseFile). */
    agentReleaseFile?: string;
    /** FERRY_WEBHOOK_ALLOW_PRIVATE: for webhook tests whose receiver listens on 127.0.0.1. */
    webhookAllowPrivate?: boolean;
  } = {},
): Promise<TestApp> {
  const blobs = opts.blobs ?? 'fs';
  const database = await openDatabaseClone(backend);
  let blobStore: TestBlobStore | undefined;
  try {
    const { publicJwk, privateJwk } = await generateRecipientKeyPair();
    // As the server: the database's secrets are sealed with a key from the (here generated) key file.
    const secretBox = new SecretBox(() => [privateJwk]);
    blobStore = await openTestBlobStore(blobs, database.db, secretBox);
    const sessionSecret = await loadSessionSecret(database.db, secretBox);
    const deps: AppDeps = {
      database,
      log: pino({ level: 'silent' }),
      sessionSecret,
      recipientPublicKey: publicJwk,
      recipientPrivateKeys: [privateJwk],
      secretBox,
      publicUrl: TEST_PUBLIC_URL,
      agentRelease: new AgentRelease(opts.agentReleaseFile ?? testAgentReleaseFile(), testReleaseSigner()),
      blobStore: blobStore.store,
      webhookAllowPrivate: opts.webhookAllowPrivate ?? false,
    };
    const app = createApp(deps);
    const closeBlobs = blobStore.close;
    const t: TestApp = {
      backend,
      blobs,
      app,
      database,
      deps,
      request: (method, path, opts) => requestApp(app, method, path, opts),
      seedGroup: (name, opts) => seedGroup(t, name, opts),
      close: async () => {
        try {
          await database.close();
        } finally {
          await closeBlobs();
        }
      },
    };
    return t;
  } catch (err) {
    await database.close().catch(() => {});
    await blobStore?.close().catch(() => {});
    throw err;
  }
}

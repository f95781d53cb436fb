import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { dirname, join } from 'node:path';
import { FerryError } from '@ferry/shared';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { AgentRelease } from './agent-release/agent-release.js';
import { createApp } from './app.js';
import { PRODUCTION_PASSWORD_COST, setPasswordCost } from './auth/password.js';
import { loadSessionSecret } from './auth/session.js';
import { systemCtx } from './context.js';
import { ensurePrivateDataDir } from './data-dir.js';
import { type Database, openDatabase } from './db/client.js';
import { answerClientError } from './edge/client-error.js';
import type { Env } from './env.js';
import { startAgentTokenPrune } from './jobs/agent-token-prune.js';
import { startAlerts } from './jobs/alerts.js';
import { startGatewayLiveness } from './jobs/gateway-liveness.js';
import { startGatewaySeriesRollup } from './jobs/gateway-series-rollup.js';
import { startPackBlobSweep } from './jobs/pack-blob-sweep.js';
import { startJobQueue } from './jobs/queue.js';
import { startStudyCompletionQueue } from './jobs/queue-study-completion.js';
import { startRateLimitSweep } from './jobs/rate-limit-sweep.js';
import { startStudyCompletion } from './jobs/study-completion.js';
import { startWebhookDelivery } from './jobs/webhook-delivery.js';
import { RecipientKeyRing } from './keys/recipient-key-ring.js';
import { loadOrCreateReleaseSigner } from './keys/release-signing-key.js';
import { sealStoredWebhookSecrets } from './keys/seal-stored-secrets.js';
import { SecretBox } from './keys/secret-box.js';
import { bootstrapAdmin } from './services/bootstrap-admin.js';
import { createBlobStore } from './storage/create-blob-store.js';
import { createSmtpMailer } from './webhooks/smtp-mailer.js';
import { ChannelHub } from './ws/channel-hub.js';

async function readTls(files: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  try {
    return { cert: await readFile(files.certFile), key: await readFile(files.keyFile) };
  } catch (cause) {
    throw new FerryError(
      'config.unreadable',
      `cannot read the TLS certificate or key (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
}

/** How long in-flight requests may run on after a stop is asked for. */
const STOP_GRACE_MS = 5000;

/** The largest channel message accepted; heartbeats and diagnostic results are a few KiB. */
export const CHANNEL_MAX_MESSAGE_BYTES = 256 * 1024;

/** The websocket server for the agents' channel: upgrades are routed through the app (see ws/). */
export function createChannelSocketServer(): WebSocketServer {
  return new WebSocketServer({ noServer: true, maxPayload: CHANNEL_MAX_MESSAGE_BYTES });
}

export interface RunningServer {
  url: string;
  port: number;
  database: Database;
  stop(): Promise<void>;
}

export async function openConfiguredDatabase(env: Env, log?: Logger): Promise<Database> {
  const onIdleError = (err: Error) =>
    log?.warn({ event: 'db.idle_connection_error', err: err.message }, 'database connection lost');
  return openDatabase(
    env.databaseUrl ? { url: env.databaseUrl, onIdleError } : { dataDir: join(env.dataDir, 'db') },
  );
}

/** Migrates, makes sure keys and a first admin exist, then serves the app. */
export async function startServer(env: Env, log: Logger): Promise<RunningServer> {
  setPasswordCost(env.passwordCost);
  if (env.passwordCost < PRODUCTION_PASSWORD_COST)
    log.warn(
      { event: 'control_plane.password_cost_low', cost: env.passwordCost },
      `FERRY_PASSWORD_COST is ${env.passwordCost}, below ${PRODUCTION_PASSWORD_COST}: password hashes are cheap to crack (tests only)`,
    );
  await ensurePrivateDataDir(env.dataDir);
  const database = await openConfiguredDatabase(env, log);
  await database.migrate();
  const keys = await RecipientKeyRing.open(env.keyFile);
  // The database's secrets are sealed with a key only the key file holds (a backup alone forges nothing).
  const secretBox = new SecretBox(() => keys.privateJwks);
  await sealStoredWebhookSecrets({ db: database.db, box: secretBox, log });
  const sessionSecret = await loadSessionSecret(database.db, secretBox);
  const blobStore = await createBlobStore({ env, db: database.db, log, secrets: secretBox });
  const boot = await bootstrapAdmin({
    ctx: systemCtx(database.db, log, 'bootstrap'),
    input: {
      email: env.adminEmail ?? 'admin@ferry.local',
      groupName: 'Default group',
      ...(env.adminPassword ? { password: env.adminPassword } : {}),
    },
  });
  if (boot.created) {
    log.info({ event: 'control_plane.admin_created', email: boot.email }, 'first admin created');
    // Printed once to the console, never to the structured log.
    if (boot.generatedPassword)
      process.stdout.write(
        `\nFirst admin: ${boot.email}\nPassword:    ${boot.generatedPassword}\n(shown once and temporary: the first sign-in asks for a new one)\n\n`,
      );
  }
  // Beside the recipient key, kept like it; gateways learn its public half at enrollment.
  const releaseSigner = await loadOrCreateReleaseSigner(
    join(dirname(env.keyFile), 'release-signing.private.jwk'),
  );
  const channelHub = new ChannelHub({
    database,
    log,
    replicaId: env.replicaId,
    heartbeatSeconds: env.heartbeatSeconds,
    configResyncSeconds: env.configResyncSeconds,
    recipientKey: () => ({ publicJwk: keys.publicJwk, thumbprint: keys.thumbprint }),
    releaseSigningKey: () => releaseSigner.publicJwk,
  });
  await channelHub.start();
  // `keys rotate` runs as another process: a new current key in the file reaches connected gateways.
  const keyWatch = keys.watch({ log, onRotated: () => channelHub.recipientKeyRotated() });
  const agentRelease = new AgentRelease(env.agentReleaseFile, releaseSigner);
  // Hashed now, so the first install line does not wait for it; a missing release is said once here.
  await agentRelease.info().then(
    ({ sha256, size }) =>
      log.info(
        { event: 'agent_release.found', path: agentRelease.path, sha256, size },
        'serving the agent release',
      ),
    () =>
      log.warn(
        { event: 'agent_release.missing', path: agentRelease.path },
        'no agent release to serve: enrollment tokens come without an install line (npm run bundle:agent builds one)',
      ),
  );
  const app = createApp({
    database,
    log,
    sessionSecret,
    // Getters: routes read them per request, and they follow the key file.
    get recipientPublicKey() {
      return keys.publicJwk;
    },
    get recipientPrivateKeys() {
      return keys.privateJwks;
    },
    secretBox,
    publicUrl: env.publicUrl,
    trustedProxies: env.trustedProxies,
    corsOrigins: env.corsOrigins,
    agentRelease,
    blobStore,
    channelHub,
    webhookAllowPrivate: env.webhookAllowPrivate,
    smtpConfigured: env.smtpUrl !== undefined,
    metricsToken: env.metricsToken,
  });
  const tls = env.tls ? await readTls(env.tls) : undefined;
  const server = serve({
    fetch: app.fetch,
    port: env.httpPort,
    hostname: env.httpHost,
    websocket: { server: createChannelSocketServer() },
    ...(tls ? { createServer: createHttpsServer, serverOptions: tls } : {}),
  });
  (server as unknown as Server).on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const jobQueue = await startJobQueue({ connection: database.queueConnection, log });
  const studyCompletionQueue = await startStudyCompletionQueue({ database, boss: jobQueue, log });
  const studyCompletion = startStudyCompletion({ db: database.db, log });
  const webhookDelivery = startWebhookDelivery({
    db: database.db,
    log,
    secrets: secretBox,
    allowPrivateAddresses: env.webhookAllowPrivate,
  });
  const rateLimitSweep = startRateLimitSweep({ db: database.db, log });
  const packBlobSweep = startPackBlobSweep({ db: database.db, log, blobStore });
  const agentTokenPrune = startAgentTokenPrune({ db: database.db, log });
  const seriesRollup = startGatewaySeriesRollup({ db: database.db, log });
  const liveness = startGatewayLiveness({ db: database.db, log, heartbeatSeconds: env.heartbeatSeconds });
  const mailer = env.smtpUrl ? createSmtpMailer(env.smtpUrl) : null;
  const alerts = startAlerts({
    db: database.db,
    log,
    secrets: secretBox,
    mailer,
    consoleUrl: env.publicUrl,
    allowPrivateAddresses: env.webhookAllowPrivate,
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : env.httpPort;
  const url = env.publicUrl;
  log.info(
    { event: 'control_plane.ready', port, url, database: database.kind, replicaId: env.replicaId },
    'control plane ready',
  );
  return {
    url,
    port,
    database,
    async stop() {
      // In-flight requests get a grace period; idle keep-alive sockets, and then stragglers, are
      // closed, or one client holding a connection open would keep the process from stopping.
      const http = server as unknown as Server;
      keyWatch.stop();
      // Channels first: agents are told to go elsewhere (1001) and are not marked offline.
      await channelHub.stop();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const force = setTimeout(() => http.closeAllConnections(), STOP_GRACE_MS);
      await closed;
      clearTimeout(force);
      await studyCompletionQueue.stop();
      await studyCompletion.stop();
      await webhookDelivery.stop();
      await liveness.stop();
      await alerts.stop();
      mailer?.close();
      await rateLimitSweep.stop();
      await packBlobSweep.stop();
      await agentTokenPrune.stop();
      await seriesRollup.stop();
      // Waits for jobs in progress (they use the database), then closes the queue's own pool.
      await jobQueue.stop({ graceful: true, close: true });
      blobStore.destroy?.();
      await database.close();
    },
  };
}

import type { BlockList } from 'node:net';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { AgentRelease } from './agent-release/agent-release.js';
import type { Database } from './db/client.js';
import type { SecretBox } from './keys/secret-box.js';
import type { BlobStore } from './storage/blob-store.js';
import type { ChannelHub } from './ws/channel-hub.js';

/**
 * What the app is built from: the server (server.ts) makes one per process, tests make their own. The
 * edge hands it to each request (c.get('deps')); services take the parts they need, never the whole.
 */
export interface AppDeps {
  database: Database;
  log: Logger;
  /** HS256 secret for user sessions, shared by replicas through the database. */
  sessionSecret: Uint8Array;
  /**
   * The control plane's current X25519 public key: every agent wraps its data keys for it. Read it at
   * each use: the server's follows the key file when `keys rotate` adds a key.
   */
  recipientPublicKey: JWK;
  /** Every recipient private key kept, newest first: they open what agents sealed (read at each use too). */
  recipientPrivateKeys: JWK[];
  /** Seals the secrets the database holds (webhook secrets) with a key from the key file. */
  secretBox: SecretBox;
  /** Public base URL, also the audience of agent tokens. */
  publicUrl: string;
  /** The agent release served at /downloads, whose SHA-256 every install line carries. */
  agentRelease: AgentRelease;
  /** Where uploaded objects live: S3, or FERRY_DATA_DIR/blobs with part PUTs served by this app. */
  blobStore: BlobStore;
  /**
   * This replica's live agent channels; without it (in-process test apps) the channel route is not
   * served. The server makes one per process.
   */
  channelHub?: ChannelHub;
  /** FERRY_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client; without it the header is ignored. */
  trustedProxies?: BlockList | undefined;
  /** FERRY_WEBHOOK_ALLOW_PRIVATE: webhook receivers on loopback and private networks are allowed. */
  webhookAllowPrivate?: boolean;
  /** FERRY_METRICS_TOKEN: the bearer token of /metrics; unset, /metrics answers 404. */
  metricsToken?: string | undefined;
  /** FERRY_SMTP_URL is set: the Alerts page says whether e-mail channels can send. */
  smtpConfigured?: boolean;
  /** FERRY_CORS_ORIGINS: the exact origins (scheme://host[:port]) whose pages may call /dicomweb with a bearer token. */
  corsOrigins?: ReadonlySet<string> | undefined;
  /** The largest instance a WADO-RS retrieve transcodes (default dicom/transcode.ts TRANSCODE_MAX_BYTES). */
  transcodeMaxBytes?: number | undefined;
}

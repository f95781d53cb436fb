import { open, readFile, rename } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { agentJsonSettingsShape, assertRecipientJwk, FerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import { z } from 'zod';
import { fsyncDir } from './data-dir.js';
import { readOptionalText } from './read-optional.js';

const recipientKey = z.custom<JWK>((v) => {
  try {
    assertRecipientJwk(v);
    return (v as JWK).d === undefined;
  } catch {
    return false;
  }
}, 'must be the control plane public key: an X25519 OKP JWK without "d"');

// The fields the control plane pushes come from the shared table (PUSHED_SETTINGS), defaults and
// all. They are named here only to keep the order agent.json's problems are listed in; a setting
// added to the table comes along in `laterSettings` / `laterUpload`.
const {
  aeTitle,
  port,
  allowedCallingAeTitles,
  maxAssociations,
  stablePeriodSeconds,
  upload: uploadFields,
  peers,
  storageCommitment: storageCommitmentFields,
  ...laterSettings
} = agentJsonSettingsShape;
const { parallelism, bandwidthBytesPerSecond, retentionHours, schedule, ...laterUpload } = uploadFields;

/** How the uploader ships the spool. Only used once the agent is enrolled. */
const uploadSchema = z
  .object({ parallelism, bandwidthBytesPerSecond, retentionHours, schedule, ...laterUpload })
  .strict();

export const agentConfigSchema = z
  .object({
    aeTitle,
    port,
    host: z.string().min(1).default('0.0.0.0'),
    allowedCallingAeTitles,
    maxAssociations,
    /**
     * Associations one calling AE title may hold at once; unset means half of maxAssociations
     * (rounded up), so one flooding caller cannot take every slot. Capped at maxAssociations.
     */
    maxAssociationsPerCallingAe: z.number().int().min(1).max(10_000).optional(),
    /**
     * Connections from one peer address that have not associated yet; more are closed at once, so
     * a flood of silent sockets cannot exhaust descriptors. Associated connections do not count.
     */
    maxPendingPerAddress: z.number().int().min(1).max(10_000).default(16),
    /** Connections not associated yet, from all addresses; unset means 4 × maxAssociations (at least 16). */
    maxPendingConnections: z.number().int().min(1).max(100_000).optional(),
    maxPduLength: z
      .number()
      .int()
      .min(4096)
      .max(16 << 20)
      .default(1 << 20),
    timeouts: z
      .object({
        artimMs: z.number().int().min(100).max(600_000).default(30_000),
        idleMs: z.number().int().min(100).max(86_400_000).default(300_000),
        /** A PDU must arrive whole within this long of its first byte (bounds a slowloris). */
        pduMs: z.number().int().min(100).max(86_400_000).default(60_000),
        /** A part PUT whose server stops reading or answering for this long is abandoned and retried. */
        uploadStallMs: z.number().int().min(1000).max(600_000).default(30_000),
        /** An upload offer unanswered this long went into a dead connection: give up and retry. */
        uploadOfferMs: z.number().int().min(1000).max(600_000).default(30_000),
        /**
         * The longest wait between retries to the cloud (uploads, the channel); unset: 5 minutes for
         * uploads and a minute for the channel. The first retry still waits up to a second.
         */
        retryCapMs: z.number().int().min(1000).max(300_000).optional(),
      })
      .strict()
      .default({
        artimMs: 30_000,
        idleMs: 300_000,
        pduMs: 60_000,
        uploadStallMs: 30_000,
        uploadOfferMs: 30_000,
      }),
    recipientPublicKey: recipientKey,
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1).optional() })
      .strict()
      .optional(),
    /** Patient-identifying data goes to logs only when the admin opts in. */
    logPhi: z.boolean().default(false),
    /** Written by `ferry-agent enroll`; a hand-written agent.json leaves these out. */
    server: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    gatewayId: z.uuid().optional(),
    /** The control plane's config version this file holds (its last-known-good pushed config). */
    configVersion: z.number().int().min(1).optional(),
    stablePeriodSeconds,
    upload: uploadSchema.default(uploadSchema.parse({})),
    peers,
    /** Storage commitment SCP (dimse/commitment-*.ts). */
    storageCommitment: z.object(storageCommitmentFields).strict().prefault({}),
    ...laterSettings,
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export interface ConfigOverrides {
  port?: number;
  aeTitle?: string;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Reads DIR/agent.json, applies flag overrides and validates; an invalid file names the field. */
export async function loadAgentConfig(
  dataDir: string,
  overrides: ConfigOverrides = {},
): Promise<AgentConfig> {
  const file = join(dataDir, 'agent.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : cause instanceof SyntaxError
          ? `is not valid JSON (${cause.message})`
          : `cannot be read (${code})`;
    throw new FerryError('config.unreadable', `${file} ${why}`, { cause });
  }
  const merged = { ...(raw as Record<string, unknown>) };
  if (overrides.port !== undefined) merged.port = overrides.port;
  if (overrides.aeTitle !== undefined) merged.aeTitle = overrides.aeTitle;
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new FerryError(
      'config.invalid',
      `invalid agent config in ${file}: ${describeIssues(parsed.error)}`,
    );
  }
  const cfg = parsed.data;
  if (cfg.tls) {
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(dataDir, p));
    cfg.tls = {
      cert: abs(cfg.tls.cert),
      key: abs(cfg.tls.key),
      ...(cfg.tls.ca ? { ca: abs(cfg.tls.ca) } : {}),
    };
  }
  return cfg;
}

export function agentConfigPath(dataDir: string): string {
  return join(dataDir, 'agent.json');
}

/** DIR/agent.json as raw JSON, or undefined when there is none yet; unreadable or invalid JSON throws. */
export async function readRawAgentConfig(dataDir: string): Promise<Record<string, unknown> | undefined> {
  const file = agentConfigPath(dataDir);
  const text = await readOptionalText(file);
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new FerryError('config.unreadable', `${file} is not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new FerryError('config.invalid', `${file} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * Validates `raw` as an agent config and replaces DIR/agent.json with it crash-safely (write a
 * temporary file, fsync, rename, fsync the directory): a reader sees the old file or the new one.
 */
export async function writeAgentConfigFile(dataDir: string, raw: Record<string, unknown>): Promise<void> {
  const file = agentConfigPath(dataDir);
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new FerryError('config.invalid', `refusing to write ${file}: ${describeIssues(parsed.error)}`);
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(raw, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(dirname(file));
}

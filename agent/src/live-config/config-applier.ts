import {
  type DicomPeer,
  GATEWAY_CONFIG_DEFAULTS,
  type GatewayDesiredConfig,
  isFerryError,
  PUSHED_SETTINGS,
  pushedConfigSchema,
} from '@ferry/shared';
import type { Logger } from 'pino';
import { agentConfigSchema, describeIssues, readRawAgentConfig, writeAgentConfigFile } from '../config.js';
import type { DicomListener } from '../dimse/listener.js';
import type { AssociationPolicy } from '../dimse/policy.js';
import { contextRulesOf } from '../dimse/sop-classes.js';
import type { Spool } from '../spool/spool.js';
import type { Uploader, UploaderConfig } from '../uploader/uploader.js';
import type { ApplyOutcome, ConfigApplier } from './config-applier-contract.js';

export interface LiveConfigApplierDeps {
  dataDir: string;
  listener: DicomListener;
  /** The uploader when uploads are on; upload settings are persisted either way. */
  uploader: () => Uploader | undefined;
  log: Logger;
  /** The version agent.json held at start (0 when it has none from the control plane). */
  initialVersion: number;
  /** The peers agent.json held at start. */
  initialPeers: readonly DicomPeer[];
  /** The storage commitment settings agent.json held at start. */
  initialStorageCommitment?: GatewayDesiredConfig['storageCommitment'];
  /** Where `upload.compression` takes effect: the coding of spool objects begun afterwards (unset: nowhere). */
  spool?: Pick<Spool, 'setCompressionMode' | 'stats'>;
}

/** Validates a pushed config; a rejection's reason names the field(s), as the admin reads it. */
export function pushedConfigProblem(
  config: Record<string, unknown>,
): { ok: true; config: GatewayDesiredConfig } | { ok: false; reason: string } {
  const parsed = pushedConfigSchema.safeParse(config);
  return parsed.success
    ? { ok: true, config: parsed.data }
    : { ok: false, reason: describeIssues(parsed.error) };
}

const SETTING_GROUPS = new Set(
  Object.keys(PUSHED_SETTINGS).flatMap((name) => (name.includes('.') ? [name.split('.')[0]] : [])),
);

/**
 * agent.json with the pushed fields and version written over it, every other field kept. Its fields
 * are agent.json's (one table, PUSHED_SETTINGS); a group of them (upload) is written over agent.json's
 * own group member by member.
 */
export function withPushedConfig(
  raw: Record<string, unknown>,
  config: Readonly<Record<string, unknown>>,
  version: number,
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...raw };
  for (const [name, value] of Object.entries(config)) {
    const mine = raw[name];
    // A setting whose value is an object (userIdentity) is replaced whole: merged, a key of another
    // variant would linger in agent.json.
    next[name] = SETTING_GROUPS.has(name)
      ? { ...(mine && typeof mine === 'object' ? mine : {}), ...(value as object) }
      : value;
  }
  next.configVersion = version;
  return next;
}

const samePolicy = (a: AssociationPolicy, b: AssociationPolicy) =>
  a.aeTitle === b.aeTitle &&
  JSON.stringify(a.aeTitleAliases ?? []) === JSON.stringify(b.aeTitleAliases ?? []) &&
  a.maxAssociations === b.maxAssociations &&
  a.allowedCallingAeTitles.length === b.allowedCallingAeTitles.length &&
  a.allowedCallingAeTitles.every((t, i) => b.allowedCallingAeTitles[i] === t) &&
  JSON.stringify(a.userIdentity) === JSON.stringify(b.userIdentity) &&
  JSON.stringify(contextRulesOf(a)) === JSON.stringify(contextRulesOf(b));

/** The uploader's settings: every pushed upload setting but the spool's `compression`. */
const UPLOADER_KEYS = (
  Object.keys(GATEWAY_CONFIG_DEFAULTS.upload) as (keyof UploaderConfig | 'compression')[]
).filter((k): k is keyof UploaderConfig => k !== 'compression');

/** Every pushed uploader setting equal (one left out counts as its default). */
const sameUpload = (a: UploaderConfig, b: UploaderConfig) =>
  UPLOADER_KEYS.every(
    (k) =>
      JSON.stringify(a[k] ?? GATEWAY_CONFIG_DEFAULTS.upload[k]) ===
      JSON.stringify(b[k] ?? GATEWAY_CONFIG_DEFAULTS.upload[k]),
  );

/**
 * Applies pushed desired config live, all or nothing: validate, re-bind or re-police the DICOM
 * listener, retune the uploader, then persist agent.json as the last-known-good config. Any failing
 * step undoes the ones before it, so a rejected version leaves the config in force untouched.
 */
export class LiveConfigApplier implements ConfigApplier {
  private version: number;
  private peers: readonly DicomPeer[];
  private storageCommitment: GatewayDesiredConfig['storageCommitment'];
  private rejected: { version: number; reason: string } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LiveConfigApplierDeps) {
    this.version = deps.initialVersion;
    this.peers = deps.initialPeers;
    this.storageCommitment = deps.initialStorageCommitment ?? GATEWAY_CONFIG_DEFAULTS.storageCommitment;
  }

  appliedVersion(): number {
    return this.version;
  }

  /** The DICOM peers of the config in force: what the gateway may dial for the control plane. */
  appliedPeers(): readonly DicomPeer[] {
    return this.peers;
  }

  /** The storage commitment settings of the config in force (read at each decision). */
  appliedStorageCommitment(): GatewayDesiredConfig['storageCommitment'] {
    return this.storageCommitment;
  }

  /** The latest version rejected since the last one applied (for the config.rejected condition). */
  rejectedConfig(): { version: number; reason: string } | undefined {
    return this.rejected;
  }

  apply(version: number, config: Record<string, unknown>): Promise<ApplyOutcome> {
    const run = this.queue.then(() => this.applyNow(version, config));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(version: number, pushed: Record<string, unknown>): Promise<ApplyOutcome> {
    const checked = pushedConfigProblem(pushed);
    if (!checked.ok) return this.reject(version, checked.reason);
    const config = checked.config;

    let next: Record<string, unknown>;
    try {
      next = withPushedConfig((await readRawAgentConfig(this.deps.dataDir)) ?? {}, config, version);
    } catch (err) {
      return this.reject(version, `agent.json on the gateway cannot be read: ${messageOf(err)}`);
    }
    const whole = agentConfigSchema.safeParse(next);
    if (!whole.success)
      return this.reject(version, `agent.json would not be valid with it: ${describeIssues(whole.error)}`);

    const { listener } = this.deps;
    const oldPolicy = listener.currentPolicy;
    const oldPort = listener.boundPort;
    const newPolicy: AssociationPolicy = {
      ...oldPolicy,
      aeTitle: config.aeTitle,
      aeTitleAliases: config.aeTitleAliases,
      allowedCallingAeTitles: config.allowedCallingAeTitles,
      maxAssociations: config.maxAssociations,
      userIdentity: config.userIdentity,
      ...contextRulesOf(config),
    };
    const moved = config.port !== oldPort;
    try {
      if (moved) await listener.rebind(config.port, newPolicy);
      else if (!samePolicy(oldPolicy, newPolicy)) listener.setPolicy(newPolicy);
    } catch (err) {
      return this.reject(version, messageOf(err));
    }
    const uploader = this.deps.uploader();
    const oldUpload = uploader?.settings;
    const { compression, ...newUpload } = config.upload;
    if (oldUpload && !sameUpload(oldUpload, newUpload)) uploader?.updateConfig(newUpload);
    const spool = this.deps.spool;
    const oldCompression = spool?.stats().compression?.mode;
    spool?.setCompressionMode(compression);

    try {
      await writeAgentConfigFile(this.deps.dataDir, next);
    } catch (err) {
      await this.undo({ moved, oldPort, oldPolicy, uploader, oldUpload });
      if (oldCompression) spool?.setCompressionMode(oldCompression);
      return this.reject(version, `the gateway could not save it (agent.json): ${messageOf(err)}`);
    }
    this.version = version;
    this.peers = config.peers;
    this.storageCommitment = config.storageCommitment;
    this.rejected = undefined;
    this.deps.log.info(
      { event: 'config.applied', version, aeTitle: config.aeTitle, port: config.port, rebound: moved },
      'pushed config applied',
    );
    return { ok: true };
  }

  private async undo(was: {
    moved: boolean;
    oldPort: number;
    oldPolicy: AssociationPolicy;
    uploader: Uploader | undefined;
    oldUpload: UploaderConfig | undefined;
  }): Promise<void> {
    const { listener, log } = this.deps;
    if (was.oldUpload) was.uploader?.updateConfig(was.oldUpload);
    try {
      if (was.moved) await listener.rebind(was.oldPort, was.oldPolicy);
      else listener.setPolicy(was.oldPolicy);
    } catch (err) {
      // The new port stays bound: the gateway still receives, on the port of the rejected version.
      log.error(
        { event: 'config.undo_failed', port: was.oldPort, reason: messageOf(err) },
        'could not return the DICOM listener to its previous port',
      );
    }
  }

  private reject(version: number, reason: string): ApplyOutcome {
    this.rejected = { version, reason };
    this.deps.log.warn(
      { event: 'config.rejected', version, reason },
      'pushed config rejected; the config in force stays',
    );
    return { ok: false, reason };
  }
}

function messageOf(err: unknown): string {
  return isFerryError(err) || err instanceof Error ? err.message : String(err);
}

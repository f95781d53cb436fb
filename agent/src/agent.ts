// The agent's composition root: builds the spool, the DICOM listener, the uploader, the channel and the
// monitors and wires them together; cli/ starts it. What the agent keeps (docs/architecture.md): a
// C-STORE is answered Success only for an instance whose bytes and index record are fsynced, and the
// bytes are kept exactly as received; the spool holds no plaintext and its index no patient data;
// receiving never waits on the network; a local copy is deleted only after the control plane's receipt
// for that object and hash; the agent only ever connects out.
import type { LocalFlagSetting } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { ControlPlaneClient } from './cloud/client.js';
import { discardIdentity, loadIdentity } from './cloud/identity.js';
import { RecipientKeyStore } from './cloud/recipient-key.js';
import type { AgentConfig } from './config.js';
import { DiagnosticsRunner } from './diagnostics/diagnostics-runner.js';
import { StorageCommitment } from './dimse/commitment-service.js';
import { commitmentSessions } from './dimse/commitment-session.js';
import { checkedStore } from './dimse/dataset-check-store.js';
import { DicomListener } from './dimse/listener.js';
import { contextRulesOf } from './dimse/sop-classes.js';
import { dimseStore } from './dimse/store-status.js';
import { HealthMonitor } from './health/health-monitor.js';
import { CHANNEL_BACKOFF, ControlChannel } from './live-config/channel.js';
import { LiveConfigApplier } from './live-config/config-applier.js';
import { LogRing } from './logger.js';
import { Spool } from './spool/spool.js';
import { isSupervised, tellSupervisorHealthy, Upgrader } from './upgrade/upgrader.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './uploader/backoff.js';
import { UploadClient } from './uploader/upload-client.js';
import { Uploader } from './uploader/uploader.js';
import { AGENT_VERSION } from './version.js';

export interface RunningAgent {
  spool: Spool;
  listener: DicomListener;
  /** Undefined when uploads are off (the gateway is not enrolled). */
  uploader: Uploader | undefined;
  /** Undefined when the gateway is not enrolled: there is no control plane to talk to. */
  channel: ControlChannel | undefined;
  applier: LiveConfigApplier;
  address: { host: string; port: number };
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  /** Recent log lines for the remote log bundle (the same ring the logger writes to). */
  logs?: LogRing;
  /** Settings a `ferry-agent start` flag set over agent.json (reported in force with each heartbeat). */
  flagOverrides?: readonly LocalFlagSetting[];
  /**
   * Stops the agent and exits into the pending release (cli/start.ts). With it the agent installs
   * releases the control plane sends (under its supervisor) and tells the supervisor when healthy.
   */
  restart?: () => void;
}

/** The enrolled gateway: where its control plane is, and the key it signs with. */
interface Enrollment {
  server: string;
  gatewayId: string;
  privateJwk: JWK;
  control: ControlPlaneClient;
}

/** Composition of the receiving half: spool first (it must be ready before we accept anything). */
export async function startAgent(
  dataDir: string,
  config: AgentConfig,
  log: Logger,
  opts: StartAgentOptions = {},
): Promise<RunningAgent> {
  const startedAt = new Date();
  const spool = await Spool.open(dataDir, config.recipientPublicKey, log, {
    compression: config.upload.compression,
  });
  // Its settings are the config in force, read through the applier once it exists (start() below).
  let applied: () => LiveConfigApplier | undefined = () => undefined;
  const commitment = await StorageCommitment.open({
    dataDir,
    fates: spool,
    settings: () => ({
      maxWaitMinutes: (applied()?.appliedStorageCommitment() ?? config.storageCommitment).maxWaitMinutes,
      peers: applied()?.appliedPeers() ?? config.peers,
    }),
    log: log.child({ component: 'commitment' }),
  });
  const listener = new DicomListener(
    {
      host: config.host,
      port: config.port,
      ...(config.tls ? { tls: config.tls } : {}),
      commitment: commitmentSessions(commitment, log.child({ component: 'commitment' })),
      policy: {
        aeTitle: config.aeTitle,
        aeTitleAliases: config.aeTitleAliases,
        allowedCallingAeTitles: config.allowedCallingAeTitles,
        maxAssociations: config.maxAssociations,
        maxAssociationsPerCallingAe: config.maxAssociationsPerCallingAe,
        maxPendingPerAddress: config.maxPendingPerAddress,
        maxPendingConnections: config.maxPendingConnections,
        maxPduLength: config.maxPduLength,
        artimTimeoutMs: config.timeouts.artimMs,
        idleTimeoutMs: config.timeouts.idleMs,
        pduTimeoutMs: config.timeouts.pduMs,
        userIdentity: config.userIdentity,
        ...contextRulesOf(config),
      },
    },
    // Success only for a dataset read to its end: a cut-off or malformed one is refused, nothing kept.
    checkedStore(dimseStore(spool), log),
    log,
  );
  const address = await listener.listen();
  const enrollment = await loadEnrollment(dataDir, config, log);

  let uploader: Uploader | undefined;
  let channel: ControlChannel | undefined;
  let discarded: Promise<void> | undefined;
  // Either side may hear first that the control plane forgot this gateway; the other stops too.
  const reenroll = () => {
    discarded ??= (async () => {
      await discardIdentity(dataDir);
      log.error(
        { event: 'upload.identity_discarded', gatewayId: config.gatewayId },
        'gateway identity discarded; receiving continues into the spool until it is enrolled again',
      );
      await Promise.all([uploader?.stop({ graceMs: 0 }), channel?.stop()]);
    })();
    return discarded;
  };

  if (enrollment) uploader = startUploader(enrollment, config, spool, log, reenroll);
  const applier = new LiveConfigApplier({
    dataDir,
    listener,
    uploader: () => uploader,
    log: log.child({ component: 'config' }),
    initialVersion: config.configVersion ?? 0,
    initialPeers: config.peers,
    initialStorageCommitment: config.storageCommitment,
    spool,
  });
  applied = () => applier;
  await commitment.start();
  if (enrollment) {
    const health = new HealthMonitor({
      dataDir,
      spool,
      listenerStats: () => listener.stats(),
      uploaderStats: () => uploader?.stats(),
      appliedConfigVersion: () => applier.appliedVersion(),
      rejectedConfig: () => applier.rejectedConfig(),
      commitmentReports: () => commitment.undeliveredReports(),
      inForce: () => ({
        maxAssociations: listener.currentPolicy.maxAssociations,
        allowedCallingAeTitles: [...listener.currentPolicy.allowedCallingAeTitles],
        flags: [...(opts.flagOverrides ?? [])],
      }),
      compression: () => ({ status: spool.compressionStatus(), coding: spool.codingStats() }),
      agentVersion: AGENT_VERSION,
      startedAt,
    });
    const diagnostics = new DiagnosticsRunner({
      control: enrollment.control,
      ownAeTitle: () => listener.currentPolicy.aeTitle,
      peers: () => applier.appliedPeers(),
      logs: opts.logs ?? new LogRing(2000),
      log: log.child({ component: 'diagnostics' }),
    });
    const upgrades = new Upgrader({
      dataDir,
      server: enrollment.server,
      auth: { gatewayId: enrollment.gatewayId, privateJwk: enrollment.privateJwk },
      log: log.child({ component: 'upgrade' }),
      restart: opts.restart ?? (() => {}),
    });
    channel = new ControlChannel({
      server: enrollment.server,
      gatewayId: enrollment.gatewayId,
      privateJwk: enrollment.privateJwk,
      health,
      diagnostics,
      applier,
      log: log.child({ component: 'channel' }),
      backoff: retryBackoff(CHANNEL_BACKOFF, config),
      onReenroll: reenroll,
      recipientKey: new RecipientKeyStore({ dataDir, spool, log: log.child({ component: 'keys' }) }),
      onReleaseSigningKey: (key) => upgrades.adoptSigningKey(key),
      ...(opts.restart
        ? {
            upgrades,
            // Only a supervisor listens; unsupervised, heartbeats keep their usual pace.
            ...(isSupervised() ? { onHealthy: tellSupervisorHealthy } : {}),
          }
        : {}),
    });
    channel.start();
  }
  return {
    spool,
    listener,
    uploader,
    channel,
    applier,
    address,
    async stop() {
      await channel?.stop();
      await listener.close(true);
      commitment.stop();
      // Part PUTs in flight get a few seconds; the rest resumes on the next start.
      await uploader?.stop({ graceMs: 5000 });
      await spool.close();
    },
  };
}

/**
 * The shipping half and the control channel are on when agent.json names a server and gateway and
 * the gateway key is there. Receiving never depends on it, so a missing or broken identity only
 * turns them off.
 */
async function loadEnrollment(
  dataDir: string,
  config: AgentConfig,
  log: Logger,
): Promise<Enrollment | undefined> {
  if (!config.server || !config.gatewayId) {
    log.info(
      { event: 'upload.off', reason: 'not_enrolled' },
      'uploads are off: this gateway is not enrolled (run `ferry-agent enroll`); receiving into the spool',
    );
    return undefined;
  }
  let identity: Awaited<ReturnType<typeof loadIdentity>>;
  try {
    identity = await loadIdentity(dataDir);
  } catch (err) {
    log.error(
      { event: 'upload.off', reason: 'identity_unreadable', err },
      'uploads are off: the gateway key cannot be read',
    );
    return undefined;
  }
  if (!identity) {
    log.warn(
      { event: 'upload.off', reason: 'no_identity' },
      'uploads are off: agent.json names a server but the gateway key is missing; enroll this gateway again',
    );
    return undefined;
  }
  const auth = { gatewayId: config.gatewayId, privateJwk: identity.privateJwk };
  return {
    server: config.server,
    gatewayId: config.gatewayId,
    privateJwk: identity.privateJwk,
    // A complete call waits while the control plane reads back and verifies up to 256 MiB.
    control: new ControlPlaneClient({ server: config.server, auth, timeoutMs: 120_000 }),
  };
}

/** `policy` with its cap lowered to agent.json's timeouts.retryCapMs, when that is set. */
function retryBackoff(policy: BackoffPolicy, config: AgentConfig): BackoffPolicy {
  const capMs = config.timeouts.retryCapMs;
  return capMs === undefined ? policy : { baseMs: Math.min(policy.baseMs, capMs), capMs };
}

function startUploader(
  enrollment: Enrollment,
  config: AgentConfig,
  spool: Spool,
  log: Logger,
  onReenroll: () => Promise<void>,
): Uploader {
  const uploader = new Uploader({
    spool,
    api: new UploadClient(enrollment.control, {
      stallMs: config.timeouts.uploadStallMs,
      offerTimeoutMs: config.timeouts.uploadOfferMs,
    }),
    log: log.child({ component: 'uploader' }),
    config: config.upload,
    backoff: retryBackoff(DEFAULT_BACKOFF, config),
    // As rotate-key does: the control plane has forgotten this key, so it is of no further use.
    onReenroll,
  });
  uploader.start();
  return uploader;
}

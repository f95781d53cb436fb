import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { ControlPlaneClient } from './control/client.js';
import { discardIdentity, loadIdentity } from './control/identity.js';
import { DicomListener } from './dimse/listener.js';
import { Spool } from './spool/spool.js';
import { UploadClient } from './uploader/upload-client.js';
import { Uploader } from './uploader/uploader.js';

export interface RunningAgent {
  spool: Spool;
  listener: DicomListener;
  /** Undefined when uploads are off (the gateway is not enrolled). */
  uploader: Uploader | undefined;
  address: { host: string; port: number };
  stop(): Promise<void>;
}

/** Composition of the receiving half: spool first (it must be ready before we accept anything). */
export async function startAgent(dataDir: string, config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const spool = await Spool.open(dataDir, config.recipientPublicKey, log);
  const listener = new DicomListener(
    {
      host: config.host,
      port: config.port,
      ...(config.tls ? { tls: config.tls } : {}),
      policy: {
        aeTitle: config.aeTitle,
        allowedCallingAeTitles: config.allowedCallingAeTitles,
        maxAssociations: config.maxAssociations,
        maxPduLength: config.maxPduLength,
        artimTimeoutMs: config.timeouts.artimMs,
        idleTimeoutMs: config.timeouts.idleMs,
      },
    },
    spool,
    log,
  );
  const address = await listener.listen();
  const uploader = await startUploader(dataDir, config, spool, log);
  return {
    spool,
    listener,
    uploader,
    address,
    async stop() {
      await listener.close(true);
      // Part PUTs in flight get a few seconds; the rest resumes on the next start.
      await uploader?.stop({ graceMs: 5000 });
      await spool.close();
    },
  };
}

/**
 * The shipping half: on when agent.json names a server and gateway and the gateway key is there.
 * Receiving never depends on it, so a missing or broken identity only turns uploads off.
 */
async function startUploader(
  dataDir: string,
  config: AgentConfig,
  spool: Spool,
  log: Logger,
): Promise<Uploader | undefined> {
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
  const control = new ControlPlaneClient({
    server: config.server,
    auth: { gatewayId: config.gatewayId, privateJwk: identity.privateJwk },
    // A complete call waits while the control plane reads back and verifies up to 256 MiB.
    timeoutMs: 120_000,
  });
  const uploader = new Uploader({
    spoolLog: spool.log,
    paths: spool.paths,
    api: new UploadClient(control),
    log: log.child({ component: 'uploader' }),
    config: config.upload,
    // As rotate-key does: the control plane has forgotten this key, so it is of no further use.
    onReenroll: async () => {
      await discardIdentity(dataDir);
      log.error(
        { event: 'upload.identity_discarded', gatewayId: config.gatewayId },
        'gateway identity discarded; receiving continues into the spool until it is enrolled again',
      );
    },
  });
  uploader.start();
  return uploader;
}

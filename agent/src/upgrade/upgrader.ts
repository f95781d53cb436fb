import { writeSync } from 'node:fs';
import { isFerryError, type ReleaseDescriptor, type ReleaseSigningKey } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { installRelease } from './install-release.js';
import {
  loadReleaseSigningKey,
  readReleaseState,
  saveReleaseSigningKey,
  writeReleaseState,
} from './release-store.js';

/** The supervisor (`ferry-agent run`) hands its child this file descriptor to hear from it. */
export const SUPERVISOR_FD_ENV = 'FERRY_SUPERVISOR_FD';
/** The exit code that asks the supervisor to start the pending release. */
export const EXIT_RESTART_INTO_PENDING = 75;

export interface UpgraderOptions {
  dataDir: string;
  server: string;
  auth: { gatewayId: string; privateJwk: JWK };
  log: Logger;
  /** Stops the agent cleanly and exits with EXIT_RESTART_INTO_PENDING. */
  restart: () => void;
}

/**
 * Runs an `upgrade` from the channel: install the release beside the running one, mark it pending and
 * restart into it. Only under the supervisor, which alone can roll back; a failure leaves the gateway
 * on its version, running, and says why in the log.
 */
export class Upgrader {
  #busy = false;
  constructor(private readonly opts: UpgraderOptions) {}

  /**
   * Keeps the release signing key a welcome carries when the gateway has none (enrolled before releases
   * were signed): learned over its authenticated channel, never replacing the one enrollment pinned.
   */
  async adoptSigningKey(key: ReleaseSigningKey): Promise<void> {
    try {
      if (await loadReleaseSigningKey(this.opts.dataDir)) return;
      await saveReleaseSigningKey(this.opts.dataDir, key);
      this.opts.log.info(
        { event: 'upgrade.signing_key_learned' },
        'release signing key kept from the control plane',
      );
    } catch (err) {
      this.opts.log.warn(
        { event: 'upgrade.signing_key_failed', err },
        'could not keep the release signing key',
      );
    }
  }

  async upgrade(id: string, release: ReleaseDescriptor): Promise<void> {
    const log = this.opts.log;
    const fields = { event: 'upgrade.started', upgradeId: id, version: release.version };
    if (!isSupervised()) {
      log.error(
        { ...fields, event: 'upgrade.refused', code: 'agent_release.not_supervised' },
        'upgrade refused: this agent runs without its supervisor (ferry-agent run), which rolls back a bad release',
      );
      return;
    }
    if (this.#busy) return;
    this.#busy = true;
    try {
      log.info(fields, 'downloading the release');
      const signingKey = await loadReleaseSigningKey(this.opts.dataDir);
      const dir = await installRelease({
        dataDir: this.opts.dataDir,
        server: this.opts.server,
        auth: this.opts.auth,
        signingKey,
        release,
      });
      const state = await readReleaseState(this.opts.dataDir);
      await writeReleaseState(this.opts.dataDir, { ...state, pending: release.version });
      log.info({ ...fields, event: 'upgrade.installed', dir }, 'release installed; restarting into it');
      this.opts.restart();
    } catch (err) {
      log.error(
        { ...fields, event: 'upgrade.failed', code: isFerryError(err) ? err.code : undefined, err },
        'upgrade failed; staying on this version',
      );
    } finally {
      this.#busy = false;
    }
  }
}

/** Runs under `ferry-agent run`, which listens on SUPERVISOR_FD_ENV's descriptor. */
export function isSupervised(): boolean {
  return process.env[SUPERVISOR_FD_ENV] !== undefined;
}

let toldHealthy = false;
/**
 * Tells the supervisor this process reached its control channel and passed its health checks, which
 * ends a trial (the new release becomes current). Once per process; a no-op unsupervised.
 */
export function tellSupervisorHealthy(): void {
  const fd = Number(process.env[SUPERVISOR_FD_ENV]);
  if (toldHealthy || !Number.isInteger(fd) || fd < 3) return;
  toldHealthy = true;
  try {
    writeSync(fd, 'healthy\n');
  } catch {
    // The supervisor is gone; nobody to tell.
  }
}

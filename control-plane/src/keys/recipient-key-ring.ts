import { stat } from 'node:fs/promises';
import { recipientKeyThumbprint } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { loadOrCreateRecipientKeys, type RecipientKeys } from './recipient-keys.js';

/** How often a running control plane looks at the key file for a rotation made by `keys rotate`. */
export const KEY_FILE_POLL_MS = 5000;

/** What identifies one version of the key file on disk. */
async function fileStamp(file: string): Promise<string> {
  const st = await stat(file);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * The recipient keys of a running control plane, kept in step with the key file. `keys rotate` runs
 * as a separate process (and several replicas may share the file), so each replica re-reads the file
 * when it changes on disk: the new current key is then what enrollment hands out and what connected
 * gateways are sent, while every key the file keeps still opens what was sealed for it.
 */
export class RecipientKeyRing {
  private constructor(
    private readonly file: string,
    private keys: RecipientKeys,
    private currentThumbprint: string,
    private stamp: string,
  ) {}

  /** Loads FILE, creating a key set at first start. */
  static async open(file: string): Promise<RecipientKeyRing> {
    const keys = await loadOrCreateRecipientKeys(file);
    return new RecipientKeyRing(
      file,
      keys,
      await recipientKeyThumbprint(keys.publicJwk),
      await fileStamp(file),
    );
  }

  /** The key agents seal for now (public part). */
  get publicJwk(): JWK {
    return this.keys.publicJwk;
  }

  /** Every private key the file keeps, newest first. */
  get privateJwks(): JWK[] {
    return this.keys.privateJwks;
  }

  /** RFC 7638 thumbprint of publicJwk. */
  get thumbprint(): string {
    return this.currentThumbprint;
  }

  /** Re-reads the key file if it changed on disk; true when its current key is another one now. */
  async refresh(): Promise<boolean> {
    const stamp = await fileStamp(this.file);
    if (stamp === this.stamp) return false;
    const keys = await loadOrCreateRecipientKeys(this.file);
    const thumbprint = await recipientKeyThumbprint(keys.publicJwk);
    this.stamp = stamp;
    this.keys = keys;
    const rotated = thumbprint !== this.currentThumbprint;
    this.currentThumbprint = thumbprint;
    return rotated;
  }

  /**
   * Polls the key file every `intervalMs` (stat only) and calls `onRotated` when the current key
   * changed. A file that cannot be read keeps the keys in force and is logged.
   */
  watch(opts: { log: Logger; onRotated: () => void; intervalMs?: number }): { stop(): void } {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.refresh()
        .then((rotated) => {
          if (!rotated) return;
          opts.log.info(
            { event: 'keys.rotated', thumbprint: this.thumbprint, kept: this.privateJwks.length },
            'the key file has a new current recipient key: gateways are sent it',
          );
          opts.onRotated();
        })
        .catch((err: unknown) =>
          opts.log.warn(
            { event: 'keys.reload_failed', err: (err as Error).message },
            'could not re-read the key file; the keys in force stay',
          ),
        )
        .finally(() => {
          busy = false;
        });
    }, opts.intervalMs ?? KEY_FILE_POLL_MS);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}

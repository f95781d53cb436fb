import { recipientKeyThumbprint } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { readRawAgentConfig, writeAgentConfigFile } from '../config.js';
import type { Spool } from '../spool/spool.js';

/** The control plane's recipient key as the gateway holds it; the control channel applies rotations. */
export interface RecipientKeyHolder {
  /** RFC 7638 thumbprint of the key new objects are sealed for. */
  thumbprint(): Promise<string>;
  /** Keeps and uses a rotated key; false when it is the one in use or does not match `thumbprint`. */
  apply(publicJwk: JWK, thumbprint: string): Promise<boolean>;
}

/**
 * The control plane's recipient key as this gateway holds it: agent.json's `recipientPublicKey`, and
 * the key the spool seals new objects for. A rotated key from the control channel is checked against
 * its thumbprint, written to agent.json first (crash-safe: the next start seals for it too) and only
 * then used, so a key the gateway could not keep is never the one it reports.
 */
export class RecipientKeyStore implements RecipientKeyHolder {
  constructor(private readonly deps: { dataDir: string; spool: Spool; log: Logger }) {}

  thumbprint(): Promise<string> {
    return this.deps.spool.recipientThumbprint();
  }

  async apply(publicJwk: JWK, thumbprint: string): Promise<boolean> {
    const actual = await recipientKeyThumbprint(publicJwk);
    if (actual !== thumbprint) {
      this.deps.log.error(
        { event: 'control.recipient_key_refused', thumbprint, actual },
        'refused a recipient key whose thumbprint does not match it',
      );
      return false;
    }
    const from = await this.thumbprint();
    if (from === thumbprint) return false;
    const raw = (await readRawAgentConfig(this.deps.dataDir)) ?? {};
    await writeAgentConfigFile(this.deps.dataDir, { ...raw, recipientPublicKey: publicJwk });
    this.deps.spool.setRecipient(publicJwk, thumbprint);
    this.deps.log.info(
      { event: 'control.recipient_key_rotated', from, to: thumbprint },
      'the control plane rotated its key: new objects are sealed for the new one',
    );
    return true;
  }
}

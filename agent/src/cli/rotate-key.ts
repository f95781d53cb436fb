import { resolve } from 'node:path';
import { FerryError } from '@ferry/shared';
import { ControlPlaneClient } from '../cloud/client.js';
import {
  discardIdentity,
  generateIdentity,
  loadIdentity,
  promoteNextIdentity,
  saveIdentity,
} from '../cloud/identity.js';
import { loadAgentConfig } from '../config.js';
import { parse, requireString } from './args.js';

/**
 * `ferry-agent rotate-key --data-dir DIR`: replaces the gateway's key pair. The new key is saved as
 * pending first, so a retry after a lost answer registers the same key; it becomes current only
 * once the control plane accepted it, and a first call signed with it retires the old key there.
 */
export async function rotateKeyCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { 'data-dir': { type: 'string' } });
  const dataDir = resolve(requireString(values, 'data-dir'));
  const config = await loadAgentConfig(dataDir);
  if (!config.server || !config.gatewayId)
    throw new FerryError(
      'config.invalid',
      `${dataDir}/agent.json names no server and gateway; enroll first with \`ferry-agent enroll\``,
    );
  const current = await loadIdentity(dataDir);
  if (!current)
    throw new FerryError(
      'config.invalid',
      `${dataDir} holds no gateway key; enroll with \`ferry-agent enroll\``,
    );
  const onReenroll = async () => {
    await discardIdentity(dataDir);
    process.stderr.write(
      'ferry-agent: the control plane no longer knows this gateway; its identity was discarded, enroll it again\n',
    );
  };

  let next = await loadIdentity(dataDir, 'next');
  if (!next) {
    next = await generateIdentity();
    await saveIdentity(dataDir, next, 'next');
  }
  const oldClient = new ControlPlaneClient({
    server: config.server,
    auth: { gatewayId: config.gatewayId, privateJwk: current.privateJwk },
    onReenroll,
  });
  await oldClient.rotateKey(next.publicJwk);
  const promoted = await promoteNextIdentity(dataDir);

  const newClient = new ControlPlaneClient({
    server: config.server,
    auth: { gatewayId: config.gatewayId, privateJwk: promoted.privateJwk },
    onReenroll,
  });
  try {
    await newClient.me();
  } catch (err) {
    process.stdout.write(
      `rotated the key of gateway ${config.gatewayId}, but the first call with the new key failed ` +
        `(${(err as Error).message}); the old key stays valid until the new one is used\n`,
    );
    return;
  }
  process.stdout.write(`rotated the key of gateway ${config.gatewayId}; the old key is no longer accepted\n`);
}

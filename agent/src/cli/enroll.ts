import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { type EnrollResponse, FerryError, isFerryError } from '@ferry/shared';
import {
  agentConfigPath,
  agentConfigSchema,
  describeIssues,
  readRawAgentConfig,
  writeAgentConfigFile,
} from '../config.js';
import { ControlPlaneClient } from '../control/client.js';
import { generateIdentity, identityPaths, loadIdentity, saveIdentity } from '../control/identity.js';
import { AGENT_VERSION } from '../version.js';
import { parse, requireString } from './args.js';

/** The agent.json fields enrollment sets; every other field is local and kept. */
const ENROLLED_FIELDS = [
  'aeTitle',
  'port',
  'allowedCallingAeTitles',
  'maxAssociations',
  'recipientPublicKey',
  'server',
  'gatewayId',
  'configVersion',
] as const;

/** Checks the local settings of an existing agent.json before the token is spent on it. */
export function checkLocalSettings(existing: Record<string, unknown> | undefined, dataDir: string): void {
  if (!existing) return;
  const local = Object.fromEntries(
    Object.entries(existing).filter(([k]) => !(ENROLLED_FIELDS as readonly string[]).includes(k)),
  );
  const parsed = agentConfigSchema
    .omit({
      aeTitle: true,
      port: true,
      allowedCallingAeTitles: true,
      maxAssociations: true,
      recipientPublicKey: true,
      server: true,
      gatewayId: true,
      configVersion: true,
    })
    .safeParse(local);
  if (!parsed.success)
    throw new FerryError(
      'config.invalid',
      `${agentConfigPath(dataDir)} has invalid settings (${describeIssues(parsed.error)}); fix or remove it before enrolling`,
    );
}

/** The agent.json that results from an enrollment: the old file's local settings, the server's config on top. */
export function enrolledAgentConfig(
  existing: Record<string, unknown> | undefined,
  server: string,
  enrolled: EnrollResponse,
): Record<string, unknown> {
  return {
    ...existing,
    aeTitle: enrolled.config.aeTitle,
    port: enrolled.config.port,
    allowedCallingAeTitles: enrolled.config.allowedCallingAeTitles,
    maxAssociations: enrolled.config.maxAssociations,
    recipientPublicKey: enrolled.recipientPublicKey,
    server,
    gatewayId: enrolled.gatewayId,
    configVersion: enrolled.configVersion,
  };
}

/**
 * `ferry-agent enroll --server URL --token TOKEN --data-dir DIR`: makes this gateway's key pair,
 * registers its public key with the token, then saves the key and writes DIR/agent.json. Nothing
 * is written when the control plane refuses.
 */
export async function enrollCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    server: { type: 'string' },
    token: { type: 'string' },
    'data-dir': { type: 'string' },
    hostname: { type: 'string' },
  });
  const dataDir = resolve(requireString(values, 'data-dir'));
  const token = requireString(values, 'token');
  const client = new ControlPlaneClient({ server: requireString(values, 'server') });
  const hostname =
    typeof values.hostname === 'string' && values.hostname !== '' ? values.hostname : osHostname();

  // Everything that can fail locally fails before the token is spent.
  if (await loadIdentity(dataDir)) {
    throw new FerryError(
      'config.invalid',
      `${dataDir} already holds a gateway identity (${identityPaths(dataDir).dir}); to enroll it again, ` +
        'stop the agent and remove that directory first',
    );
  }
  const existing = await readRawAgentConfig(dataDir);
  checkLocalSettings(existing, dataDir);
  const identity = await generateIdentity();
  if (
    client.server.startsWith('http://') &&
    !/^http:\/\/(127\.|localhost[:/]|\[::1\])/.test(`${client.server}/`)
  )
    process.stderr.write(
      `ferry-agent: warning: ${client.server} is plain HTTP; the token crosses the network unencrypted\n`,
    );

  let enrolled: EnrollResponse;
  try {
    enrolled = await client.enroll({
      token,
      publicKey: { kty: 'OKP', crv: 'Ed25519', x: identity.publicJwk.x ?? '' },
      hostname,
      version: AGENT_VERSION,
    });
  } catch (err) {
    if (isFerryError(err)) {
      // The server said no (a token problem, a bad request), or it could not be asked at all.
      const refused = err.code !== 'control.unreachable' && err.code !== 'control.bad_response';
      const what = refused ? `enrollment refused by ${client.server}` : 'enrollment failed';
      throw new FerryError(err.code, `${what}: ${err.message}; nothing was written`, { cause: err });
    }
    throw err;
  }

  const config = enrolledAgentConfig(existing, client.server, enrolled);
  const check = agentConfigSchema.safeParse(config);
  if (!check.success)
    throw new FerryError(
      'control.bad_response',
      `gateway ${enrolled.gatewayId} was enrolled, but its config does not fit this agent ` +
        `(${describeIssues(check.error)}); nothing was written. Revoke that gateway and upgrade the agent`,
    );
  await saveIdentity(dataDir, identity);
  await writeAgentConfigFile(dataDir, config);
  process.stdout.write(
    [
      `enrolled as gateway ${enrolled.gatewayId} for facility "${enrolled.facility.name}" ` +
        `(AE title ${enrolled.config.aeTitle}, port ${enrolled.config.port}, config version ${enrolled.configVersion})`,
      `wrote ${agentConfigPath(dataDir)} and the private key in ${identityPaths(dataDir).dir} (keep it secret)`,
      `start it with: ferry-agent start --data-dir ${dataDir}`,
      '',
    ].join('\n'),
  );
}

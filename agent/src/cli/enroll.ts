import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type EnrollResponse,
  FerryError,
  gatewayNameSchema,
  isFerryError,
  PUSHED_SETTINGS,
  recipientKeyThumbprint,
} from '@ferry/shared';
import { ControlPlaneClient } from '../cloud/client.js';
import { generateIdentity, identityPaths, loadIdentity, saveIdentity } from '../cloud/identity.js';
import {
  agentConfigPath,
  agentConfigSchema,
  describeIssues,
  readRawAgentConfig,
  writeAgentConfigFile,
} from '../config.js';
import { withPushedConfig } from '../live-config/config-applier.js';
import { saveReleaseSigningKey } from '../upgrade/release-store.js';
import { AGENT_VERSION } from '../version.js';
import { parse, requireString } from './args.js';

/** agent.json's top-level keys a pushed config sets (a dotted setting's group: `upload`). */
const PUSHED_KEYS = new Set(Object.keys(PUSHED_SETTINGS).map((name) => name.split('.')[0]!));

/** The agent.json fields enrollment sets; every other field is local and kept. */
const ENROLLED_FIELDS = new Set([
  ...PUSHED_KEYS,
  'peers',
  'recipientPublicKey',
  'server',
  'gatewayId',
  'configVersion',
]);

/** Checks the local settings of an existing agent.json before the token is spent on it. */
export function checkLocalSettings(existing: Record<string, unknown> | undefined, dataDir: string): void {
  if (!existing) return;
  const local = Object.fromEntries(Object.entries(existing).filter(([k]) => !ENROLLED_FIELDS.has(k)));
  type Field = keyof typeof agentConfigSchema.shape;
  const enrolledHere: Partial<Record<Field, true>> = Object.fromEntries(
    (Object.keys(agentConfigSchema.shape) as Field[])
      .filter((k) => ENROLLED_FIELDS.has(k))
      .map((k) => [k, true]),
  );
  const parsed = agentConfigSchema.omit(enrolledHere).safeParse(local);
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
  // Every pushed setting of the version written below: without them the gateway would run its
  // defaults (or refuse its own peers) until the next version arrives, since it already holds this one.
  const pushed = Object.fromEntries(Object.entries(enrolled.config).filter(([k]) => PUSHED_KEYS.has(k)));
  return {
    ...withPushedConfig(existing ?? {}, pushed, enrolled.configVersion),
    // A control plane that sends no peers lists none.
    peers: enrolled.config.peers ?? [],
    recipientPublicKey: enrolled.recipientPublicKey,
    server,
    gatewayId: enrolled.gatewayId,
    configVersion: enrolled.configVersion,
  };
}

/** Longer than any token the control plane issues (fet_ + 43), short enough that a wrong file is caught. */
const MAX_TOKEN_BYTES = 1024;

/**
 * The enrollment token from `--token-file FILE`, or from standard input with `--token-file -`: never
 * from the command line, where every local user sees it (ps, /proc/<pid>/cmdline).
 */
export async function readEnrollmentToken(
  values: Record<string, unknown>,
  stdin: Readable = process.stdin,
): Promise<string> {
  if (values.token !== undefined)
    throw new FerryError(
      'config.invalid',
      '--token is not accepted: a token on the command line is visible to every local user (ps); ' +
        'pass it with --token-file FILE, or on standard input with --token-file -',
    );
  const from = requireString(values, 'token-file');
  let raw: string;
  try {
    raw = from === '-' ? await readAll(stdin) : await readFile(from, 'utf8');
  } catch (cause) {
    throw new FerryError(
      'config.unreadable',
      `cannot read the enrollment token from ${from === '-' ? 'standard input' : from}`,
      {
        cause,
      },
    );
  }
  const token = raw.trim();
  if (token === '' || token.length > MAX_TOKEN_BYTES || /\s/.test(token))
    throw new FerryError(
      'config.invalid',
      `${from === '-' ? 'standard input' : from} must hold the one enrollment token (fet_…) and nothing else`,
    );
  return token;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_TOKEN_BYTES) break;
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The enrollment answer must carry the recipient key the install line pinned: a TLS-inspecting proxy
 * (or any server answering in the control plane's name) would otherwise hand over its own key, and
 * every study sealed here would open for it.
 */
export async function checkRecipientKey(enrolled: EnrollResponse, expected: string): Promise<void> {
  let received: string;
  try {
    received = await recipientKeyThumbprint(enrolled.recipientPublicKey);
  } catch (cause) {
    throw new FerryError('control.bad_response', 'the enrollment answer carries no valid recipient key', {
      cause,
    });
  }
  if (received !== expected)
    throw new FerryError(
      'enrollment.key_mismatch',
      `the control plane answered with recipient key ${received}, not the pinned ${expected} ` +
        '(--key-thumbprint): something between here and the control plane (a TLS-inspecting proxy?) ' +
        `replaced it. Nothing was written; the token is spent: revoke gateway ${enrolled.gatewayId} ` +
        'in the console and enroll with a new token once the path to the control plane is trusted',
    );
}

/**
 * `ferry-agent enroll --server URL --token-file FILE|- --key-thumbprint T --data-dir DIR`: makes this
 * gateway's key pair, registers its public key with the token, checks that the answer's recipient key
 * is the pinned one, then saves the key and writes DIR/agent.json. Nothing is written when the
 * control plane refuses or the key does not match.
 */
/** `--name`, checked by the control plane's own rules before the token is spent; undefined: the default name. */
export function enrollmentName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const checked = gatewayNameSchema.safeParse(value);
  if (!checked.success)
    throw new FerryError(
      'config.invalid',
      `--name: ${checked.error.issues.map((i) => i.message).join('; ')}`,
    );
  return checked.data;
}

export async function enrollCommand(args: string[], io: { stdin?: Readable } = {}): Promise<void> {
  const { values } = parse(args, {
    server: { type: 'string' },
    // Declared only to refuse it with a reason (see readEnrollmentToken).
    token: { type: 'string' },
    'token-file': { type: 'string' },
    'key-thumbprint': { type: 'string' },
    'data-dir': { type: 'string' },
    hostname: { type: 'string' },
    name: { type: 'string' },
  });
  const dataDir = resolve(requireString(values, 'data-dir'));
  const keyThumbprint = requireString(values, 'key-thumbprint');
  if (!/^[\w-]{43}$/.test(keyThumbprint))
    throw new FerryError(
      'config.invalid',
      '--key-thumbprint must be the RFC 7638 SHA-256 thumbprint the console or the API gave with the token (43 characters)',
    );
  const client = new ControlPlaneClient({ server: requireString(values, 'server') });
  const token = await readEnrollmentToken(values, io.stdin);
  const hostname =
    typeof values.hostname === 'string' && values.hostname !== '' ? values.hostname : osHostname();
  const name = enrollmentName(values.name);

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
      ...(name !== undefined ? { name } : {}),
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

  await checkRecipientKey(enrolled, keyThumbprint);
  const config = enrolledAgentConfig(existing, client.server, enrolled);
  const check = agentConfigSchema.safeParse(config);
  if (!check.success)
    throw new FerryError(
      'control.bad_response',
      `gateway ${enrolled.gatewayId} was enrolled, but its config does not fit this agent ` +
        `(${describeIssues(check.error)}); nothing was written. Revoke that gateway and upgrade the agent`,
    );
  await saveIdentity(dataDir, identity);
  // The key upgrades are checked with, learned over the same pinned enrollment as the recipient key.
  if (enrolled.releaseSigningKey) await saveReleaseSigningKey(dataDir, enrolled.releaseSigningKey);
  await writeAgentConfigFile(dataDir, config);
  process.stdout.write(
    [
      `enrolled as gateway ${enrolled.gatewayId}${enrolled.name ? ` ("${enrolled.name}")` : ''} for facility "${enrolled.facility.name}" ` +
        `(AE title ${enrolled.config.aeTitle}, port ${enrolled.config.port}, config version ${enrolled.configVersion})`,
      `wrote ${agentConfigPath(dataDir)} and the private key in ${identityPaths(dataDir).dir} (keep it secret)`,
      `start it with: ferry-agent start --data-dir ${dataDir}`,
      '',
    ].join('\n'),
  );
}

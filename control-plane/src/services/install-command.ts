import { isFerryError, recipientKeyThumbprint } from '@ferry/shared';
import type { JWK } from 'jose';
import { AGENT_RELEASE_NAME, AGENT_RELEASE_PATH, type AgentRelease } from '../agent-release/agent-release.js';

/** Single-quotes a value for a POSIX shell unless it is plainly safe as it is. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface InstallLineInput {
  publicUrl: string;
  token: string;
  /** SHA-256 (hex) of the release the line downloads. */
  releaseSha256: string;
  /** RFC 7638 thumbprint of the control plane's current recipient key. */
  keyThumbprint: string;
}

/**
 * The one shell line that installs and enrolls a gateway: it downloads this control plane's agent
 * release into a fresh directory, checks it against the SHA-256 written here, unpacks it and runs its
 * install.sh, which enrolls with the token pinned to this control plane's key.
 *
 * The token is handed over on standard input by printf, a builtin of every shell: it is never an
 * argument of a process, so `ps` and /proc/<pid>/cmdline of other users never show it. sudo reads a
 * password from the terminal, not from standard input, so the pipe reaches install.sh.
 */
export function installLineFor(input: InstallLineInput): string {
  const url = `${input.publicUrl}${AGENT_RELEASE_PATH}`;
  return [
    'cd "$(mktemp -d)"',
    `curl -fsSLo ${AGENT_RELEASE_NAME} ${shellQuote(url)}`,
    `echo ${shellQuote(`${input.releaseSha256}  ${AGENT_RELEASE_NAME}`)} | sha256sum -c`,
    `tar -xzf ${AGENT_RELEASE_NAME} --strip-components=1`,
    `printf %s ${shellQuote(input.token)} | sudo ./install.sh --server ${shellQuote(input.publicUrl)} ` +
      `--token-file - --key-thumbprint ${shellQuote(input.keyThumbprint)}`,
  ].join(' && ');
}

export interface InstallCommand {
  /** The line, or null when this control plane has no release to download (agent_release.missing). */
  installCommand: string | null;
  keyThumbprint: string;
  /** Why there is no line: the coded error's message, for the console to show. */
  unavailable?: string;
}

/** The install line for a fresh token, from the control plane's current release and recipient key. */
export async function installCommandFor(deps: {
  publicUrl: string;
  agentRelease: AgentRelease;
  recipientPublicKey: JWK;
  token: string;
}): Promise<InstallCommand> {
  const keyThumbprint = await recipientKeyThumbprint(deps.recipientPublicKey);
  try {
    const { sha256 } = await deps.agentRelease.info();
    return {
      installCommand: installLineFor({
        publicUrl: deps.publicUrl,
        token: deps.token,
        releaseSha256: sha256,
        keyThumbprint,
      }),
      keyThumbprint,
    };
  } catch (err) {
    if (!isFerryError(err, 'agent_release.missing')) throw err;
    return { installCommand: null, keyThumbprint, unavailable: `${err.code}: ${err.message}` };
  }
}

import { createHash, randomBytes } from 'node:crypto';

/** Prefix that makes a leaked enrollment token recognisable (secret scanners, log review). */
export const ENROLLMENT_TOKEN_PREFIX = 'fet_';

/** A fresh enrollment token: 256 random bits, base64url, with the `fet_` prefix. */
export function newEnrollmentToken(): string {
  return `${ENROLLMENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** What the database keeps instead of the token: its SHA-256, hex. */
export function hashEnrollmentToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Single-quotes a value for a POSIX shell unless it is plainly safe as it is. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export const DEFAULT_AGENT_DATA_DIR = '/var/lib/ferry-agent';

/**
 * The same enrollment through the release's install.sh (bundled agent + Node, systemd unit): for a
 * hospital server without npm. It enrolls into the default data directory.
 */
export function installScriptCommandFor(publicUrl: string, token: string): string {
  return ['sudo ./install.sh', `--server ${shellQuote(publicUrl)}`, `--token ${shellQuote(token)}`].join(' ');
}

/** The exact shell line an installer runs on the gateway host. */
export function installCommandFor(publicUrl: string, token: string): string {
  return [
    'npx ferry-agent enroll',
    `--server ${shellQuote(publicUrl)}`,
    `--token ${shellQuote(token)}`,
    `--data-dir ${DEFAULT_AGENT_DATA_DIR}`,
  ].join(' ');
}

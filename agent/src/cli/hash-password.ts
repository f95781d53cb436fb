import type { Readable } from 'node:stream';
import { FerryError } from '@ferry/shared';
import { hashIdentityPassword } from '../dimse/identity-password.js';

/** A DICOM passcode field holds at most 64 KiB; more on standard input is not a password. */
const MAX_PASSWORD_BYTES = 65_535;

/**
 * `ferry-agent hash-password`: reads a password from standard input (never argv, which other users
 * of the machine can see) and prints the scrypt hash that goes into the `userIdentity` setting's
 * `users[].passwordHash`. The password itself never reaches the control plane.
 */
export async function hashPasswordCommand(
  _args: string[],
  io: { stdin?: Readable; stdout?: NodeJS.WritableStream } = {},
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin ?? process.stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_PASSWORD_BYTES)
      throw new FerryError('config.invalid', `the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
    chunks.push(buf);
  }
  // One trailing newline is the terminal's or echo's, not the password's.
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (password.length === 0) throw new FerryError('config.invalid', 'no password on standard input');
  (io.stdout ?? process.stdout).write(`${await hashIdentityPassword(password)}\n`);
}

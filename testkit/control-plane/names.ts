// The names test apps share: the public URL they answer on, and ids no two seeded rows, buckets or
// databases of this process (or of another process on the same host) share.
import { randomBytes, randomUUID } from 'node:crypto';

export const TEST_PUBLIC_URL = 'http://ferry.test';

let counter = 0;

/** 1, 2, 3… in this process; part of every generated name. */
export function nextSerial(): number {
  counter += 1;
  return counter;
}

/** A short unique slug: pid, serial and a few random bytes. */
export function nextId(): string {
  const serial = nextSerial();
  return `${process.pid.toString(36)}${serial.toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A random UUID that names nothing (for "unknown resource" checks). */
export function unknownId(): string {
  return randomUUID();
}

import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RawScu, verificationContext } from '../../../test/harness/raw-scu.js';
import { selfSignedCert } from '../../../test/harness/tls.js';
import { DicomListener } from './listener.js';
import type { AssociationPolicy } from './policy.js';
import { Status, type StoreHandler } from './store-handler.js';

/** Only C-ECHO is exercised here; a C-STORE would be refused. */
const noStore: StoreHandler = {
  begin: () => ({
    write: () => true,
    onDrain: (cb) => cb(),
    end: async () => ({ status: Status.CannotUnderstand }),
    abort: () => undefined,
  }),
};

const basePolicy: AssociationPolicy = {
  aeTitle: 'GATEWAY',
  allowedCallingAeTitles: [],
  maxAssociations: 4,
  maxPduLength: 65536,
  artimTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
};

let listener: DicomListener | undefined;
const sockets: RawScu[] = [];
const raw: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of raw.splice(0)) s.destroy();
  await listener?.close(true);
  listener = undefined;
});

async function start(
  policy: AssociationPolicy = basePolicy,
  log: Logger = pino({ level: 'silent' }),
  tls?: { cert: string; key: string },
): Promise<number> {
  listener = new DicomListener({ host: '127.0.0.1', port: 0, policy, ...(tls ? { tls } : {}) }, noStore, log);
  return (await listener.listen()).port;
}

async function connect(port: number): Promise<RawScu> {
  const scu = await RawScu.connect(port);
  sockets.push(scu);
  return scu;
}

async function ask(port: number, callingAe: string) {
  return (await connect(port)).associate({ callingAe, contexts: [verificationContext()] });
}

const busy = { kind: 'rejected', result: 2, source: 3, reason: 2 };

describe('DicomListener admission', () => {
  it('lets one calling AE title hold only its share, so other callers still get in', async () => {
    const port = await start();
    // Connections that have not asked yet take no slot.
    for (let i = 0; i < 10; i++) await connect(port);
    expect((await ask(port, 'FLOOD')).kind).toBe('accepted');
    expect((await ask(port, 'FLOOD')).kind).toBe('accepted');
    expect(await ask(port, 'FLOOD')).toEqual(busy);
    expect((await ask(port, 'CT1')).kind).toBe('accepted');
    expect((await ask(port, 'MR1')).kind).toBe('accepted');
    expect(listener!.activeAssociations).toBe(4);
    // The pool itself is still the limit.
    expect(await ask(port, 'US1')).toEqual(busy);
  });

  it('gives a slot back when its association closes, and follows a configured share', async () => {
    const port = await start({ ...basePolicy, maxAssociationsPerCallingAe: 1 });
    const first = await connect(port);
    expect((await first.associate({ callingAe: 'CT1' })).kind).toBe('accepted');
    expect(await ask(port, 'CT1')).toEqual(busy);
    await first.release();
    await expect.poll(() => listener!.activeAssociations).toBe(0);
    expect((await ask(port, 'CT1')).kind).toBe('accepted');
    expect(listener!.stats().associationsTotal).toBe(2);
  });
});

/**
 * A socket from `from` (any 127.x address is loopback on Linux) that says nothing, once the listener
 * has taken it in: `pending` is what the listener should then count, `closed` says if it was refused.
 */
async function silent(port: number, from: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = createConnection({ port, host: '127.0.0.1', localAddress: from });
  raw.push(socket);
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => undefined);
  await once(socket, 'connect');
  return { socket, closed };
}

function recordingLogger(lines: Record<string, unknown>[]): Logger {
  return pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
}

const isClosedWithin = (closed: Promise<void>, ms: number) =>
  Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('DicomListener connections not yet associated', () => {
  it('closes one over the per-address cap at once, and lets other addresses in', async () => {
    const lines: Record<string, unknown>[] = [];
    const port = await start({ ...basePolicy, maxPendingPerAddress: 3 }, recordingLogger(lines));
    const held = [];
    for (let i = 1; i <= 3; i++) {
      held.push(await silent(port, '127.0.0.2'));
      await expect.poll(() => listener!.pendingConnections).toBe(i);
    }
    const over = await silent(port, '127.0.0.2');
    expect(await isClosedWithin(over.closed, 5000), 'the 4th silent socket was not closed').toBe(true);
    for (const h of held) expect(h.socket.destroyed).toBe(false);
    expect(listener!.pendingConnections).toBe(3);
    // Another address is not affected by 127.0.0.2's flood.
    expect((await ask(port, 'CT1')).kind).toBe('accepted');
    expect(lines.filter((l) => l.event === 'dicom.connection_refused')).toEqual([
      expect.objectContaining({
        refused: 1,
        peers: ['127.0.0.2'],
        reason: '3 connections from this address are already waiting to associate (limit 3)',
      }),
    ]);
    // A pending socket that goes away gives its place back.
    held[0]!.socket.destroy();
    await expect.poll(() => listener!.pendingConnections).toBe(2);
    const again = await silent(port, '127.0.0.2');
    await expect.poll(() => listener!.pendingConnections).toBe(3);
    expect(again.socket.destroyed).toBe(false);
  });

  it('counts only connections not yet associated, so one address may hold more associations than the cap', async () => {
    const port = await start({ ...basePolicy, maxPendingPerAddress: 2 });
    for (const ae of ['CT1', 'CT2', 'CT3', 'CT4']) expect((await ask(port, ae)).kind).toBe('accepted');
    expect(listener!.activeAssociations).toBe(4);
    expect(listener!.pendingConnections).toBe(0);
  });

  it('caps them in all, across addresses', async () => {
    const lines: Record<string, unknown>[] = [];
    const port = await start({ ...basePolicy, maxPendingConnections: 4 }, recordingLogger(lines));
    for (let i = 1; i <= 4; i++) {
      await silent(port, `127.0.0.${i + 1}`);
      await expect.poll(() => listener!.pendingConnections).toBe(i);
    }
    const refused = await Promise.all([silent(port, '127.0.0.9'), silent(port, '127.0.0.9')]);
    for (const r of refused) expect(await isClosedWithin(r.closed, 5000)).toBe(true);
    expect(listener!.pendingConnections).toBe(4);
    // One line for the burst, not one per socket: the second refusal waits for the 1 s summary window,
    // so the poll must outlast it (vitest's default poll gives up at 1 s).
    await expect
      .poll(
        () =>
          lines
            .filter((l) => l.event === 'dicom.connection_refused')
            .reduce((n, l) => n + Number(l.refused), 0),
        { timeout: 5000 },
      )
      .toBe(2);
    expect(lines.filter((l) => l.event === 'dicom.connection_refused').length).toBeLessThanOrEqual(2);
  });
});

describe('DicomListener over TLS, connections not yet associated', () => {
  it('refuses one over the cap before any handshake, and closes a silent one at ARTIM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'listener-tls-'));
    try {
      const { cert, key } = await selfSignedCert(
        { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
        'localhost',
      );
      const lines: Record<string, unknown>[] = [];
      const policy = { ...basePolicy, maxPendingPerAddress: 2, artimTimeoutMs: 500 };
      const port = await start(policy, recordingLogger(lines), { cert, key });
      const held = [];
      for (let i = 1; i <= 2; i++) {
        held.push(await silent(port, '127.0.0.2'));
        await expect.poll(() => listener!.pendingConnections).toBe(i);
      }
      const over = await silent(port, '127.0.0.2');
      expect(await isClosedWithin(over.closed, 5000)).toBe(true);
      // The silent handshakes time out with ARTIM, are closed, and give their places back.
      for (const h of held) expect(await isClosedWithin(h.closed, 10_000)).toBe(true);
      await expect.poll(() => listener!.pendingConnections).toBe(0);
      const tlsErrors = lines.filter((l) => l.event === 'dicom.tls_error').map((l) => l.reason);
      expect(tlsErrors).toEqual(['TLS handshake timeout', 'TLS handshake timeout']);
      expect(lines.filter((l) => l.event === 'dicom.connection_refused')).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Upload calls against a peer that accepts the connection, takes the request and never answers (a
// black-holed link): each call must give up on its own deadline, not the control-plane client's
// long one, so that one dead connection does not stall the uploader.
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FerryError, isFerryError, type UploadOfferObject } from '@ferry/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneClient } from '../cloud/client.js';
import { generateIdentity } from '../cloud/identity.js';
import { completeTimeoutMs, OFFER_TIMEOUT_MS, UploadClient } from './upload-client.js';

const GATEWAY = '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10';
/** Far beyond the test's own timeout: a call that waits for it makes the test fail. */
const CLIENT_TIMEOUT_MS = 10 * 60_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let server: Server | undefined;
let collecting: NodeJS.Timeout | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  clearInterval(collecting);
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server that reads every request and answers none; counts the bytes it swallowed. */
async function blackHole(): Promise<{ url: string; swallowed: () => number }> {
  let swallowed = 0;
  server = createServer((s) => {
    sockets.add(s);
    s.on('data', (c: Buffer) => {
      swallowed += c.length;
    });
    s.on('error', () => undefined);
  });
  const srv = server;
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, swallowed: () => swallowed };
}

async function clientFor(url: string, opts: { offerTimeoutMs?: number; completeFloorMs?: number }) {
  const id = await generateIdentity();
  const control = new ControlPlaneClient({
    server: url,
    auth: { gatewayId: GATEWAY, privateJwk: id.privateJwk },
    timeoutMs: CLIENT_TIMEOUT_MS,
  });
  return new UploadClient(control, opts);
}

/**
 * How the call failed. Garbage is collected all the while: on Node 20 that is what made a timeout
 * combined with the caller's signal (AbortSignal.any) never fire.
 */
async function failure(p: Promise<unknown>): Promise<FerryError> {
  collecting = setInterval(gc, 20);
  // Far beyond the deadlines under test: this only turns a hang into a clear failure.
  let hang: NodeJS.Timeout | undefined;
  const hung = new Promise<Error>((resolve) => {
    hang = setTimeout(() => resolve(new Error('the call never gave up')), 20_000);
  });
  const err = await Promise.race([
    p.then(
      () => undefined,
      (e: unknown) => e,
    ),
    hung,
  ]);
  clearTimeout(hang);
  if (!isFerryError(err)) throw new Error(`expected a FerryError, got ${String(err)}`);
  return err;
}

const offer: UploadOfferObject = {
  objectId: 'object-000000000001',
  sopInstanceUid: '1.2.3.4',
  sha256: 'a'.repeat(64),
  plainBytes: 900,
  objectBytes: 1000,
  receivedAt: new Date().toISOString(),
};

describe('UploadClient deadlines', () => {
  it('gives up an offer that is never answered, and says it timed out', async () => {
    const hole = await blackHole();
    const client = await clientFor(hole.url, { offerTimeoutMs: 300 });
    // As the uploader calls it: with its long-lived stop signal.
    const err = await failure(client.offer([offer], new AbortController().signal));
    expect(err.code).toBe('control.unreachable');
    expect(err.message).toContain('timed out');
    // It was sent, not refused: the request went into the hole.
    expect(hole.swallowed()).toBeGreaterThan(0);
  });

  it('gives up a complete that is never answered, on a deadline that grows with what it verifies', async () => {
    const hole = await blackHole();
    const client = await clientFor(hole.url, { completeFloorMs: 300 });
    const item = { objectId: offer.objectId, uploadId: crypto.randomUUID(), objectSha256: 'b'.repeat(64) };
    const err = await failure(client.complete([item], new AbortController().signal, 1000));
    expect(err.code).toBe('control.unreachable');
    expect(err.message).toContain('timed out');
    expect(completeTimeoutMs(256 << 20)).toBeGreaterThan(completeTimeoutMs(1 << 20));
    expect(completeTimeoutMs(0)).toBeLessThan(CLIENT_TIMEOUT_MS);
  });

  it('still stops at once when the caller gives up', async () => {
    const hole = await blackHole();
    const client = await clientFor(hole.url, {});
    const stop = new AbortController();
    const pending = failure(client.offer([offer], stop.signal));
    stop.abort(new FerryError('internal.unexpected', 'the uploader is stopping'));
    expect((await pending).code).toBe('control.unreachable');
    expect(OFFER_TIMEOUT_MS).toBeLessThan(CLIENT_TIMEOUT_MS);
  });
});

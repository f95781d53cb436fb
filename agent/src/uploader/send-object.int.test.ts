// A part's chunks are read into buffers of their own and freed (spool/buffer-release.ts) once sent.
// Freed memory must never reach the wire: here a slow server reads every byte before it answers, so
// socket writes are still pending while the uploader waits, and the bytes it gets must be the part's.
import { createHash, randomBytes } from 'node:crypto';
import type { ReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { FerryError } from '@ferry/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneClient } from '../cloud/client.js';
import { generateIdentity } from '../cloud/identity.js';
import type { IndexEntry } from '../spool/consumer.js';
import { sendParts } from './send-object.js';
import { UploadClient } from './upload-client.js';

const CHUNK = 1 << 20;
const CHUNKS = 6;

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

function detached(b: Buffer): boolean {
  return (b.buffer as ArrayBuffer & { readonly detached: boolean }).detached;
}

/** What the spool's ReadStream hands out: each chunk a fresh buffer of its own. */
function ownChunks(): Buffer[] {
  return Array.from({ length: CHUNKS }, () => {
    const b = Buffer.allocUnsafeSlow(CHUNK);
    randomBytes(CHUNK).copy(b);
    return b;
  });
}

/**
 * A PUT endpoint that reads slowly (the sender's socket backs up), checks when the body has all
 * arrived whether any source chunk was already freed, then answers `status`.
 */
async function slowServer(status: number, chunks: Buffer[]) {
  const seen = { body: Buffer.alloc(0), freedBeforeAnswer: false };
  server = createServer((req, res) => {
    void (async () => {
      const got: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) {
        got.push(c);
        await new Promise((r) => setTimeout(r, 1));
      }
      seen.body = Buffer.concat(got);
      seen.freedBeforeAnswer = chunks.some(detached);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    })();
  });
  const srv = server;
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/part`, seen };
}

async function send(url: string, chunks: Buffer[]) {
  const id = await generateIdentity();
  const control = new ControlPlaneClient({
    server: 'http://127.0.0.1:9',
    auth: { gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10', privateJwk: id.privateJwk },
  });
  const length = CHUNK * CHUNKS;
  return sendParts({
    spool: {
      readSealedRange: () => Readable.from(chunks) as unknown as ReadStream,
      readFailure: (objectId, err) => new FerryError('spool.io_error', `reading ${objectId}`, { cause: err }),
    },
    api: new UploadClient(control),
    bucket: undefined,
    entry: { id: 'o1', objectBytes: length } as IndexEntry,
    target: {
      objectId: 'o1',
      status: 'upload',
      uploadId: '0d9e6c35-7a43-4c55-9d55-1f0b0f4a7a11',
      partBytes: length,
      parts: [{ partNumber: 1, offset: 0, length, done: false, url }],
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
    signal: new AbortController().signal,
  });
}

describe('a part PUT and the memory of its chunks', () => {
  it('sends every byte intact and frees the chunks only once the server has answered', async () => {
    const chunks = ownChunks();
    const expected = Buffer.concat(chunks);
    const { url, seen } = await slowServer(200, chunks);
    const out = await send(url, chunks);
    expect(out.ok).toBe(true);
    expect(seen.body.equals(expected)).toBe(true);
    expect(seen.freedBeforeAnswer).toBe(false);
    expect(out.ok && out.objectSha256).toBe(createHash('sha256').update(expected).digest('hex'));
    expect(chunks.every(detached)).toBe(true);
  });

  it('leaves the chunks of a refused PUT to the collector', async () => {
    const chunks = ownChunks();
    const { url, seen } = await slowServer(500, chunks);
    const out = await send(url, chunks);
    expect(out.ok).toBe(false);
    expect(seen.freedBeforeAnswer).toBe(false);
    expect(chunks.some(detached)).toBe(false);
  });
});

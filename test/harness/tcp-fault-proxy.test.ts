// The TCP fault proxy with plain sockets: what it promises about bytes, resets and the black hole.
// Correctness only; how fast the shaped link runs is not asserted here.
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from './agent.js';
import { startTcpFaultProxy, type TcpFaultProxy } from './tcp-fault-proxy.js';

const MiB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Target {
  port: number;
  /** Sockets the target accepted, in order. */
  accepted: Socket[];
  /** Bytes the target read, per accepted socket. */
  received: Buffer[][];
}

/** A target server; `onSocket` decides what it does with each connection (default: echo). */
async function target(onSocket: (s: Socket) => void = (s) => s.pipe(s)): Promise<Target> {
  const t: Target = { port: 0, accepted: [], received: [] };
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    t.accepted.push(s);
    t.received.push(chunks);
    s.on('error', () => undefined);
    s.on('data', (c: Buffer) => chunks.push(c));
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of t.accepted) s.destroy();
        server.close(() => resolve());
      }),
  );
  return t;
}

async function proxyTo(t: Target): Promise<TcpFaultProxy> {
  const p = await startTcpFaultProxy({ host: '127.0.0.1', port: t.port });
  cleanups.push(p.close);
  return p;
}

interface Client {
  socket: Socket;
  /** Everything read so far. */
  data(): Buffer;
  /** Resolves when the socket closes, with the error code if it was reset. */
  closed: Promise<string | undefined>;
}

async function client(p: TcpFaultProxy): Promise<Client> {
  const chunks: Buffer[] = [];
  const socket = connect({ host: p.host, port: p.port });
  cleanups.push(() => {
    socket.destroy();
  });
  let error: string | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    error = err.code ?? err.message;
  });
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<string | undefined>((resolve) => socket.on('close', () => resolve(error)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data: () => Buffer.concat(chunks), closed };
}

/** Writes `payload` in uneven chunks (so chunk boundaries vary), honouring backpressure. */
async function writeUneven(s: Socket, payload: Buffer): Promise<void> {
  let at = 0;
  let n = 1;
  while (at < payload.length) {
    const size = Math.min(payload.length - at, 1 + ((n++ * 7919) % 70_000));
    if (!s.write(payload.subarray(at, at + size))) await new Promise((r) => s.once('drain', r));
    at += size;
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('tcp fault proxy', () => {
  it('delivers every byte in order and unaltered, both ways, under latency and a shared cap', async () => {
    const t = await target();
    const p = await proxyTo(t);
    p.shape({ latencyMs: 15, bitsPerSecond: 200e6, downBitsPerSecond: 300e6 });
    const payloads = [randomBytes(3 * MiB), randomBytes(2 * MiB + 12_345)];
    const clients = await Promise.all(payloads.map(() => client(p)));
    // Two connections at once share the cap; each must still see exactly its own bytes back.
    await Promise.all(clients.map((c, i) => writeUneven(c.socket, payloads[i]!)));
    for (const [i, c] of clients.entries())
      await waitFor(() => c.data().length >= payloads[i]!.length, 60_000, `echo ${i}`);
    for (const [i, c] of clients.entries()) {
      expect(c.data().length).toBe(payloads[i]!.length);
      expect(sha(c.data())).toBe(sha(payloads[i]!));
    }
    const total = payloads[0]!.length + payloads[1]!.length;
    expect(p.stats()).toMatchObject({ connections: 2, open: 2, resets: 0, bytesUp: total, bytesDown: total });
  });

  it('passes a half-close on after the data, and an answer still on its way outlives the server', async () => {
    // The server answers a half-closed request and closes at once; with 100 ms each way the answer
    // is still in the proxy when the server is gone, and must arrive anyway, then the FIN.
    const answer = randomBytes(256 * 1024);
    const t = await target((s) => {
      s.on('end', () => s.end(answer));
    });
    const p = await proxyTo(t);
    p.shape({ latencyMs: 100 });
    const c = await client(p);
    c.socket.end(Buffer.from('request'));
    expect(await c.closed).toBeUndefined();
    expect(sha(c.data())).toBe(sha(answer));
    expect(Buffer.concat(t.received[0] ?? []).toString()).toBe('request');
  });

  it('resetAfterBytes cuts a connection once it has carried that many bytes', async () => {
    const t = await target();
    const p = await proxyTo(t);
    p.resetAfterBytes(200_000);
    const c = await client(p);
    c.socket.write(randomBytes(2 * MiB));
    const err = await c.closed;
    expect(err).toBe('ECONNRESET');
    expect(c.data().length).toBeLessThan(2 * MiB);
    expect(p.stats().resets).toBe(1);
    // Off again: a new connection carries everything.
    p.resetAfterBytes(null);
    const d = await client(p);
    const payload = randomBytes(MiB);
    await writeUneven(d.socket, payload);
    await waitFor(() => d.data().length >= payload.length, 30_000, 'echo after resetAfterBytes(null)');
    expect(sha(d.data())).toBe(sha(payload));
  });

  it('resetAll and resetEvery reset open connections on both legs', async () => {
    const t = await target();
    const p = await proxyTo(t);
    const a = await client(p);
    a.socket.write('x');
    await waitFor(() => t.accepted.length === 1, 10_000, 'first connection reaches the target');
    expect(p.resetAll()).toBe(1);
    expect(await a.closed).toBe('ECONNRESET');
    const upstreamLeg = t.accepted[0]!;
    await waitFor(() => upstreamLeg.destroyed, 10_000, 'the target side is reset too');

    p.resetEvery(50);
    const closes: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await client(p);
      closes.push(await c.closed);
    }
    p.resetEvery(null);
    expect(closes).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
    expect(p.stats().resets).toBe(4);
    // Stopped: a connection lives on.
    const live = await client(p);
    await sleep(200);
    expect(live.socket.destroyed).toBe(false);
  });

  it('a black-holed connection gets no answer, even after the black hole ends', async () => {
    const t = await target();
    const p = await proxyTo(t);
    // One connection carries traffic before, one is opened inside the black hole, one stays idle.
    const before = await client(p);
    before.socket.write('hello');
    await waitFor(() => before.data().toString() === 'hello', 10_000, 'echo before the black hole');
    const idle = await client(p);
    p.blackHole(true);
    before.socket.write('lost');
    const inside = await client(p);
    inside.socket.write('never');
    await sleep(300);
    expect(before.data().toString()).toBe('hello');
    expect(inside.data().length).toBe(0);
    const targetSaw = () => t.received.map((r) => Buffer.concat(r).toString());
    expect(targetSaw()).toEqual(['hello', '']);
    expect(p.stats().bytesSwallowed).toBe('lost'.length + 'never'.length);

    p.blackHole(false);
    // A stream cannot have a gap: the connections that lost bytes stay silent.
    before.socket.write('after');
    inside.socket.write('after');
    // The idle one carried nothing in the hole and works, and so does a new one.
    idle.socket.write('idle');
    const fresh = await client(p);
    fresh.socket.write('fresh');
    await waitFor(() => idle.data().toString() === 'idle', 10_000, 'the idle connection echoes');
    await waitFor(() => fresh.data().toString() === 'fresh', 10_000, 'a new connection echoes');
    await sleep(200);
    expect(before.data().toString()).toBe('hello');
    expect(inside.data().length).toBe(0);
    expect(targetSaw().filter((s) => s.includes('after'))).toEqual([]);
    expect(before.socket.destroyed || inside.socket.destroyed).toBe(false);
  });

  it('holds back a sender whose peer stops reading instead of buffering without bound', async () => {
    const t = await target((s) => s.pause());
    const p = await proxyTo(t);
    const c = await client(p);
    const chunk = randomBytes(MiB);
    let written = 0;
    // Write without waiting for drain: it is the proxy, not this client, that must stop taking bytes.
    const pump = setInterval(() => {
      if (c.socket.writableLength < 8 * MiB) {
        c.socket.write(chunk);
        written += chunk.length;
      }
    }, 5);
    cleanups.push(() => clearInterval(pump));
    await waitFor(() => c.socket.writableLength >= 8 * MiB, 30_000, 'the client’s writes back up');
    clearInterval(pump);
    // Kernel buffers on both legs hold some; without backpressure the proxy would take it all and
    // the client's writes would never back up.
    expect(p.stats().bytesUp).toBeLessThan(written);
    t.accepted[0]!.resume();
    await waitFor(() => p.stats().bytesUp === written, 60_000, 'everything forwarded once read');
    await waitFor(
      () => Buffer.concat(t.received[0] ?? []).length === written,
      60_000,
      'the target reads all of it',
    );
  });
});

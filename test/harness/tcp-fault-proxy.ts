// A TCP proxy that shapes and breaks the link between the agent and a peer (the control plane, or S3).
// It works below HTTP and TLS, so it can sit in front of an HTTPS control plane, a websocket or
// presigned S3 URLs unchanged. Faults: one-way latency, a bandwidth cap shared by all connections
// (like one uplink), resets (TCP RST) now / every N ms / after N bytes, and a black hole that accepts
// connections and swallows their bytes without ever answering.
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface LinkShape {
  /** One-way delay added to every chunk in each direction (RTT = 2 × latencyMs). */
  latencyMs?: number;
  /** Cap per direction, shared by every connection through the proxy (undefined = unlimited). */
  bitsPerSecond?: number;
}

export interface TcpFaultStats {
  connections: number;
  open: number;
  resets: number;
  /** Bytes forwarded client → target. */
  bytesUp: number;
  /** Bytes forwarded target → client. */
  bytesDown: number;
  /** Bytes swallowed while black-holed. */
  bytesSwallowed: number;
}

export interface TcpFaultProxy {
  host: string;
  port: number;
  /** `http://127.0.0.1:<port>` (the scheme of the target is the caller's business). */
  url: string;
  /** Shapes the link from now on (chunks already queued keep their times). */
  shape(link: LinkShape): void;
  /** Resets every open connection now; returns how many. */
  resetAll(): number;
  /** Resets every open connection every `ms` (null stops it). */
  resetEvery(ms: number | null): void;
  /** Resets each connection once it has carried `bytes` in either direction (null stops it). */
  resetAfterBytes(bytes: number | null): void;
  /** While on, connections are accepted and their bytes swallowed: nothing is forwarded or answered. */
  blackHole(on: boolean): void;
  /** New connections go to this port from now on. */
  retarget(port: number): void;
  stats(): TcpFaultStats;
  close(): Promise<void>;
}

/** Above this many queued bytes per direction a connection's sender is paused (backpressure). */
const HIGH_WATER = 1 << 20;

interface Direction {
  /** When the shared "wire" is free again (ms since epoch, fractional). */
  nextFree: number;
}

interface Pipe {
  client: Socket;
  upstream: Socket | undefined;
  carried: number;
}

export async function startTcpFaultProxy(to: { host: string; port: number }): Promise<TcpFaultProxy> {
  const target = { ...to };
  let link: LinkShape = {};
  let holed = false;
  let resetAfter: number | null = null;
  let resetTimer: NodeJS.Timeout | undefined;
  const pipes = new Set<Pipe>();
  const up: Direction = { nextFree: 0 };
  const down: Direction = { nextFree: 0 };
  const stats = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0, bytesSwallowed: 0 };

  const reset = (p: Pipe) => {
    if (p.client.destroyed && (p.upstream?.destroyed ?? true)) return;
    stats.resets++;
    p.client.resetAndDestroy();
    p.upstream?.resetAndDestroy();
  };

  /** Forwards `from` → `to` through the shaped direction `dir`, in order, through one FIFO per pipe. */
  const relay = (p: Pipe, from: Socket, to: Socket, dir: Direction, count: (n: number) => void) => {
    const queue: { chunk: Buffer | null; release: number }[] = [];
    let queued = 0;
    let timer: NodeJS.Timeout | undefined;
    const now = () => performance.timeOrigin + performance.now();
    const pump = () => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.release <= now()) {
        const { chunk } = queue.shift()!;
        if (to.destroyed) return;
        if (chunk === null) {
          to.end();
          return;
        }
        queued -= chunk.length;
        if (holed) continue;
        to.write(chunk);
        count(chunk.length);
        p.carried += chunk.length;
        if (resetAfter !== null && p.carried >= resetAfter) {
          reset(p);
          return;
        }
      }
      if (queued <= HIGH_WATER && from.isPaused()) from.resume();
      if (queue.length > 0) timer = setTimeout(pump, Math.max(1, Math.ceil(queue[0]!.release - now())));
    };
    const enqueue = (chunk: Buffer | null) => {
      const t = now();
      const bytes = chunk?.length ?? 0;
      const serialise = link.bitsPerSecond ? (bytes * 8 * 1000) / link.bitsPerSecond : 0;
      dir.nextFree = Math.max(t, dir.nextFree) + serialise;
      const last = queue.at(-1)?.release ?? 0;
      queue.push({ chunk, release: Math.max(dir.nextFree + (link.latencyMs ?? 0), last) });
      queued += bytes;
      if (queued > HIGH_WATER) from.pause();
      if (!timer) pump();
    };
    from.on('data', (chunk: Buffer) => {
      if (holed) {
        stats.bytesSwallowed += chunk.length;
        return;
      }
      enqueue(chunk);
    });
    // Half-close travels the same queue, so it never overtakes data.
    from.on('end', () => enqueue(null));
  };

  // Half-open on both legs: a client's FIN must not close the answer still on its way back.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    const p: Pipe = { client, upstream: undefined, carried: 0 };
    pipes.add(p);
    client.on('error', () => p.upstream?.destroy());
    client.on('close', () => {
      pipes.delete(p);
      p.upstream?.destroy();
    });
    if (holed) {
      // Accepted, never answered: the client's own timeouts must notice.
      client.on('data', (chunk: Buffer) => {
        stats.bytesSwallowed += chunk.length;
      });
      return;
    }
    client.pause();
    const upstream = connect({ port: target.port, host: target.host, allowHalfOpen: true });
    p.upstream = upstream;
    upstream.on('connect', () => {
      relay(p, client, upstream, up, (n) => {
        stats.bytesUp += n;
      });
      relay(p, upstream, client, down, (n) => {
        stats.bytesDown += n;
      });
      client.resume();
    });
    upstream.on('error', () => client.resetAndDestroy());
    upstream.on('close', () => {
      if (!client.destroyed) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    shape(l) {
      link = { ...l };
    },
    resetAll() {
      const open = [...pipes];
      for (const p of open) reset(p);
      return open.length;
    },
    resetEvery(ms) {
      if (resetTimer) clearInterval(resetTimer);
      resetTimer = undefined;
      if (ms !== null)
        resetTimer = setInterval(() => {
          for (const p of [...pipes]) reset(p);
        }, ms);
    },
    resetAfterBytes(bytes) {
      resetAfter = bytes;
    },
    blackHole(on) {
      holed = on;
    },
    retarget(p) {
      target.port = p;
    },
    stats: () => ({ ...stats, open: pipes.size }),
    close: () =>
      new Promise<void>((resolve) => {
        if (resetTimer) clearInterval(resetTimer);
        for (const p of pipes) {
          p.client.destroy();
          p.upstream?.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

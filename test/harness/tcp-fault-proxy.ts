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
  /**
   * Cap of the target → client direction alone, when it differs (0 = unlimited). In front of S3 the
   * control plane's own reads of the objects share the proxy; on the real network they never cross
   * the gateway's link.
   */
  downBitsPerSecond?: number;
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

/** Above this many bytes held per direction (shaping queue + socket buffer) the sender is paused. */
const HIGH_WATER = 1 << 20;

interface Direction {
  /** When the shared "wire" is free again (ms since epoch, fractional). */
  nextFree: number;
  /** Its cap in force (undefined or 0 = unlimited). */
  bitsPerSecond: () => number | undefined;
}

interface Pipe {
  client: Socket;
  upstream: Socket | undefined;
  carried: number;
  /**
   * Bytes of this connection were swallowed by the black hole. A TCP stream cannot have a gap, so it
   * stays dead after the black hole ends (like a connection whose NAT mapping is gone): only new
   * connections get through again, and the client's own timeouts must notice this one.
   */
  dead: boolean;
}

/** One direction of a pipe: what the source sent, released to the sink at the shaped times. */
interface Relay {
  /** The source is closed (`hadError`: it was reset): pass on what is queued, then its end. */
  sourceGone(hadError: boolean): void;
}

export async function startTcpFaultProxy(to: { host: string; port: number }): Promise<TcpFaultProxy> {
  const target = { ...to };
  let link: LinkShape = {};
  let holed = false;
  let resetAfter: number | null = null;
  let resetTimer: NodeJS.Timeout | undefined;
  const pipes = new Set<Pipe>();
  const up: Direction = { nextFree: 0, bitsPerSecond: () => link.bitsPerSecond };
  const down: Direction = {
    nextFree: 0,
    bitsPerSecond: () => link.downBitsPerSecond ?? link.bitsPerSecond,
  };
  const stats = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0, bytesSwallowed: 0 };
  const now = () => performance.timeOrigin + performance.now();

  const reset = (p: Pipe) => {
    if (p.client.destroyed && (p.upstream?.destroyed ?? true)) return;
    stats.resets++;
    p.client.resetAndDestroy();
    p.upstream?.resetAndDestroy();
  };

  /** Swallows `n` bytes of `p`, which is dead from now on. */
  const swallow = (p: Pipe, n: number) => {
    p.dead = true;
    stats.bytesSwallowed += n;
  };

  /** Forwards `from` → `to` through the shaped direction `dir`, in order, through one FIFO per pipe. */
  const relay = (p: Pipe, from: Socket, to: Socket, dir: Direction, count: (n: number) => void): Relay => {
    const queue: { chunk: Buffer | null; release: number }[] = [];
    let queued = 0;
    let timer: NodeJS.Timeout | undefined;
    let gone: { hadError: boolean } | undefined;
    // The sink's own buffer counts too: a peer that stops reading must stall the sender end to end.
    const held = () => queued + to.writableLength;
    const finish = () => {
      if (!gone || to.destroyed) return;
      if (gone.hadError || p.dead) to.resetAndDestroy();
      else to.end(() => to.destroy());
    };
    const pump = () => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.release <= now()) {
        const { chunk } = queue.shift()!;
        if (to.destroyed) return;
        if (chunk === null) {
          if (!p.dead) to.end();
          continue;
        }
        queued -= chunk.length;
        if (holed || p.dead) {
          swallow(p, chunk.length);
          continue;
        }
        to.write(chunk);
        count(chunk.length);
        p.carried += chunk.length;
        if (resetAfter !== null && p.carried >= resetAfter) {
          reset(p);
          return;
        }
      }
      if (held() <= HIGH_WATER && from.isPaused()) from.resume();
      if (queue.length > 0) timer = setTimeout(pump, Math.max(1, Math.ceil(queue[0]!.release - now())));
      else finish();
    };
    const enqueue = (chunk: Buffer | null) => {
      const t = now();
      const bytes = chunk?.length ?? 0;
      const cap = dir.bitsPerSecond();
      const serialise = cap ? (bytes * 8 * 1000) / cap : 0;
      dir.nextFree = Math.max(t, dir.nextFree) + serialise;
      const last = queue.at(-1)?.release ?? 0;
      queue.push({ chunk, release: Math.max(dir.nextFree + (link.latencyMs ?? 0), last) });
      queued += bytes;
      if (held() > HIGH_WATER) from.pause();
      if (!timer) pump();
    };
    from.on('data', (chunk: Buffer) => {
      if (holed || p.dead) swallow(p, chunk.length);
      else enqueue(chunk);
    });
    // Half-close travels the same queue, so it never overtakes data.
    from.on('end', () => enqueue(null));
    to.on('drain', () => {
      if (held() <= HIGH_WATER && from.isPaused() && !from.destroyed) from.resume();
    });
    return {
      sourceGone(hadError) {
        gone ??= { hadError };
        if (queue.length === 0) finish();
      },
    };
  };

  // Half-open on both legs: a client's FIN must not close the answer still on its way back.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    const p: Pipe = { client, upstream: undefined, carried: 0, dead: false };
    pipes.add(p);
    // Which side closes first, the bytes already on their way still arrive; then the close does.
    let toUpstream: Relay | undefined;
    let toClient: Relay | undefined;
    client.on('error', () => undefined);
    client.on('close', (hadError) => {
      pipes.delete(p);
      if (toUpstream) toUpstream.sourceGone(hadError);
      else p.upstream?.destroy();
    });
    if (holed) {
      // Accepted, never answered: the client's own timeouts must notice.
      p.dead = true;
      client.on('data', (chunk: Buffer) => swallow(p, chunk.length));
      return;
    }
    client.pause();
    const upstream = connect({ port: target.port, host: target.host, allowHalfOpen: true });
    p.upstream = upstream;
    upstream.on('connect', () => {
      toUpstream = relay(p, client, upstream, up, (n) => {
        stats.bytesUp += n;
      });
      toClient = relay(p, upstream, client, down, (n) => {
        stats.bytesDown += n;
      });
      client.resume();
    });
    upstream.on('error', () => undefined);
    upstream.on('close', (hadError) => {
      if (toClient) toClient.sourceGone(hadError);
      else if (!client.destroyed) client.resetAndDestroy();
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

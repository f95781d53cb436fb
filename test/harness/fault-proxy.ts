// An HTTP proxy that injects faults between the agent and its peers (the control plane, or S3 for
// presigned part PUTs). It forwards requests unchanged, Host header included, so SigV4 presigned URLs
// signed for the proxy's address stay valid. It also counts the body bytes it forwards, so a test can
// tell a resumed upload from one that started over.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

export type Fault =
  /** Answer with this status and a short body, without forwarding. */
  | { kind: 'status'; status: number }
  /** Never answer (the client must time out). */
  | { kind: 'hang' }
  /** Destroy the connection without an answer. */
  | { kind: 'reset' };

export interface FaultRule {
  match: (req: IncomingMessage) => boolean;
  fault: Fault;
  /** How many matching requests get the fault; then the rule is spent. */
  times: number;
}

export interface FaultProxy {
  url: string;
  port: number;
  /** Adds a rule; rules are tried in order. */
  inject(rule: FaultRule): void;
  /** Sends new connections to another port from now on (a load balancer switching replicas). */
  retarget(port: number): void;
  /** While down, every new connection is destroyed at once (a dead server). */
  setDown(down: boolean): void;
  stats(): { requests: number; faulted: number; putBytes: number; byMethod: Record<string, number> };
  close(): Promise<void>;
}

export async function startFaultProxy(to: { host: string; port: number }): Promise<FaultProxy> {
  const target = { ...to };
  const rules: FaultRule[] = [];
  const sockets = new Set<Socket>();
  let down = false;
  const stats = { requests: 0, faulted: 0, putBytes: 0, byMethod: {} as Record<string, number> };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => {
      if (req.method === 'PUT') stats.putBytes += chunk.length;
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    stats.requests++;
    stats.byMethod[req.method ?? '?'] = (stats.byMethod[req.method ?? '?'] ?? 0) + 1;
    const rule = rules.find((r) => r.times > 0 && r.match(req));
    if (!rule) return forward(req, res);
    rule.times--;
    stats.faulted++;
    const f = rule.fault;
    if (f.kind === 'reset') {
      req.socket.destroy();
    } else if (f.kind === 'status') {
      req.resume();
      res.writeHead(f.status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`injected fault ${f.status}`);
    }
    // 'hang': read the body, never answer.
    else req.resume();
  });
  // Websocket upgrades (the agent's control channel) are piped through raw; setDown cuts them too.
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    stats.requests++;
    const upstream = connect(target.port, target.host, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (s: Socket) => {
    if (down) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    inject: (rule) => rules.push(rule),
    retarget(p) {
      target.port = p;
    },
    setDown(d) {
      down = d;
      if (d) for (const s of sockets) s.destroy();
    },
    stats: () => ({ ...stats, byMethod: { ...stats.byMethod } }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

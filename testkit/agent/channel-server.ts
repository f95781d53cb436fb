// Test scaffolding: a small real websocket server that speaks the control channel protocol, for the
// agent's channel and wiring tests. Not part of the build.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type AgentMessage, agentMessageSchema, CHANNEL_PATH, PROTOCOL_VERSION } from '@ferry/shared';
import { jwtVerify } from 'jose';
import { type WebSocket, WebSocketServer } from 'ws';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `get` until it returns something (not undefined or false). */
export async function until<T>(what: string, get: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export type VerifyKey = Parameters<typeof jwtVerify>[1];

export interface Conn {
  ws: WebSocket;
  messages: AgentMessage[];
  closed: Promise<{ code: number }>;
}

export interface Refusal {
  status: number;
  headers: Record<string, string>;
}

/** A control plane of the channel protocol only: checks the agent token at the upgrade, welcomes, acks heartbeats. */
export class TestControlPlane {
  readonly http: Server;
  readonly wss: WebSocketServer;
  readonly conns: Conn[] = [];
  upgrades = 0;
  refusal: Refusal | undefined;
  heartbeatSeconds = 0.2;
  /** Server clock minus real time (ms): the agent's clock offset should come out as its negation. */
  skewMs = 0;
  ackHeartbeats = true;
  welcome = true;
  port = 0;

  private readonly publicKey: VerifyKey;
  readonly gatewayId: string;

  constructor(opts: { publicKey: VerifyKey; gatewayId: string; autoPong?: boolean }) {
    this.publicKey = opts.publicKey;
    this.gatewayId = opts.gatewayId;
    this.wss = new WebSocketServer({ noServer: true, autoPong: opts.autoPong ?? true });
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.http.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.http.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.http.listening) return;
    for (const c of this.conns) c.ws.terminate();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.upgrades++;
    const refuse = (r: Refusal) => {
      const lines = [
        `HTTP/1.1 ${r.status} Refused`,
        ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.end(`${lines.join('\r\n')}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (this.refusal) return refuse(this.refusal);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    try {
      const { payload } = await jwtVerify(token ?? '', this.publicKey, { audience: this.url });
      if (payload.sub !== this.gatewayId || req.url !== CHANNEL_PATH)
        throw new Error('wrong gateway or path');
    } catch {
      return refuse({ status: 401, headers: { 'x-ferry-error-code': 'auth.token_invalid' } });
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Conn = {
        ws,
        messages: [],
        closed: new Promise((resolve) => ws.once('close', (code) => resolve({ code }))),
      };
      this.conns.push(conn);
      ws.on('message', (data) => {
        const msg = agentMessageSchema.parse(JSON.parse(data.toString()));
        conn.messages.push(msg);
        if (msg.type === 'hello' && this.welcome)
          this.send(conn, {
            type: 'welcome',
            gatewayId: this.gatewayId,
            heartbeatSeconds: this.heartbeatSeconds,
            serverTime: this.now(),
          });
        if (msg.type === 'heartbeat' && this.ackHeartbeats)
          this.send(conn, { type: 'heartbeat.ack', seq: msg.seq, serverTime: this.now() });
      });
    });
  }

  now(): string {
    return new Date(Date.now() + this.skewMs).toISOString();
  }

  send(conn: Conn, msg: Record<string, unknown>): void {
    conn.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg }));
  }

  latest(): Conn {
    const c = this.conns.at(-1);
    if (!c) throw new Error('no connection yet');
    return c;
  }

  of<T extends AgentMessage['type']>(conn: Conn, type: T): Extract<AgentMessage, { type: T }>[] {
    return conn.messages.filter((m): m is Extract<AgentMessage, { type: T }> => m.type === type);
  }
}

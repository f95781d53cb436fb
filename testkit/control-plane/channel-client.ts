/**
 * A small agent-side channel client for tests: connects with a TestGateway's token, queues what the
 * control plane sends and waits for it by type. No vitest import.
 */
import {
  CHANNEL_ERROR_HEADER,
  CHANNEL_REENROLL_HEADER,
  type HealthReport,
  PROTOCOL_VERSION,
  type ServerMessage,
  serverMessageSchema,
} from '@ferry/shared';
import WebSocket from 'ws';
import type { AgentTokenOptions, TestGateway } from './harness.js';
import { healthReport } from './seed-gateway-status.js';

export interface ChannelClient {
  ws: WebSocket;
  /** Every message received so far, in order. */
  received: ServerMessage[];
  /** Sends `msg` as JSON, stamped with `v` = PROTOCOL_VERSION unless it has one. */
  send(msg: Record<string, unknown>): void;
  sendRaw(data: string): void;
  /** The next message of `type` not yet taken (earlier ones of other types stay queued). */
  next<T extends ServerMessage['type']>(
    type: T,
    timeoutMs?: number,
  ): Promise<Extract<ServerMessage, { type: T }>>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export type UpgradeOutcome =
  | { ok: true; client: ChannelClient }
  | { ok: false; status: number; errorCode: string | null; reenroll: boolean };

/** Opens the websocket with `Authorization: Bearer <token>` (none when token is undefined). */
export function openChannel(
  channelUrl: string,
  token: string | undefined,
  opts: { /** false: never answer pings (a dead peer). */ autoPong?: boolean } = {},
): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(channelUrl, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      autoPong: opts.autoPong ?? true,
    });
    ws.once('unexpected-response', (_req, res) => {
      const header = (name: string) => {
        const v = res.headers[name];
        return typeof v === 'string' ? v : null;
      };
      resolve({
        ok: false,
        status: res.statusCode ?? 0,
        errorCode: header(CHANNEL_ERROR_HEADER),
        reenroll: header(CHANNEL_REENROLL_HEADER) === '1',
      });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve({ ok: true, client: wrap(ws) });
    });
  });
}

function wrap(ws: WebSocket): ChannelClient {
  const received: ServerMessage[] = [];
  const queue: ServerMessage[] = [];
  const waiters: { type: string; resolve: (m: ServerMessage) => void }[] = [];
  ws.on('error', () => {});
  ws.on('message', (data) => {
    const msg = serverMessageSchema.parse(JSON.parse(data.toString()));
    received.push(msg);
    const i = waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(msg);
    else queue.push(msg);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return {
    ws,
    received,
    send: (msg) => ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg })),
    sendRaw: (data) => ws.send(data),
    next: (type, timeoutMs = 5000) => {
      const i = queue.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0] as never);
      return new Promise((resolve, reject) => {
        const waiter = { type, resolve: resolve as (m: ServerMessage) => void };
        waiters.push(waiter);
        const timer = setTimeout(() => {
          const at = waiters.indexOf(waiter);
          if (at >= 0) waiters.splice(at, 1);
          reject(
            new Error(
              `no ${type} message within ${timeoutMs} ms (got ${received.map((m) => m.type).join(', ') || 'nothing'})`,
            ),
          );
        }, timeoutMs);
        const done = waiter.resolve;
        waiter.resolve = (m) => {
          clearTimeout(timer);
          done(m);
        };
      });
    },
    closed,
    close: async () => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
      await closed;
    },
  };
}

/** Connects as `gateway` and completes hello/welcome; returns the client and the welcome. */
export async function connectGateway(
  channelUrl: string,
  gateway: TestGateway,
  opts: { configVersion?: number; agentVersion?: string; token?: AgentTokenOptions; protocol?: number } = {},
): Promise<{ client: ChannelClient; welcome: Extract<ServerMessage, { type: 'welcome' }> }> {
  const outcome = await openChannel(channelUrl, await gateway.token(opts.token));
  if (!outcome.ok) throw new Error(`channel refused: ${outcome.status} ${outcome.errorCode}`);
  const { client } = outcome;
  client.send({
    type: 'hello',
    agentVersion: opts.agentVersion ?? 'test-agent',
    configVersion: opts.configVersion ?? 0,
    ...(opts.protocol !== undefined && { v: opts.protocol }),
  });
  const welcome = await client.next('welcome');
  return { client, welcome };
}

/** A plausible health report; `overrides` replace top-level fields. */
export function testHealth(overrides: Partial<HealthReport> = {}): HealthReport {
  const base = healthReport({ agentVersion: 'test-agent', uptimeSeconds: 12, configVersion: 0 });
  return { ...base, dicom: { ...base.dicom, aeTitle: 'GATEWAY' }, ...overrides };
}

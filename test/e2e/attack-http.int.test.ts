// Attacks only a real server shows: bodies streamed over a real socket past the limit, lying
// Content-Length headers, a stalled body, concurrent enrollment with one token over HTTP, and hostile
// websocket upgrades and frames on the agents' channel. One real control plane on PostgreSQL.
import { createHmac, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CHANNEL_ERROR_HEADER, CHANNEL_PATH, PROTOCOL_VERSION } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { newAgentKeyPair, signAgentToken } from '../../testkit/control-plane/harness.js';
import { removeScratch, scratch } from '../harness/agent.js';
import {
  type ControlPlaneProcess,
  freshPostgresDatabase,
  startControlPlane,
} from '../harness/control-plane.js';

const ADMIN = { email: 'admin@ferry.test', password: 'correct horse battery staple' };
const MIB = 1 << 20;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Writes `head` then `body` chunks on a raw socket and resolves with everything the server answered. */
function rawExchange(
  port: number,
  head: string,
  body: Iterable<Buffer | string> = [],
  opts: { endAfterMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const finish = () => resolve(Buffer.concat(got).toString('latin1'));
    socket.on('data', (d) => got.push(d));
    socket.on('error', (err) =>
      (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE'
        ? finish()
        : reject(err),
    );
    socket.on('close', finish);
    socket.on('connect', async () => {
      socket.write(head);
      for (const chunk of body) {
        if (socket.destroyed) break;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
      if (opts.endAfterMs !== undefined) setTimeout(() => socket.end(), opts.endAfterMs);
    });
  });
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}
function errorCodeOf(raw: string): string | undefined {
  return /"code":"([\w.]+)"/.exec(raw)?.[1];
}

/** Opens the channel and reports the refusal (status, error header) or the open socket. */
function upgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; code: string | null } | { ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      const code = res.headers[CHANNEL_ERROR_HEADER];
      resolve({ status: res.statusCode ?? 0, code: typeof code === 'string' ? code : null });
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('error', reject);
  });
}

describe('HTTP and websocket attacks on a real control plane (postgres)', () => {
  let root: string;
  let cp: ControlPlaneProcess;
  let session: string;
  let dropDatabase: () => Promise<void>;
  let channelUrl: string;
  let facilityId: string;

  beforeAll(async () => {
    root = await scratch('attack-http');
    const db = await freshPostgresDatabase();
    dropDatabase = db.drop;
    cp = await startControlPlane({
      dataDir: join(root, 'control-plane'),
      adminEmail: ADMIN.email,
      adminPassword: ADMIN.password,
      databaseUrl: db.url,
    });
    session = await cp.login(ADMIN.email, ADMIN.password);
    channelUrl = `${cp.url.replace(/^http/, 'ws')}${CHANNEL_PATH}`;
    const facility = await cp.api<{ id: string }>('POST', '/api/v1/facilities', {
      token: session,
      body: { name: 'Attack facility', aeTitle: 'ATTACK' },
    });
    expect(facility.status).toBe(201);
    facilityId = facility.body.id;
  });
  afterAll(async () => {
    await cp?.stop();
    await dropDatabase?.();
    await removeScratch(root);
  });

  const issueToken = async () => {
    const res = await cp.api<{ token: string }>(
      'POST',
      `/api/v1/facilities/${facilityId}/enrollment-tokens`,
      {
        token: session,
        body: {},
      },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.token;
  };
  const enrollBody = async (token: string, hostname: string) => {
    const keys = await newAgentKeyPair();
    return {
      keys,
      body: {
        token,
        publicKey: { kty: 'OKP', crv: 'Ed25519', x: keys.publicJwk.x },
        hostname,
        version: '0.1.0',
      },
    };
  };
  /** A gateway enrolled through the API, with a signer for its tokens. */
  const enrolled = async (hostname: string) => {
    const { keys, body } = await enrollBody(await issueToken(), hostname);
    const res = await cp.api<{ gatewayId: string }>('POST', '/api/v1/agents/enroll', { body });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const gatewayId = res.body.gatewayId;
    return {
      gatewayId,
      publicX: String(keys.publicJwk.x),
      token: () => signAgentToken(keys.privateKey, gatewayId, { defaultAudience: cp.publicUrl }),
    };
  };

  describe('bodies over a real socket', () => {
    it('refuses a chunked body that grows past 1 MiB with 413 request.too_large, and stops reading', async () => {
      const chunk = `${(64 * 1024).toString(16)}\r\n${'x'.repeat(64 * 1024)}\r\n`;
      const chunks = Array.from({ length: 40 }, () => chunk); // 2.5 MiB if it were all read
      const raw = await rawExchange(
        cp.port,
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
        chunks,
        { endAfterMs: 200 },
      );
      expect(statusOf(raw), raw.slice(0, 300)).toBe(413);
      expect(errorCodeOf(raw)).toBe('request.too_large');
    });

    it('refuses a declared length over 1 MiB before the body is sent', async () => {
      const raw = await rawExchange(
        cp.port,
        `POST /api/v1/facilities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${session}\r\nContent-Length: ${50 * MIB}\r\nConnection: close\r\n\r\n`,
        [],
        { endAfterMs: 300 },
      );
      expect(statusOf(raw), raw.slice(0, 300)).toBe(413);
      expect(errorCodeOf(raw)).toBe('request.too_large');
    });

    // Regression: node's parser answered the bytes past the Content-Length with a bare 400 and no code.
    it('reads only the declared bytes when the Content-Length is smaller than the body, and answers with a code', async () => {
      const body = JSON.stringify({ email: ADMIN.email, password: ADMIN.password });
      const raw = await rawExchange(
        cp.port,
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${body}`,
        [],
        { endAfterMs: 300 },
      );
      // The first 10 bytes are not JSON and the rest is not HTTP: 400 request.invalid, never a session.
      expect(statusOf(raw), raw.slice(0, 300)).toBe(400);
      expect(errorCodeOf(raw), JSON.stringify(raw)).toBe('request.invalid');
      expect(raw).not.toMatch(/"token"/);
    });

    it('keeps serving while a client stalls in the middle of a declared body', async () => {
      const socket = connect(cp.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write(
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":`,
      );
      try {
        const res = await cp.fetch(`${cp.url}/healthz`);
        expect(res.status).toBe(200);
        expect((await cp.api('GET', '/api/v1/facilities', { token: session })).status).toBe(200);
      } finally {
        socket.destroy();
      }
    });

    it('answers garbage instead of HTTP, and oversized headers, with a code, and keeps serving', async () => {
      const raw = await rawExchange(cp.port, '\u0000\u0001GARBAGE / HTTP/9.9\r\n\r\n', [], {
        endAfterMs: 300,
      });
      expect(statusOf(raw)).toBe(400);
      expect(errorCodeOf(raw), JSON.stringify(raw)).toBe('request.invalid');
      const headers = await rawExchange(
        cp.port,
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(32 * 1024)}\r\n\r\n`,
        [],
        { endAfterMs: 300 },
      );
      expect(statusOf(headers), headers.slice(0, 200)).toBe(431);
      expect(errorCodeOf(headers)).toBe('request.too_large');
      expect((await cp.fetch(`${cp.url}/healthz`)).status).toBe(200);
    });
  });

  it('gives one enrollment token to exactly one of two enrollments sent at the same moment', async () => {
    const token = await issueToken();
    const a = await enrollBody(token, 'race-a');
    const b = await enrollBody(token, 'race-b');
    const results = await Promise.all([
      cp.api<{ gatewayId?: string; error?: { code: string } }>('POST', '/api/v1/agents/enroll', {
        body: a.body,
      }),
      cp.api<{ gatewayId?: string; error?: { code: string } }>('POST', '/api/v1/agents/enroll', {
        body: b.body,
      }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    expect(results.find((r) => r.status === 401)?.body.error?.code).toBe('enrollment.token_invalid');
    const list = await cp.api<{ gateways: { hostname: string }[] }>('GET', '/api/v1/gateways', {
      token: session,
    });
    expect(list.body.gateways.filter((g) => g.hostname.startsWith('race-'))).toHaveLength(1);
  });

  describe('the agents channel', () => {
    it('refuses hostile upgrades before any socket exists', async () => {
      const gw = await enrolled('ws-victim');
      const now = Math.floor(Date.now() / 1000);
      const claims = { sub: gw.gatewayId, aud: cp.publicUrl, iat: now, exp: now + 60, jti: randomUUID() };
      const hsInput = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
      const keyConfusion = `${hsInput}.${createHmac('sha256', gw.publicX).update(hsInput).digest('base64url')}`;
      const other = await newAgentKeyPair();
      const cases: [string, Record<string, string>, number, string][] = [
        ['no token', {}, 401, 'auth.missing_token'],
        [
          'alg none',
          { authorization: `Bearer ${b64({ alg: 'none' })}.${b64(claims)}.` },
          401,
          'auth.invalid_token',
        ],
        ['HS256 with its public key', { authorization: `Bearer ${keyConfusion}` }, 401, 'auth.invalid_token'],
        [
          'another key',
          {
            authorization: `Bearer ${await signAgentToken(other.privateKey, gw.gatewayId, { defaultAudience: cp.publicUrl })}`,
          },
          401,
          'auth.invalid_token',
        ],
        ['a session token', { authorization: `Bearer ${session}` }, 401, 'auth.invalid_token'],
      ];
      for (const [what, headers, status, code] of cases) {
        const res = await upgrade(channelUrl, headers);
        expect('status' in res ? [res.status, res.code] : 'opened', what).toEqual([status, code]);
      }
      // A token in the query string is not a credential.
      const viaQuery = await upgrade(
        `${channelUrl}?token=${await gw.token()}&access_token=${await gw.token()}`,
        {},
      );
      expect('status' in viaQuery ? [viaQuery.status, viaQuery.code] : 'opened').toEqual([
        401,
        'auth.missing_token',
      ]);
      // Replay: the first use opens, the same token again is refused.
      const token = await gw.token();
      const first = await upgrade(channelUrl, { authorization: `Bearer ${token}` });
      expect('ws' in first).toBe(true);
      if ('ws' in first) first.ws.terminate();
      const replayed = await upgrade(channelUrl, { authorization: `Bearer ${token}` });
      expect('status' in replayed ? [replayed.status, replayed.code] : 'opened').toEqual([
        401,
        'auth.replayed_token',
      ]);
      // Revoked: told to re-enroll.
      expect(
        (await cp.api('POST', `/api/v1/gateways/${gw.gatewayId}/revoke`, { token: session })).status,
      ).toBeLessThan(300);
      const revoked = await upgrade(channelUrl, { authorization: `Bearer ${await gw.token()}` });
      expect('status' in revoked ? [revoked.status, revoked.code] : 'opened').toEqual([401, 'auth.reenroll']);
    });

    it('answers a plain request to the channel path with a JSON 400', async () => {
      const gw = await enrolled('ws-plain');
      const res = await cp.fetch(`${cp.url}${CHANNEL_PATH}`, {
        headers: { authorization: `Bearer ${await gw.token()}` },
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('request.invalid');
      const bare = await cp.fetch(`${cp.url}${CHANNEL_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(bare.status).toBe(415);
    });

    it('survives garbage frames and closes on an oversized one (1009), then serves the next agent', async () => {
      const gw = await enrolled('ws-garbage');
      const opened = await upgrade(channelUrl, { authorization: `Bearer ${await gw.token()}` });
      if (!('ws' in opened)) throw new Error(`refused: ${opened.status} ${opened.code}`);
      const ws = opened.ws;
      const messages: string[] = [];
      ws.on('message', (d) => messages.push(d.toString()));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send(Buffer.from([0, 1, 2, 255, 254]));
      ws.send('{"type":');
      ws.send(
        JSON.stringify({
          v: PROTOCOL_VERSION,
          type: 'hello',
          agentVersion: 'x'.repeat(10_000),
          configVersion: -1,
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(
        messages.some((m) => m.includes('protocol.message_invalid')),
        messages.join('\n'),
      ).toBe(true);
      ws.send(Buffer.alloc(300 * 1024, 0x41));
      expect(await closed).toBe(1009);
      // The server is fine: a fresh agent connects and is welcomed.
      const next = await upgrade(channelUrl, { authorization: `Bearer ${await gw.token()}` });
      if (!('ws' in next)) throw new Error(`refused: ${next.status} ${next.code}`);
      const welcome = new Promise<string>((r) => next.ws.once('message', (d) => r(d.toString())));
      next.ws.send(
        JSON.stringify({ v: PROTOCOL_VERSION, type: 'hello', agentVersion: 'test', configVersion: 0 }),
      );
      expect(await welcome).toContain('welcome');
      next.ws.close();
      expect(cp.output()).not.toMatch(/"level":50.*internal\.unexpected|unhandled error/);
    });
  });
});

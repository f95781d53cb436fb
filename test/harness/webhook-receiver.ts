// A webhook endpoint as a customer would run one: it checks each delivery's signature itself
// (HMAC-SHA256 over "<t>.<body>", header `ferry-signature: t=...,v1=...`) and keeps what arrived.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookDelivery {
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  raw: string;
  /** Whether the signature verified against the secret set with setSecret. */
  signatureValid: boolean;
  receivedAt: number;
}

export interface WebhookReceiver {
  url: string;
  deliveries: WebhookDelivery[];
  setSecret(secret: string): void;
  /** Answer the next `n` deliveries with this status instead of 204. */
  failNext(n: number, status?: number): void;
  waitFor(pred: (d: WebhookDelivery) => boolean, timeoutMs?: number): Promise<WebhookDelivery>;
  close(): Promise<void>;
}

export function verifySignature(secret: string, header: string | undefined, raw: string): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  if (!parts.t || !parts.v1) return false;
  const want = createHmac('sha256', secret).update(`${parts.t}.${raw}`).digest();
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let secret = '';
  let failures = 0;
  let failStatus = 500;
  const deliveries: WebhookDelivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (failures > 0) {
        failures--;
        res.writeHead(failStatus).end();
        return;
      }
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // kept as {}: the test's assertions on the body then fail with the raw text in view
      }
      const sig = req.headers['ferry-signature'];
      deliveries.push({
        headers: req.headers,
        body,
        raw,
        signatureValid: verifySignature(secret, Array.isArray(sig) ? sig[0] : sig, raw),
        receivedAt: Date.now(),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/ferry`,
    deliveries,
    setSecret: (s) => {
      secret = s;
    },
    failNext: (n, status = 500) => {
      failures = n;
      failStatus = status;
    },
    async waitFor(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = deliveries.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(
            `no matching webhook delivery; got ${JSON.stringify(deliveries.map((d) => d.body))}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

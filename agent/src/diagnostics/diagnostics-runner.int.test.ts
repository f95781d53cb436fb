import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DicomPeer } from '@ferry/shared';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Storescp, startStorescp } from '../../../test/harness/dcmtk.js';
import {
  createTestApp,
  enrollTestGateway,
  TEST_PUBLIC_URL,
  type TestApp,
  type TestGateway,
} from '../../../testkit/control-plane/harness.js';
import { ControlPlaneClient } from '../cloud/client.js';
import { LogRing } from '../logger.js';
import { DiagnosticsRunner, MAX_LOG_BUNDLE_BYTES } from './diagnostics-runner.js';
import { runUploadTest } from './upload-test.js';

const silent = pino({ level: 'silent' });

interface Served {
  t: TestApp;
  gw: TestGateway;
  /** Sends every connection, whatever the URL's host, to the served control plane. */
  dispatcher: Agent;
  control: ControlPlaneClient;
  close(): Promise<void>;
}

async function serveControlPlane(blobs: 'fs' | 's3'): Promise<Served> {
  const t = await createTestApp('pglite', { blobs });
  const server = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const dispatcher = new Agent({
    connect: (opts, cb) => {
      // Only the made-up public host goes to the served app; S3 URLs go where they say.
      const toApp = opts.hostname === new URL(TEST_PUBLIC_URL).hostname;
      const socket = toApp ? connect(port, '127.0.0.1') : connect(Number(opts.port), opts.hostname);
      socket.once('connect', () => cb(null, socket));
      socket.once('error', (err) => cb(err, null));
    },
  });
  const group = await t.seedGroup();
  const gw = await enrollTestGateway(t, group);
  const control = new ControlPlaneClient({
    server: TEST_PUBLIC_URL,
    auth: { gatewayId: gw.gatewayId, privateJwk: gw.privateJwk },
    fetch: ((url: string, init: RequestInit) =>
      undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch,
  });
  return {
    t,
    gw,
    dispatcher,
    control,
    close: async () => {
      await dispatcher.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
    },
  };
}

describe('runUploadTest (fs blobs, through the control plane’s own part URLs)', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serveControlPlane('fs');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  it('round-trips 1 MiB through the fs part route', async () => {
    const r = await runUploadTest(s.control, { dispatcher: s.dispatcher });
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(1024 * 1024);
    expect(r.putBytesPerSecond).toBeGreaterThan(0);
  });
});

describe('DiagnosticsRunner', () => {
  let s: Served;
  let scp: Storescp;
  let dir: string;
  let runner: DiagnosticsRunner;
  const ring = new LogRing(1000);
  /** The applied config's peers, as the runner reads them for each echo. */
  let peers: DicomPeer[] = [];
  beforeAll(async () => {
    // S3 URLs are real addresses, so the runner's own PUT (no test dispatcher) reaches them.
    s = await serveControlPlane('s3');
    dir = await mkdtemp(join(tmpdir(), 'ferry-diag-'));
    scp = await startStorescp({ port: await freePort(), outDir: dir, aeTitle: 'PACS', extraArgs: ['-d'] });
    peers = [{ name: 'Reference PACS', aeTitle: 'PACS', host: '127.0.0.1', port: scp.port, tls: false }];
    runner = new DiagnosticsRunner({
      control: s.control,
      ownAeTitle: () => 'GATEWAY7',
      peers: () => peers,
      logs: ring,
      log: silent,
    });
  }, 120_000);
  afterAll(async () => {
    await scp?.stop();
    await s?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('echoes a listed peer with the gateway’s own AE title as calling and the peer’s as called', async () => {
    const r = await runner.run({ kind: 'echo', peer: 'Reference PACS' });
    expect(r).toMatchObject({
      ok: true,
      details: { status: 0, peer: 'Reference PACS', calledAeTitle: 'PACS', callingAeTitle: 'GATEWAY7' },
    });
    expect(r.summary).toMatch(
      /^C-ECHO from GATEWAY7 to Reference PACS \(PACS at 127\.0\.0\.1:\d+\) succeeded in [\d.]+ ms$/,
    );
    expect(scp.output()).toMatch(/GATEWAY7/);
  });

  it('refuses a target its applied config does not list, whatever the control plane sends, and dials nothing', async () => {
    // Something listens there: a refusal must come from the check, not from a failed connection.
    let connections = 0;
    const bystander = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', resolve));
    const port = (bystander.address() as AddressInfo).port;
    try {
      for (const request of [
        { kind: 'echo' as const, host: '127.0.0.1', port },
        // A listed peer's name with another host and port (a compromised or buggy cloud).
        { kind: 'echo' as const, peer: 'Reference PACS', host: '127.0.0.1', port, calledAeTitle: 'PACS' },
        { kind: 'echo' as const, peer: 'Somebody else' },
        // The listed host and port, but with another AE title or over TLS, is not that peer either.
        { kind: 'echo' as const, host: '127.0.0.1', port: scp.port, calledAeTitle: 'OTHER' },
        { kind: 'echo' as const, host: '127.0.0.1', port: scp.port, tls: true },
      ]) {
        const r = await runner.run(request);
        expect(r, JSON.stringify(request)).toMatchObject({ ok: false, code: 'diagnostic.peer_not_listed' });
        expect(r.summary).toMatch(
          /is not one of the DICOM peers in this gateway's config, so it was not contacted$/,
        );
      }
      expect(connections).toBe(0);
    } finally {
      await new Promise<void>((resolve) => bystander.close(() => resolve()));
    }
  });

  it('turns a failed echo into ok: false with the code and the cause, without throwing', async () => {
    const port = await freePort();
    peers = [...peers, { name: 'Gone', aeTitle: 'PACS', host: '127.0.0.1', port, tls: false }];
    const r = await runner.run({
      kind: 'echo',
      host: '127.0.0.1',
      port,
      calledAeTitle: 'PACS',
      timeoutMs: 2000,
    });
    expect(r.ok).toBe(false);
    expect(r.code).toBe('dicom.echo_failed');
    expect(r.summary).toMatch(/connection refused: nothing listens on 127\.0\.0\.1/);
  });

  it('runs the upload round trip to the cloud store', async () => {
    const r = await runner.run({ kind: 'upload-test' });
    expect(r.ok, r.summary).toBe(true);
    expect(r.details).toMatchObject({ bytes: 1024 * 1024 });
    expect(r.summary).toMatch(/read them back intact/);
  });

  it('reports an unreachable control plane as ok: false', async () => {
    const offline = new DiagnosticsRunner({
      control: new ControlPlaneClient({
        server: `http://127.0.0.1:${await freePort()}`,
        auth: { gatewayId: s.gw.gatewayId, privateJwk: s.gw.privateJwk },
      }),
      ownAeTitle: () => 'GATEWAY7',
      peers: () => [],
      logs: ring,
      log: silent,
    });
    const r = await offline.run({ kind: 'upload-test' });
    expect(r).toMatchObject({ ok: false, code: 'control.unreachable' });
    expect(r.summary).toMatch(/cannot reach the control plane/);
  });

  it('returns the recent log lines without patient data', async () => {
    for (let i = 0; i < 20; i++)
      ring.write(JSON.stringify({ msg: `line ${i}`, patientName: 'DOE^JANE', sopInstanceUid: `2.25.${i}` }));
    const r = await runner.run({ kind: 'logs', lines: 5 });
    expect(r.ok).toBe(true);
    const lines = r.details?.lines as Record<string, unknown>[];
    expect(lines.map((l) => l.msg)).toEqual(['line 15', 'line 16', 'line 17', 'line 18', 'line 19']);
    expect(JSON.stringify(lines)).not.toMatch(/DOE/);
    expect(r.summary).toBe('5 recent log line(s), patient data removed');
  });

  it('keeps the newest lines that fit one channel message', async () => {
    const big = new LogRing(2000);
    for (let i = 0; i < 2000; i++) big.write(JSON.stringify({ msg: `line ${i}`, pad: 'x'.repeat(300) }));
    const r = await new DiagnosticsRunner({
      control: s.control,
      ownAeTitle: () => 'GATEWAY7',
      peers: () => [],
      logs: big,
      log: silent,
    }).run({ kind: 'logs', lines: 2000 });
    const lines = r.details?.lines as Record<string, unknown>[];
    expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(MAX_LOG_BUNDLE_BYTES + 4096);
    expect(lines.length).toBeGreaterThan(400);
    expect(lines.length).toBeLessThan(2000);
    expect(lines.at(-1)?.msg).toBe('line 1999');
    expect(r.summary).toMatch(
      new RegExp(
        `^${lines.length} recent log line\\(s\\), patient data removed; the oldest ${2000 - lines.length} left out`,
      ),
    );
  });
});

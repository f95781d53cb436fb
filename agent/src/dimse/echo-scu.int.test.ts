import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '@ferry/shared';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Storescp, startStorescp } from '../../../test/harness/dcmtk.js';
import { encodeAssociateAc, parseAssociateRq } from './associate.js';
import { CommandField, encodeResponsePdu } from './command.js';
import { echo } from './echo-scu.js';
import { DicomListener } from './listener.js';
import { PduReader } from './pdu-reader.js';
import { PduType, VERIFICATION_SOP_CLASS } from './pdu-types.js';
import type { StoreHandler } from './store-handler.js';

async function echoError(p: Promise<unknown>): Promise<FerryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe('dicom.echo_failed');
  return err as FerryError;
}

describe('echo against DCMTK storescp', () => {
  let scp: Storescp;
  let refusing: Storescp;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-echo-'));
    scp = await startStorescp({ port: await freePort(), outDir: dir, aeTitle: 'PACS' });
    refusing = await startStorescp({
      port: await freePort(),
      outDir: dir,
      aeTitle: 'PACS',
      extraArgs: ['--refuse'],
    });
  });
  afterAll(async () => {
    await scp?.stop();
    await refusing?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('gets status 0 and a round-trip time', async () => {
    const r = await echo({
      host: '127.0.0.1',
      port: scp.port,
      calledAeTitle: 'PACS',
      callingAeTitle: 'FERRY',
      timeoutMs: 5000,
    });
    expect(r.status).toBe(0);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(5000);
  });

  it('names the rejection when the peer refuses the association', async () => {
    const err = await echoError(
      echo({ host: '127.0.0.1', port: refusing.port, calledAeTitle: 'PACS', callingAeTitle: 'FERRY' }),
    );
    expect(err.message).toMatch(
      /^C-ECHO to PACS at 127\.0\.0\.1:\d+: association rejected \(permanent, service user/,
    );
  });
});

describe('echo against our own DicomListener', () => {
  let listener: DicomListener;
  let port: number;
  const store: StoreHandler = {
    begin: () => {
      throw new Error('a C-ECHO stores nothing');
    },
  };
  beforeAll(async () => {
    listener = new DicomListener(
      {
        host: '127.0.0.1',
        port: 0,
        policy: {
          aeTitle: 'GATEWAY',
          allowedCallingAeTitles: ['MODALITY'],
          maxAssociations: 4,
          maxPduLength: 65536,
          artimTimeoutMs: 5000,
          idleTimeoutMs: 10_000,
        },
      },
      store,
      pino({ level: 'silent' }),
    );
    port = (await listener.listen()).port;
  });
  afterAll(async () => {
    await listener?.close(true);
  });

  it('succeeds with the right titles', async () => {
    const r = await echo({ host: '127.0.0.1', port, calledAeTitle: 'GATEWAY', callingAeTitle: 'MODALITY' });
    expect(r.status).toBe(0);
  });

  it('reports a wrong called AE title as rejected, with the reason', async () => {
    const err = await echoError(
      echo({ host: '127.0.0.1', port, calledAeTitle: 'OLDTITLE', callingAeTitle: 'MODALITY' }),
    );
    expect(err.message).toMatch(
      /association rejected \(permanent, service user: called AE title not recognized\)/,
    );
    expect(err.details).toMatchObject({ rejectResult: 1, rejectSource: 1, rejectReason: 7 });
  });

  it('reports a calling AE title it does not allow', async () => {
    const err = await echoError(
      echo({ host: '127.0.0.1', port, calledAeTitle: 'GATEWAY', callingAeTitle: 'STRANGER' }),
    );
    expect(err.message).toMatch(/calling AE title not recognized/);
  });
});

describe('echo when the peer is not there or silent', () => {
  let silentServer: Server;
  let silentPort: number;
  const accepted: Socket[] = [];
  beforeAll(async () => {
    // Accepts and never reads or answers.
    silentServer = createServer((socket) => accepted.push(socket));
    await new Promise<void>((r) => silentServer.listen(0, '127.0.0.1', () => r()));
    silentPort = (silentServer.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise((r) => silentServer.close(r));
  });

  it('says the connection was refused when nothing listens', async () => {
    const port = await freePort();
    const err = await echoError(
      echo({ host: '127.0.0.1', port, calledAeTitle: 'PACS', callingAeTitle: 'FERRY', timeoutMs: 3000 }),
    );
    expect(err.message).toBe(
      `C-ECHO to PACS at 127.0.0.1:${port}: connection refused: nothing listens on 127.0.0.1:${port}`,
    );
  });

  it('times out when the peer accepts the connection and never answers', async () => {
    const t0 = Date.now();
    const err = await echoError(
      echo({
        host: '127.0.0.1',
        port: silentPort,
        calledAeTitle: 'PACS',
        callingAeTitle: 'FERRY',
        timeoutMs: 300,
      }),
    );
    expect(err.message).toMatch(/no answer within 300 ms while waiting for the association answer/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

/** An SCP that accepts, answers the C-ECHO with `status`, and never confirms the release. */
async function scriptedScp(status: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const reader = new PduReader(
      {
        pdu: (type, body) => {
          if (type !== PduType.AssociateRq) return;
          const req = parseAssociateRq(body);
          const decisions = req.contexts.map((c) => ({
            id: c.id,
            result: 0,
            transferSyntax: c.transferSyntaxes[0] ?? '',
            abstractSyntax: c.abstractSyntax,
          }));
          socket.write(encodeAssociateAc(req, decisions, 16384));
        },
        pdvStart: () => undefined,
        pdvData: () => undefined,
        pdvEnd: () =>
          socket.write(
            encodeResponsePdu(1, {
              commandField: CommandField.CEchoRsp,
              messageId: 1,
              sopClassUid: VERIFICATION_SOP_CLASS,
              status,
            }),
          ),
        malformed: () => socket.destroy(),
      },
      { maxPDataLength: 1 << 20, maxControlPduLength: 1 << 16 },
    );
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('echo against a scripted peer', () => {
  it('counts an answered echo as success when the release is never confirmed', async () => {
    const scp = await scriptedScp(0x0000);
    try {
      const r = await echo({
        host: '127.0.0.1',
        port: scp.port,
        calledAeTitle: 'X',
        callingAeTitle: 'Y',
        timeoutMs: 300,
      });
      expect(r.status).toBe(0);
    } finally {
      await scp.close();
    }
  });

  it('fails on a status other than success, naming it', async () => {
    const scp = await scriptedScp(0x0110);
    try {
      const err = await echoError(
        echo({ host: '127.0.0.1', port: scp.port, calledAeTitle: 'X', callingAeTitle: 'Y', timeoutMs: 300 }),
      );
      expect(err.message).toBe(
        `C-ECHO to X at 127.0.0.1:${scp.port}: the peer answered status 0x0110, not success`,
      );
    } finally {
      await scp.close();
    }
  });
});

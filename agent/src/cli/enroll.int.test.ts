// `ferry-agent enroll` against a server that answers in the control plane's name: the token comes from
// a file or standard input (never argv), and an answer whose recipient key is not the pinned one is
// refused with both thumbprints named and nothing written. test/e2e/enroll.int.test.ts does the same
// against the real control plane.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type EnrollResponse,
  generateRecipientKeyPair,
  isFerryError,
  recipientKeyThumbprint,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollCommand } from './enroll.js';

const TOKEN = `fet_${'x'.repeat(43)}`;

describe('ferry-agent enroll: the token off the command line, the cloud key pinned', () => {
  let root: string;
  let server: Server;
  let url: string;
  let answerKey: JWK;
  const received: { token?: string }[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferry-enroll-'));
    answerKey = (await generateRecipientKeyPair()).publicJwk;
    // Answers every enrollment like a control plane would, with `answerKey` as the recipient key.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as { token?: string });
        const answer: EnrollResponse = {
          gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10',
          facility: { id: '0b9d6c1e-6f1a-4d7e-9d1c-2f8a6f4b2a10', name: 'East', aeTitle: 'RAD_EAST' },
          config: { aeTitle: 'RAD_EAST', port: 4104, allowedCallingAeTitles: [], maxAssociations: 8 },
          configVersion: 1,
          recipientPublicKey: answerKey as EnrollResponse['recipientPublicKey'],
        };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (root) await rm(root, { recursive: true, force: true });
  });

  const enroll = (dir: string, pin: string, tokenArgs: string[], stdin?: Readable) =>
    enrollCommand(['--server', url, ...tokenArgs, '--key-thumbprint', pin, '--data-dir', dir], {
      ...(stdin ? { stdin } : {}),
    });

  async function refusal(p: Promise<unknown>): Promise<Error & { code?: string }> {
    try {
      await p;
    } catch (err) {
      return err as Error & { code?: string };
    }
    throw new Error('expected a refusal');
  }

  it('refuses an answer carrying another recipient key, naming both thumbprints, and writes nothing', async () => {
    const pinned = await recipientKeyThumbprint((await generateRecipientKeyPair()).publicJwk);
    const swapped = await recipientKeyThumbprint(answerKey);
    const dir = join(root, 'swapped');
    const err = await refusal(enroll(dir, pinned, ['--token-file', '-'], Readable.from([`${TOKEN}\n`])));
    expect(isFerryError(err, 'enrollment.key_mismatch'), String(err)).toBe(true);
    expect(err.message).toContain(pinned);
    expect(err.message).toContain(swapped);
    expect(err.message).toContain('Nothing was written');
    expect(received.at(-1)?.token).toBe(TOKEN);
    expect(existsSync(join(dir, 'agent.json'))).toBe(false);
    expect(existsSync(join(dir, 'identity'))).toBe(false);
  });

  it('enrolls with the token on standard input when the key is the pinned one', async () => {
    const dir = join(root, 'stdin');
    await enroll(dir, await recipientKeyThumbprint(answerKey), ['--token-file', '-'], Readable.from([TOKEN]));
    expect(received.at(-1)?.token).toBe(TOKEN);
    const config = JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')) as { recipientPublicKey: JWK };
    expect(config.recipientPublicKey.x).toBe(answerKey.x);
    expect(await readdir(join(dir, 'identity'))).toContain('agent.private.jwk');
  });

  it('enrolls with the token from a file', async () => {
    const file = join(root, 'token.txt');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
    const dir = join(root, 'file');
    await enroll(dir, await recipientKeyThumbprint(answerKey), ['--token-file', file]);
    expect(received.at(-1)?.token).toBe(TOKEN);
    expect(existsSync(join(dir, 'agent.json'))).toBe(true);
  });

  it('refuses --token on the command line, a missing pin and an empty token, before asking the server', async () => {
    const pin = await recipientKeyThumbprint(answerKey);
    const asked = received.length;
    const dir = join(root, 'refused');
    const cases: [Promise<unknown>, string][] = [
      [enroll(dir, pin, ['--token', TOKEN]), '--token-file'],
      [enrollCommand(['--server', url, '--token-file', '-', '--data-dir', dir]), '--key-thumbprint'],
      [enroll(dir, 'not-a-thumbprint', ['--token-file', '-'], Readable.from([TOKEN])), '--key-thumbprint'],
      [enroll(dir, pin, ['--token-file', '-'], Readable.from(['\n'])), 'enrollment token'],
      [enroll(dir, pin, ['--token-file', join(root, 'no-such-file')]), 'no-such-file'],
    ];
    for (const [p, words] of cases) {
      const err = await refusal(p);
      expect(isFerryError(err), String(err)).toBe(true);
      expect(err.message).toContain(words);
    }
    expect(received.length).toBe(asked);
    expect(existsSync(dir)).toBe(false);
  });
});

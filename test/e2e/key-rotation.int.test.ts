// Key rotation reaches enrolled agents (issue 13, section 1), across real processes: after
// `ferry-control-plane keys rotate` (a separate process) the running control plane sends the new
// recipient key over the channel; the connected agent keeps it without a restart and seals new objects
// for it (their headers name the new key), which are delivered and open; objects sealed for the old
// key still open; an agent that was stopped through a rotation gets the key when it reconnects; the
// gateway API and the console's gateway page (Chromium) show the key in use and flag a stale one.
import { execFile } from 'node:child_process';
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { recipientKeyThumbprint } from '@ferry/shared';
import type { JWK } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeScratch } from '../harness/agent.js';
import { launchBrowser, newPage, signIn } from '../harness/browser.js';
import { CLOUD_ADMIN, type Cloud, type GatewayView, startCloud } from '../harness/cloud.js';
import { CONTROL_PLANE_BIN } from '../harness/control-plane.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { parseStorescuOutput, storescu, topLevelStrings } from '../harness/dcmtk.js';
import { datasetHash } from '../harness/part10.js';

const run = promisify(execFile);

interface KeyedGateway extends GatewayView {
  recipientKey: { thumbprint: string | null; current: boolean; controlPlaneThumbprint: string };
}

interface Sent {
  file: string;
  study: string;
  series: string;
  sop: string;
}

/** The recipient key id (the JWE kid: the thumbprint's first 22 characters) of every stored object. */
async function storedObjectKids(blobRoot: string): Promise<string[]> {
  const kids: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue; // uploads and staging in progress
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        await walk(path);
        continue;
      }
      const fh = await open(path, 'r');
      try {
        const pre = Buffer.alloc(13);
        await fh.read(pre, 0, 13, 0);
        if (pre.subarray(0, 8).toString('latin1') !== 'FERRYOBJ') continue;
        const header = Buffer.alloc(pre.readUInt32BE(9));
        await fh.read(header, 0, header.length, 13);
        const { wrappedKey } = JSON.parse(header.toString('utf8')) as { wrappedKey: string };
        const jwe = JSON.parse(Buffer.from(wrappedKey.split('.')[0] ?? '', 'base64url').toString('utf8'));
        kids.push(String((jwe as { kid?: unknown }).kid));
      } finally {
        await fh.close();
      }
    }
  };
  await walk(blobRoot);
  return kids;
}

describe('recipient key rotation reaches enrolled agents', () => {
  let cloud: Cloud;
  let browser: Browser | undefined;
  let gatewayId: string;
  let files: Sent[];
  const cpDir = () => join(cloud.root, 'control-plane');

  const gateway = () => cloud.gateway<KeyedGateway>(gatewayId);
  const rotate = async () => {
    const { stdout } = await run(process.execPath, [CONTROL_PLANE_BIN, 'keys', 'rotate'], {
      env: { ...process.env, FERRY_DATA_DIR: cpDir() },
    });
    const printed = /new current key \S+ \(thumbprint ([\w-]{43})\)/.exec(stdout)?.[1];
    expect(printed, stdout).toBeDefined();
    return printed as string;
  };
  const send = async (batch: Sent[]) => {
    const r = await storescu({
      port: cloud.agent.port,
      calledAe: cloud.aeTitle,
      files: batch.map((s) => s.file),
      verbose: true,
    });
    expect(parseStorescuOutput(r.stderr).succeeded).toBe(batch.length);
  };
  /** Every instance of `batch` comes back byte-identical through WADO-RS. */
  const expectRetrievable = async (batch: Sent[]) => {
    const dir = join(cloud.root, `wado-${Date.now()}`);
    await mkdir(dir, { recursive: true });
    for (const s of batch) {
      const got = await cloud.wadoDataset(s.study, s.series, s.sop, dir);
      expect(got.sha256).toBe((await datasetHash(s.file)).sha256);
    }
  };
  const waitForKids = async (kid: string, count: number) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const kids = await storedObjectKids(join(cpDir(), 'blobs'));
      if (kids.filter((k) => k === kid).length >= count) return kids;
      if (Date.now() > deadline) throw new Error(`not ${count} objects for key ${kid}: ${kids.join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    cloud = await startCloud({ name: 'key-rotation', env: { FERRY_HEARTBEAT_SECONDS: '1' } });
    gatewayId = String((await cloud.agentConfig()).gatewayId);
    files = await Promise.all(
      (await corpusFiles(await smallCorpus())).slice(0, 9).map(async (file) => {
        const t = await topLevelStrings(file, ['0020,000d', '0020,000e', '0008,0018']);
        return { file, study: t['0020,000d'] ?? '', series: t['0020,000e'] ?? '', sop: t['0008,0018'] ?? '' };
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await cloud?.close();
    await removeScratch(cloud?.root);
  });

  it('a connected agent gets the rotated key without a restart and seals new objects for it; old ones still open', async () => {
    const before = await cloud.waitForGateway<KeyedGateway>(
      gatewayId,
      (g) => g.recipientKey.thumbprint !== null,
      'reported its key',
    );
    expect(before.recipientKey.current).toBe(true);
    const oldKey = before.recipientKey.thumbprint ?? '';
    const first = files.slice(0, 3);
    await send(first);
    await waitForKids(oldKey.slice(0, 22), first.length);

    const pid = cloud.agent.pid;
    const printed = await rotate();
    const after = await cloud.waitForGateway<KeyedGateway>(
      gatewayId,
      (g) => g.recipientKey.current && g.recipientKey.thumbprint !== oldKey,
      'took the rotated key',
      30_000,
    );
    const newKey = after.recipientKey.thumbprint ?? '';
    expect(after.recipientKey.controlPlaneThumbprint).toBe(newKey);
    expect(newKey).toBe(printed);
    expect(cloud.agent.pid).toBe(pid);
    expect(cloud.agent.child.exitCode).toBeNull();
    // Kept durably: agent.json names the new key, so a restart seals for it too.
    const kept = (await cloud.agentConfig()).recipientPublicKey as JWK;
    expect(await recipientKeyThumbprint(kept)).toBe(newKey);

    const second = files.slice(3, 6);
    await send(second);
    const kids = await waitForKids(newKey.slice(0, 22), second.length);
    expect(kids.filter((k) => k === oldKey.slice(0, 22))).toHaveLength(first.length);
    await expectRetrievable([...first, ...second]);
  }, 120_000);

  it('an agent stopped through a rotation is flagged on the gateway page, and gets the key when it reconnects', async () => {
    const was = (await gateway()).recipientKey.thumbprint ?? '';
    await cloud.agent.stop();
    await rotate();
    const stale = await cloud.waitForGateway<KeyedGateway>(
      gatewayId,
      (g) => g.recipientKey.controlPlaneThumbprint !== was,
      'saw the control plane rotate',
      30_000,
    );
    expect(stale.recipientKey).toMatchObject({ thumbprint: was, current: false });

    browser = await launchBrowser();
    const { page } = await newPage(browser);
    await signIn(page, cloud.cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
    await page.goto(`${cloud.cp.url}/gateways/${gatewayId}`);
    const key = page.locator('#gw-recipient-key');
    await expect(key.getAttribute('data-current')).resolves.toBe('false');
    expect(await key.textContent()).toContain(was);
    expect(await key.textContent()).toContain("not the control plane's current key");

    await cloud.restartAgent();
    const back = await cloud.waitForGateway<KeyedGateway>(
      gatewayId,
      (g) => g.recipientKey.current,
      'took the key at reconnect',
      30_000,
    );
    await page.reload();
    await expect(key.getAttribute('data-current')).resolves.toBe('true');
    expect(await key.textContent()).toContain(back.recipientKey.thumbprint ?? '?');

    const third = files.slice(6, 9);
    await send(third);
    await waitForKids((back.recipientKey.thumbprint ?? '').slice(0, 22), third.length);
    await expectRetrievable(third);
  }, 120_000);
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRecipientKeyPair, isFerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadAgentConfig, readRawAgentConfig, writeAgentConfigFile } from './config.js';

let dir: string;
let recipientPublicKey: JWK;
beforeAll(async () => {
  recipientPublicKey = (await generateRecipientKeyPair()).publicJwk;
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent.json enrollment fields', () => {
  it('loads a hand-written agent.json without server, gatewayId or configVersion', async () => {
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ aeTitle: 'CT1', recipientPublicKey }));
    const cfg = await loadAgentConfig(dir);
    expect(cfg.aeTitle).toBe('CT1');
    expect(cfg.server).toBeUndefined();
    expect(cfg.gatewayId).toBeUndefined();
    expect(cfg.configVersion).toBeUndefined();
  });

  it('loads the fields enroll writes, and names a bad one', async () => {
    const enrolled = {
      aeTitle: 'RAD_EAST',
      recipientPublicKey,
      server: 'https://ferry.example.org',
      gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10',
      configVersion: 3,
    };
    await writeFile(join(dir, 'agent.json'), JSON.stringify(enrolled));
    expect(await loadAgentConfig(dir)).toMatchObject(enrolled);
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ ...enrolled, server: 'ftp://x.org' }));
    const err = await loadAgentConfig(dir).catch((e: unknown) => e);
    expect(isFerryError(err, 'config.invalid')).toBe(true);
    expect((err as Error).message).toContain('server');
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ ...enrolled, configVersion: 0 }));
    expect((await loadAgentConfig(dir).catch((e: unknown) => e)) as Error).toHaveProperty(
      'message',
      expect.stringContaining('configVersion'),
    );
  });

  it('writes agent.json only when it validates, replacing the old file whole', async () => {
    expect(await readRawAgentConfig(dir)).toBeUndefined();
    await writeAgentConfigFile(dir, { aeTitle: 'A', recipientPublicKey });
    expect(await readRawAgentConfig(dir)).toEqual({ aeTitle: 'A', recipientPublicKey });
    const bad = await writeAgentConfigFile(dir, { aeTitle: 'A\\B', recipientPublicKey }).catch(
      (e: unknown) => e,
    );
    expect(isFerryError(bad, 'config.invalid')).toBe(true);
    expect(JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8'))).toEqual({
      aeTitle: 'A',
      recipientPublicKey,
    });
  });
});

describe('agent.json upload settings', () => {
  it('defaults to 4 parallel uploads, no bandwidth cap and no retention', async () => {
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey }));
    expect((await loadAgentConfig(dir)).upload).toEqual({
      parallelism: 4,
      bandwidthBytesPerSecond: 0,
      retentionHours: 0,
      schedule: [],
      compression: 'auto',
    });
    const upload = {
      parallelism: 16,
      bandwidthBytesPerSecond: 2_000_000,
      retentionHours: 48,
      schedule: [],
      compression: 'image',
    };
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey, upload }));
    expect((await loadAgentConfig(dir)).upload).toEqual(upload);
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({ recipientPublicKey, upload: { parallelism: 2 } }),
    );
    expect((await loadAgentConfig(dir)).upload).toEqual({
      parallelism: 2,
      bandwidthBytesPerSecond: 0,
      retentionHours: 0,
      schedule: [],
      compression: 'auto',
    });
  });

  it('loads a pushed config kept as last-known-good: schedule windows, stable period and version', async () => {
    const schedule = [
      { days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', bandwidthBytesPerSecond: 1_000_000 },
    ];
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({ recipientPublicKey, upload: { schedule }, stablePeriodSeconds: 90, configVersion: 7 }),
    );
    const cfg = await loadAgentConfig(dir);
    expect(cfg.upload.schedule).toEqual(schedule);
    expect(cfg.stablePeriodSeconds).toBe(90);
    expect(cfg.configVersion).toBe(7);
  });

  it.each([
    [{ parallelism: 0 }, 'upload.parallelism: must be at least 1'],
    [{ parallelism: 65 }, 'upload.parallelism: must be at most 64'],
    [{ parallelism: 2.5 }, 'upload.parallelism: must be a whole number'],
    [{ bandwidthBytesPerSecond: -1 }, 'upload.bandwidthBytesPerSecond: must be 0 (unlimited) or more'],
    [{ bandwidthBytesPerSecond: '10MB' }, 'upload.bandwidthBytesPerSecond: must be a number'],
    [{ retentionHours: -2 }, 'upload.retentionHours: must be 0 (delete once delivered) or more'],
    [{ retentionDays: 2 }, 'upload: Unrecognized key'],
    [{ compression: 'lzma' }, 'upload.compression: must be one of "auto", "image", "zstd", "none"'],
    [
      { schedule: [{ days: [1], from: '8:00', to: '18:00', bandwidthBytesPerSecond: 1 }] },
      'upload.schedule.0.from: must be HH:MM (24-hour clock)',
    ],
    [
      { schedule: [{ days: [7], from: '08:00', to: '18:00', bandwidthBytesPerSecond: 1 }] },
      'upload.schedule.0.days.0',
    ],
  ])('refuses upload %j, naming the field', async (upload, message) => {
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey, upload }));
    const err = await loadAgentConfig(dir).catch((e: unknown) => e);
    expect(isFerryError(err, 'config.invalid')).toBe(true);
    expect((err as Error).message).toContain(message);
  });
});

describe('agent.json DICOM limits', () => {
  it('defaults the PDU deadline to 60 s and leaves the per-caller share to the listener', async () => {
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({ recipientPublicKey, timeouts: { artimMs: 1000, idleMs: 2000 } }),
    );
    const cfg = await loadAgentConfig(dir);
    expect(cfg.timeouts).toEqual({
      artimMs: 1000,
      idleMs: 2000,
      pduMs: 60_000,
      uploadStallMs: 30_000,
      uploadOfferMs: 30_000,
    });
    expect(cfg.maxAssociationsPerCallingAe).toBeUndefined();
    // Unset: uploads and the channel keep their own production caps.
    expect(cfg.timeouts.retryCapMs).toBeUndefined();
    expect(cfg.maxPendingPerAddress).toBe(16);
    expect(cfg.maxPendingConnections).toBeUndefined();
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey }));
    expect((await loadAgentConfig(dir)).timeouts).toEqual({
      artimMs: 30_000,
      idleMs: 300_000,
      pduMs: 60_000,
      uploadStallMs: 30_000,
      uploadOfferMs: 30_000,
    });
  });

  it('loads a PDU deadline and a per-caller share, and names a bad one', async () => {
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({
        recipientPublicKey,
        maxAssociationsPerCallingAe: 4,
        maxPendingPerAddress: 2,
        maxPendingConnections: 50,
        timeouts: { pduMs: 5000, uploadStallMs: 4000, uploadOfferMs: 3000, retryCapMs: 2000 },
      }),
    );
    const cfg = await loadAgentConfig(dir);
    expect(cfg.maxAssociationsPerCallingAe).toBe(4);
    expect([cfg.maxPendingPerAddress, cfg.maxPendingConnections]).toEqual([2, 50]);
    expect(cfg.timeouts.pduMs).toBe(5000);
    expect([cfg.timeouts.uploadStallMs, cfg.timeouts.uploadOfferMs]).toEqual([4000, 3000]);
    expect(cfg.timeouts.retryCapMs).toBe(2000);
    for (const [patch, field] of [
      [{ maxAssociationsPerCallingAe: 0 }, 'maxAssociationsPerCallingAe: '],
      [{ maxPendingPerAddress: 0 }, 'maxPendingPerAddress: '],
      [{ maxPendingConnections: 0.5 }, 'maxPendingConnections: '],
      [{ timeouts: { pduMs: 10 } }, 'timeouts.pduMs: '],
      [{ timeouts: { uploadStallMs: 999 } }, 'timeouts.uploadStallMs: '],
      [{ timeouts: { uploadOfferMs: 'soon' } }, 'timeouts.uploadOfferMs: '],
      [{ timeouts: { retryCapMs: 500 } }, 'timeouts.retryCapMs: '],
    ] as const) {
      await writeFile(join(dir, 'agent.json'), JSON.stringify({ recipientPublicKey, ...patch }));
      const err = await loadAgentConfig(dir).catch((e: unknown) => e);
      expect(isFerryError(err, 'config.invalid')).toBe(true);
      expect((err as Error).message).toContain(field);
    }
  });
});

// Pushed config applied live to a real DICOM listener and spool in a temp dir: a port change re-binds
// while an association in progress finishes on the old socket, a taken port or a bad AE title is
// rejected with a reason and changes nothing, and agent.json keeps the last-known-good version.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { GATEWAY_CONFIG_DEFAULTS, type GatewayDesiredConfig } from '@ferry/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/harness/dcmtk.js';
import {
  encodeCStoreRq,
  encodePData,
  parseResponse,
  RawScu,
  verificationContext,
} from '../../../test/harness/raw-scu.js';
import {
  openSpooled,
  openTempSpool,
  removeTempSpool,
  sample,
  silent,
  storedId,
  storeInstance,
  type TempSpool,
} from '../../../testkit/agent/spool.js';
import { loadAgentConfig } from '../config.js';
import { DicomListener } from '../dimse/listener.js';
import { dimseStore } from '../dimse/store-status.js';
import { HealthMonitor } from '../health/health-monitor.js';
import type { UploadApi } from '../uploader/upload-client.js';
import { Uploader } from '../uploader/uploader.js';
import { LiveConfigApplier } from './config-applier.js';

let t: TempSpool;
let listener: DicomListener;
let applier: LiveConfigApplier;
let uploader: Uploader;
let oldPort: number;
const blockers: Server[] = [];
const scus: RawScu[] = [];

beforeEach(async () => {
  t = await openTempSpool();
  oldPort = await freePort();
  await writeFile(
    join(t.dir, 'agent.json'),
    JSON.stringify({
      aeTitle: 'OLD_AE',
      host: '127.0.0.1',
      port: oldPort,
      recipientPublicKey: t.keys.publicJwk,
      logPhi: false,
      timeouts: { artimMs: 5000, idleMs: 30_000 },
    }),
  );
  const cfg = await loadAgentConfig(t.dir);
  listener = new DicomListener(
    {
      host: cfg.host,
      port: cfg.port,
      policy: {
        aeTitle: cfg.aeTitle,
        allowedCallingAeTitles: cfg.allowedCallingAeTitles,
        maxAssociations: cfg.maxAssociations,
        maxPduLength: cfg.maxPduLength,
        artimTimeoutMs: cfg.timeouts.artimMs,
        idleTimeoutMs: cfg.timeouts.idleMs,
      },
    },
    dimseStore(t.spool),
    silent,
  );
  await listener.listen();
  // Never started: only its live settings are looked at, nothing is uploaded.
  uploader = new Uploader({
    spool: t.spool,
    api: {} as UploadApi,
    log: silent,
    config: cfg.upload,
  });
  applier = new LiveConfigApplier({
    dataDir: t.dir,
    listener,
    uploader: () => uploader,
    log: silent,
    initialVersion: cfg.configVersion ?? 0,
    initialPeers: cfg.peers,
    spool: t.spool,
  });
});

afterEach(async () => {
  for (const s of scus.splice(0)) s.destroy();
  for (const b of blockers.splice(0)) await new Promise<void>((resolve) => b.close(() => resolve()));
  await listener.close(true);
  await removeTempSpool(t);
});

function desired(over: Partial<GatewayDesiredConfig>): GatewayDesiredConfig {
  return { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'OLD_AE', port: oldPort, ...over };
}

async function connect(port: number): Promise<RawScu> {
  const scu = await RawScu.connect(port);
  scus.push(scu);
  return scu;
}

/** Associates with `calledAe` on `port`: 'accepted', 'rejected', or the connect error's code. */
async function tryAssociate(port: number, calledAe: string): Promise<string> {
  let scu: RawScu;
  try {
    scu = await connect(port);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
  const outcome = await scu.associate({ calledAe, contexts: [verificationContext()] });
  if (outcome.kind === 'accepted') {
    expect((await scu.echo()).status).toBe(0);
    await scu.release();
  }
  return outcome.kind;
}

async function blockPort(): Promise<number> {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
  blockers.push(blocker);
  return port;
}

const agentJson = async () =>
  JSON.parse(await readFile(join(t.dir, 'agent.json'), 'utf8')) as Record<string, unknown>;

describe('LiveConfigApplier on a real listener', () => {
  it('re-binds to a new port and AE title; a store in progress completes on the old socket', async () => {
    const newPort = await freePort();
    const ct = await sample('CT_small.dcm');

    // An association on the old port, halfway through a C-STORE when the config changes.
    const old = await connect(oldPort);
    const outcome = await old.associate({
      calledAe: 'OLD_AE',
      contexts: [{ id: 3, abstractSyntax: ct.req.sopClassUid, transferSyntaxes: [ct.req.transferSyntaxUid] }],
    });
    expect(outcome.kind).toBe('accepted');
    const command = encodeCStoreRq({
      messageId: 7,
      sopClassUid: ct.req.sopClassUid,
      sopInstanceUid: ct.req.sopInstanceUid,
    });
    await old.sendRaw(encodePData([{ contextId: 3, isCommand: true, isLast: true, data: command }]));
    const half = Math.floor(ct.dataset.length / 2);
    await old.sendRaw(
      encodePData([{ contextId: 3, isCommand: false, isLast: false, data: ct.dataset.subarray(0, half) }]),
    );

    const result = await applier.apply(
      1,
      desired({
        aeTitle: 'NEW_AE',
        port: newPort,
        upload: { ...GATEWAY_CONFIG_DEFAULTS.upload, parallelism: 9 },
      }),
    );
    expect(result).toEqual({ ok: true });
    expect(applier.appliedVersion()).toBe(1);
    expect(listener.stats()).toMatchObject({ listening: true, port: newPort, aeTitle: 'NEW_AE' });

    // New associations: only on the new port, only under the new title.
    expect(await tryAssociate(oldPort, 'OLD_AE')).toBe('ECONNREFUSED');
    expect(await tryAssociate(newPort, 'OLD_AE')).toBe('rejected');
    expect(await tryAssociate(newPort, 'NEW_AE')).toBe('accepted');

    // The association in progress keeps its policy and socket, and its store completes.
    await old.sendRaw(
      encodePData([{ contextId: 3, isCommand: false, isLast: true, data: ct.dataset.subarray(half) }]),
    );
    const rsp = parseResponse(await old.readCommand());
    expect(rsp.status).toBe(0);
    await old.release();
    expect(t.spool.entries().map((e) => e.sopInstanceUid)).toEqual([ct.req.sopInstanceUid]);
    const stats = listener.stats();
    expect(stats.associationsTotal).toBe(2);
    expect(stats.lastStoreByCallingAe.get('RAWSCU')).toBeInstanceOf(Date);

    // The uploader took the new settings; agent.json holds version 1 and loads.
    expect(uploader.settings.parallelism).toBe(9);
    const saved = await agentJson();
    expect(saved).toMatchObject({ configVersion: 1, aeTitle: 'NEW_AE', port: newPort, host: '127.0.0.1' });
    const reloaded = await loadAgentConfig(t.dir);
    expect(reloaded).toMatchObject({ configVersion: 1, aeTitle: 'NEW_AE', port: newPort });
    expect(reloaded.upload.parallelism).toBe(9);
  });

  it('rejects a port in use with a reason naming it; the old listener and agent.json stay', async () => {
    expect(await applier.apply(1, desired({ aeTitle: 'FIRST_AE' }))).toEqual({ ok: true });
    const before = await agentJson();
    const taken = await blockPort();

    const result = await applier.apply(2, desired({ aeTitle: 'SECOND_AE', port: taken }));
    expect(result).toEqual({ ok: false, reason: `port ${taken} is in use on this gateway` });
    expect(applier.appliedVersion()).toBe(1);
    expect(applier.rejectedConfig()).toEqual({
      version: 2,
      reason: `port ${taken} is in use on this gateway`,
    });
    expect(await tryAssociate(oldPort, 'FIRST_AE')).toBe('accepted');
    expect(await tryAssociate(oldPort, 'SECOND_AE')).toBe('rejected');
    expect(await agentJson()).toEqual(before);

    // A later good version applies and clears the rejection.
    expect(await applier.apply(3, desired({ aeTitle: 'THIRD_AE' }))).toEqual({ ok: true });
    expect(applier.rejectedConfig()).toBeUndefined();
    expect(await tryAssociate(oldPort, 'THIRD_AE')).toBe('accepted');
  });

  it('rejects a bad AE title, naming the field; nothing changes', async () => {
    const result = await applier.apply(1, desired({ aeTitle: 'WAY_TOO_LONG_AE_TITLE' }));
    expect(result).toEqual({ ok: false, reason: 'aeTitle: AE title must be at most 16 characters (got 21)' });
    expect(applier.appliedVersion()).toBe(0);
    expect(await tryAssociate(oldPort, 'OLD_AE')).toBe('accepted');
    expect((await agentJson()).configVersion).toBeUndefined();
  });

  it('undoes the live change when agent.json cannot be saved', async () => {
    const newPort = await freePort();
    // The crash-safe write goes through agent.json.tmp; a directory there makes it fail.
    await mkdir(join(t.dir, 'agent.json.tmp'));
    const result = await applier.apply(
      1,
      desired({
        aeTitle: 'NEW_AE',
        port: newPort,
        upload: { ...GATEWAY_CONFIG_DEFAULTS.upload, parallelism: 9, compression: 'none' },
      }),
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^the gateway could not save it \(agent\.json\): /);
    expect(applier.appliedVersion()).toBe(0);
    expect(listener.stats()).toMatchObject({ listening: true, port: oldPort, aeTitle: 'OLD_AE' });
    expect(uploader.settings.parallelism).toBe(4);
    expect(t.spool.stats().compression?.mode).toBe('auto');
    expect(await tryAssociate(oldPort, 'OLD_AE')).toBe('accepted');
    expect(await tryAssociate(newPort, 'NEW_AE')).toBe('ECONNREFUSED');
  });

  it('applies upload.compression to spool objects begun afterwards; one begun before keeps its coding', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const before = t.spool.begin(req);
    before.write(dataset.subarray(0, 1000));
    const parallelism = uploader.settings.parallelism;
    const pushed = desired({ upload: { ...GATEWAY_CONFIG_DEFAULTS.upload, compression: 'zstd' } });
    expect(await applier.apply(1, pushed)).toEqual({ ok: true });
    expect(t.spool.stats().compression).toMatchObject({ mode: 'zstd', coding: 'zstd', reason: 'forced' });
    // The uploader's own settings are not touched by it.
    expect(uploader.settings.parallelism).toBe(parallelism);
    before.write(dataset.subarray(1000));
    const sealedBefore = await before.end();
    const mr = await sample('MR_small_implicit.dcm');
    const after = await storeInstance(t.spool, mr.req, mr.dataset);
    const coding = async (id: string) =>
      (await openSpooled(t.spool, id, t.keys.privateJwk)).header.compression;
    expect(await coding(storedId(sealedBefore))).toBe('none');
    expect(await coding(after.id)).toBe('zstd');
    expect((await loadAgentConfig(t.dir)).upload.compression).toBe('zstd');

    // Back to auto: a small backlog and no measured link leave the next object uncoded.
    const back = desired({ upload: { ...GATEWAY_CONFIG_DEFAULTS.upload, compression: 'auto' } });
    expect(await applier.apply(2, back)).toEqual({ ok: true });
    const be = await sample('MR_small_bigendian.dcm');
    const third = await storeInstance(t.spool, be.req, be.dataset);
    expect(await coding(third.id)).toBe('none');
  });

  it('changes the AE title without re-binding when the port stays', async () => {
    expect(
      await applier.apply(1, desired({ aeTitle: 'RENAMED', allowedCallingAeTitles: ['RAWSCU'] })),
    ).toEqual({
      ok: true,
    });
    expect(await tryAssociate(oldPort, 'RENAMED')).toBe('accepted');
    expect(await tryAssociate(oldPort, 'OLD_AE')).toBe('rejected');
    // The allow-list is in force: another caller is turned away.
    const other = await connect(oldPort);
    const outcome = await other.associate({ calledAe: 'RENAMED', callingAe: 'STRANGER' });
    expect(outcome.kind).toBe('rejected');
  });

  it('reports dicom.open_to_any_caller while anyone may call, and clears it when an allow-list is pushed', async () => {
    const health = new HealthMonitor({
      dataDir: t.dir,
      spool: t.spool,
      listenerStats: () => listener.stats(),
      uploaderStats: () => undefined,
      appliedConfigVersion: () => applier.appliedVersion(),
      rejectedConfig: () => applier.rejectedConfig(),
      agentVersion: 'test',
      startedAt: new Date(),
    });
    const codes = async () => (await health.report()).conditions.map((c) => `${c.code}:${c.severity}`);
    expect(await codes()).toContain('dicom.open_to_any_caller:warning');

    expect(await applier.apply(1, desired({ allowedCallingAeTitles: ['RAWSCU'] }))).toEqual({ ok: true });
    expect(await codes()).not.toContain('dicom.open_to_any_caller:warning');

    // Emptied again (the allow-list removed from the settings): open again.
    expect(await applier.apply(2, desired({ allowedCallingAeTitles: [] }))).toEqual({ ok: true });
    expect(await codes()).toContain('dicom.open_to_any_caller:warning');
  });

  it('applies the transfer-syntax policy and private UID lists live, to the next association', async () => {
    const JPEG = '1.2.840.10008.1.2.4.50';
    const ELE = '1.2.840.10008.1.2.1';
    const contexts = [
      { id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.7', transferSyntaxes: [JPEG, ELE] },
      { id: 3, abstractSyntax: '1.2.3.4.5.6', transferSyntaxes: [ELE] },
      { id: 5, abstractSyntax: '1.3.12.2.1107.5.9.1', transferSyntaxes: [ELE] }, // Siemens CSA
      { id: 7, abstractSyntax: '1.2.840.10008.5.1.4.1.1.7', transferSyntaxes: ['1.2.3.4.5.7'] },
    ];
    const answers = async () => {
      const scu = await connect(oldPort);
      const outcome = await scu.associate({ calledAe: 'OLD_AE', contexts });
      if (outcome.kind !== 'accepted') throw new Error(`association ${outcome.kind}`);
      await scu.release();
      // A refused context's transfer syntax is not significant (PS3.8 9.3.3.2).
      return outcome.ac.contexts.map((c) =>
        c.result === 0 ? [c.id, 0, c.transferSyntax] : [c.id, c.result],
      );
    };
    // Defaults: the sender's first choice, the vendor-private classes, no private transfer syntax.
    expect(await answers()).toEqual([
      [1, 0, JPEG],
      [3, 3],
      [5, 0, ELE],
      [7, 4],
    ]);

    const pushed = {
      transferSyntaxPolicy: 'prefer-uncompressed' as const,
      privateSopClasses: ['1.2.3.4.5.6'],
      privateTransferSyntaxes: ['1.2.3.4.5.7'],
    };
    expect(await applier.apply(1, desired(pushed))).toEqual({ ok: true });
    expect(listener.currentPolicy).toMatchObject(pushed);
    expect(await answers()).toEqual([
      [1, 0, ELE],
      [3, 0, ELE],
      [5, 3],
      [7, 0, '1.2.3.4.5.7'],
    ]);
    expect(await loadAgentConfig(t.dir)).toMatchObject(pushed);

    // A bad list is refused with its reason, and the rules in force stay.
    const bad = await applier.apply(2, desired({ privateSopClasses: ['1.2.840.10008.5.1.4.1.1.2'] }));
    expect(bad).toEqual({
      ok: false,
      reason:
        'privateSopClasses.0: "1.2.840.10008.5.1.4.1.1.2" is under the DICOM root 1.2.840.10008, so it is not a private UID',
    });
    expect(listener.currentPolicy).toMatchObject(pushed);
  });

  it('keeps the pushed peers as the applied ones, in agent.json too; a rejected version keeps the old', async () => {
    expect(applier.appliedPeers()).toEqual([]);
    const pacs = { name: 'Main PACS', aeTitle: 'PACS', host: 'pacs.hospital.example', port: 104, tls: false };
    expect(await applier.apply(1, desired({ peers: [pacs] }))).toEqual({ ok: true });
    expect(applier.appliedPeers()).toEqual([pacs]);
    expect((await agentJson()).peers).toEqual([pacs]);
    expect((await loadAgentConfig(t.dir)).peers).toEqual([pacs]);

    const bad = await applier.apply(2, desired({ peers: [{ ...pacs, host: 'pacs:104' }] }));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toMatch(/^peers\.0\.host: /);
    expect(applier.appliedPeers()).toEqual([pacs]);
  });
});

// Association policy of the real agent process: AE titles, limits, timers, config validation, TLS.
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  events,
  eventsEventually,
  keyedScratch,
  type RecipientKeys,
  removeScratch,
  sleep,
  startAgent,
  startExpectingFailure,
  writeAgentConfig,
} from '../harness/agent.js';
import { pydicomSamplesDir } from '../harness/corpus.js';
import { datasetAfterMeta, echoscu, freePort, storescu } from '../harness/dcmtk.js';
import { PduType, RawScu, readPart10, Uids, verificationContext } from '../harness/raw-scu.js';
import { exportSpool, indexEntries, layoutProblems, spoolDirs, spoolStatus } from '../harness/spool.js';
import { selfSignedCert } from '../harness/tls.js';

const SAMPLE = join(pydicomSamplesDir, 'SC_rgb_small_odd.dcm');

let root: string;
let keys: RecipientKeys;
const running: AgentProcess[] = [];
const sockets: RawScu[] = [];

beforeAll(async () => {
  ({ root, keys } = await keyedScratch('policy'));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(running.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await removeScratch(root);
});

async function agent(config: Record<string, unknown> = {}, args: string[] = []): Promise<AgentProcess> {
  const dataDir = await mkdtemp(join(root, 'agent-'));
  const a = await startAgent({
    dataDir,
    config: { aeTitle: 'GATEWAY', recipientPublicKey: keys.publicJwk, ...config },
    args,
  });
  running.push(a);
  return a;
}

async function raw(port: number): Promise<RawScu> {
  const s = await RawScu.connect(port);
  sockets.push(s);
  return s;
}

async function rawAssociation(port: number, callingAe = 'RAWSCU'): Promise<RawScu> {
  const { scu } = await RawScu.open(port, { callingAe, contexts: [verificationContext()] });
  sockets.push(scu);
  return scu;
}

const both = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

/** The outcome of an A-ASSOCIATE-RQ the agent answers with A-ASSOCIATE-RJ (result, source, reason). */
const rejection = (result: number, source: number, reason: number) => ({
  kind: 'rejected',
  result,
  source,
  reason,
});

/** Exports the agent's spool into ROOT/`name`: it must hold `sopInstanceUid` with exactly the dataset `want`. */
async function expectExported(a: AgentProcess, name: string, sopInstanceUid: string, want: Buffer) {
  const out = await exportSpool(a.dataDir, keys, join(root, name));
  expect(out.code, out.stderr).toBe(0);
  const file = out.files.get(`${sopInstanceUid}.dcm`);
  expect(file, [...out.files.keys()].join(',')).toBeDefined();
  const got = await datasetAfterMeta(file!);
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

describe('called and calling AE titles', () => {
  it('rejects a wrong called AE title: storescu reports it and the agent logs who and why', async () => {
    const a = await agent();
    const r = await storescu({ port: a.port, calledAe: 'NOT_GATEWAY', files: [SAMPLE], timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(both(r)).toContain('Called AE Title Not Recognized');

    await expect.poll(() => events(a, 'dicom.association_rejected').length).toBe(1);
    const ev = events(a, 'dicom.association_rejected')[0]!;
    expect(ev.peer).toMatch(/^(::ffff:)?127\.0\.0\.1:\d+$/);
    expect(ev).toMatchObject({
      calledAe: 'NOT_GATEWAY',
      callingAe: 'STORESCU',
      result: 1,
      source: 1,
      rejectReason: 7,
    });
    expect(String(ev.reason)).toMatch(/called AE title "NOT_GATEWAY"/);

    // The same answer, byte for byte, to a raw SCU; then the agent hangs up.
    const scu = await raw(a.port);
    expect(await scu.associate({ calledAe: 'ELSEWHERE' })).toEqual(rejection(1, 1, 7));
    await scu.closed;
    expect((await spoolStatus(a.dataDir)).count).toBe(0);
  });

  it('accepts only calling AE titles on the allow-list', async () => {
    const a = await agent({ allowedCallingAeTitles: ['MODALITY1', 'PACS'] });
    const denied = await echoscu({ port: a.port, callingAe: 'INTRUDER', timeoutMs: 15_000 });
    expect(denied.code).not.toBe(0);
    expect(both(denied)).toContain('Calling AE Title Not Recognized');
    const scu = await raw(a.port);
    expect(await scu.associate({ callingAe: 'ALSO_NOT' })).toEqual(rejection(1, 1, 3));

    const allowed = await echoscu({ port: a.port, callingAe: 'MODALITY1', timeoutMs: 15_000 });
    expect(allowed.code, both(allowed)).toBe(0);
    const stored = await storescu({ port: a.port, callingAe: 'PACS', files: [SAMPLE], timeoutMs: 30_000 });
    expect(stored.code, both(stored)).toBe(0);

    const rejected = await eventsEventually(a, 'dicom.association_rejected', 2);
    expect(rejected.map((e) => [e.callingAe, e.rejectReason])).toEqual([
      ['INTRUDER', 3],
      ['ALSO_NOT', 3],
    ]);
    expect((await eventsEventually(a, 'dicom.association_accepted', 2)).map((e) => e.callingAe)).toEqual([
      'MODALITY1',
      'PACS',
    ]);
  });
});

describe('association limit', () => {
  it('rejects the association over maxAssociations as transient, and admits again once one is released', async () => {
    const a = await agent({ maxAssociations: 2 });
    const first = await rawAssociation(a.port, 'HOLDER1');
    const second = await rawAssociation(a.port, 'HOLDER2');
    expect((await first.echo()).status).toBe(0);
    expect((await second.echo()).status).toBe(0);

    const third = await echoscu({ port: a.port, timeoutMs: 15_000 });
    expect(third.code).not.toBe(0);
    expect(both(third)).toMatch(/Rejected Transient/);
    expect(both(third)).toMatch(/Local Limit Exceeded/);
    const scu = await raw(a.port);
    expect(await scu.associate()).toEqual(rejection(2, 3, 2));
    await scu.closed;
    const busy = await eventsEventually(a, 'dicom.association_rejected', 2);
    expect(busy).toHaveLength(2);
    expect(busy.every((e) => e.result === 2 && e.source === 3 && e.rejectReason === 2)).toBe(true);

    await first.release();
    // The slot is free once the agent has seen the connection close (it logs that synchronously).
    await expect
      .poll(() => events(a, 'dicom.association_closed').filter((e) => e.callingAe === 'HOLDER1').length)
      .toBe(1);
    const again = await echoscu({ port: a.port, timeoutMs: 15_000 });
    expect(again.code, both(again)).toBe(0);
    // The held association is untouched by all of this.
    expect((await second.echo(1, 2)).status).toBe(0);
  });
});

describe('timers', () => {
  it('ARTIM: a connection that never sends an A-ASSOCIATE-RQ is aborted and closed after artimMs', async () => {
    const a = await agent({ timeouts: { artimMs: 500, idleMs: 60_000 } });
    const started = Date.now();
    const scu = await raw(a.port);
    const pdu = await scu.nextPdu(10_000);
    await scu.closed;
    const ms = Date.now() - started;
    expect(pdu?.type).toBe(PduType.Abort);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(3000);
    expect((await eventsEventually(a, 'dicom.abort', 1)).map((e) => e.reason)).toEqual([
      'ARTIM timer expired after 500 ms',
    ]);
  });

  it('idle: an established association that goes silent is aborted after idleMs, activity keeps it alive', async () => {
    const a = await agent({ timeouts: { artimMs: 5000, idleMs: 800 } });
    const scu = await rawAssociation(a.port);
    // 5 echoes 400 ms apart: 2 s in total, never 800 ms of silence.
    for (let i = 1; i <= 5; i++) {
      await sleep(400);
      expect((await scu.echo(1, i)).status).toBe(0);
    }
    const silentFrom = Date.now();
    const pdu = await scu.nextPdu(10_000);
    await scu.closed;
    const ms = Date.now() - silentFrom;
    expect(pdu).toEqual({ type: PduType.Abort, body: Buffer.from([0, 0, 2, 0]) });
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(4000);
    expect((await eventsEventually(a, 'dicom.abort', 1)).map((e) => e.reason)).toEqual(['idle for 800 ms']);
    expect(await eventsEventually(a, 'dicom.association_closed', 1)).toEqual([
      expect.objectContaining({ released: false }),
    ]);
  });
});

describe('configuration', () => {
  it('refuses to start on an invalid agent.json and names the field', async () => {
    const base = { aeTitle: 'GATEWAY', host: '127.0.0.1', port: 4104, recipientPublicKey: keys.publicJwk };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['backslash AE title', { aeTitle: 'BAD\\AE' }, /aeTitle: AE title must not contain a backslash/],
      ['AE title over 16 characters', { aeTitle: 'A'.repeat(17) }, /aeTitle: /],
      ['port 70000', { port: 70000 }, /port: /],
      ['port 0', { port: 0 }, /port: /],
      ['private key as recipient', { recipientPublicKey: keys.privateJwk }, /recipientPublicKey: /],
      [
        'EC key as recipient',
        { recipientPublicKey: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } },
        /recipientPublicKey/,
      ],
      [
        'bad allow-list entry',
        { allowedCallingAeTitles: ['OK', 'HAS\\SLASH'] },
        /allowedCallingAeTitles\.1: /,
      ],
      ['artim too short', { timeouts: { artimMs: 5, idleMs: 1000 } }, /timeouts\.artimMs: /],
      ['tiny max PDU', { maxPduLength: 100 }, /maxPduLength: /],
      ['unknown key', { aeTitel: 'TYPO' }, /aeTitel/],
    ];
    for (const [name, patch, field] of cases) {
      const dataDir = await mkdtemp(join(root, 'badcfg-'));
      await writeAgentConfig(dataDir, { ...base, ...patch });
      const r = await startExpectingFailure(dataDir);
      expect(r.code, `${name}: ${both(r)}`).not.toBe(0);
      expect(r.code, `${name} did not exit by itself`).not.toBeNull();
      expect(r.stderr, name).toMatch(/config\.invalid/);
      expect(r.stderr, name).toMatch(field);
    }

    const dataDir = await mkdtemp(join(root, 'badflags-'));
    await writeAgentConfig(dataDir, base);
    for (const [args, field] of [
      [['--port', '70000'], /port: /],
      [['--port', 'abc'], /--port must be an integer/],
      [['--ae-title', 'NO\\PE'], /aeTitle: AE title must not contain a backslash/],
    ] as const) {
      const r = await startExpectingFailure(dataDir, [...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr, args.join(' ')).toMatch(field);
    }
    const missing = await startExpectingFailure(join(root, 'no-such-dir'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/agent\.json does not exist/);
  });

  it('--port and --ae-title override agent.json', async () => {
    const filePort = await freePort();
    const flagPort = await freePort();
    const a = await agent({ port: filePort, aeTitle: 'FROM_FILE' }, [
      '--port',
      String(flagPort),
      '--ae-title',
      'FROM_FLAG',
    ]);
    expect(a.port).toBe(flagPort);
    expect(a.logLines().find((l) => l.event === 'agent.ready')).toMatchObject({ aeTitle: 'FROM_FLAG' });
    const ok = await echoscu({ port: flagPort, calledAe: 'FROM_FLAG', timeoutMs: 15_000 });
    expect(ok.code, both(ok)).toBe(0);
    const fileAe = await echoscu({ port: flagPort, calledAe: 'FROM_FILE', timeoutMs: 15_000 });
    expect(both(fileAe)).toContain('Called AE Title Not Recognized');
    const filePortTry = await echoscu({ port: filePort, calledAe: 'FROM_FLAG', timeoutMs: 15_000 });
    expect(filePortTry.code).not.toBe(0);
  });
});

describe('C-STORE checks', () => {
  it('answers 0xA900 when the dataset SOP Instance UID differs from the request, and stores nothing', async () => {
    const a = await agent();
    const sample = await readPart10(SAMPLE);
    expect(sample.transferSyntaxUid).toBe(Uids.ExplicitVRLittleEndian);
    const { scu } = await RawScu.open(a.port, {
      contexts: [
        { id: 1, abstractSyntax: sample.sopClassUid, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
      ],
    });
    sockets.push(scu);
    const base = { contextId: 1, sopClassUid: sample.sopClassUid, dataset: sample.dataset, pdvSize: 1000 };

    const wrongInstance = await scu.store({
      ...base,
      messageId: 1,
      sopInstanceUid: `${sample.sopInstanceUid}.9`,
    });
    expect(wrongInstance.status).toBe(0xa900);
    expect(wrongInstance.messageIdBeingRespondedTo).toBe(1);
    expect(wrongInstance.errorComment).toMatch(/SOP Instance UID differs/);
    expect(wrongInstance.errorComment!.length).toBeLessThanOrEqual(64);

    const wrongClass = await scu.store({
      ...base,
      messageId: 2,
      sopClassUid: Uids.CtImageStorage,
      sopInstanceUid: sample.sopInstanceUid,
    });
    expect(wrongClass.status).toBe(0xa900);
    expect(wrongClass.errorComment).toMatch(/SOP Class UID/);

    // Nothing stored: no index entry (where a small object would live, inline) and no file.
    expect(await indexEntries(a.dataDir)).toEqual([]);
    expect(await spoolDirs(a.dataDir)).toEqual({ tmp: [], objects: [] });
    expect((await spoolStatus(a.dataDir)).count).toBe(0);
    const stores = await eventsEventually(a, 'dicom.store', 2);
    expect(stores.map((e) => e.status)).toEqual(['0xa900', '0xa900']);

    // The same association still works, and the matching request is stored byte for byte.
    const good = await scu.store({ ...base, messageId: 3, sopInstanceUid: sample.sopInstanceUid });
    expect(good).toMatchObject({ status: 0, affectedSopInstanceUid: sample.sopInstanceUid });
    await scu.release();
    expect((await spoolStatus(a.dataDir)).count).toBe(1);
    const entries = await indexEntries(a.dataDir);
    expect(entries.map((e) => e.sopInstanceUid)).toEqual([sample.sopInstanceUid]);
    expect(await layoutProblems(a.dataDir, entries)).toEqual([]);
    await expectExported(a, 'export-a900', sample.sopInstanceUid, sample.dataset);
  });
});

describe('TLS', () => {
  it('receives a C-STORE over TLS from storescu and exports it byte-identical', async () => {
    const dir = join(root, 'tls');
    await mkdir(dir, { recursive: true });
    const { cert, key } = await selfSignedCert(
      { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
      'localhost',
    );
    const a = await agent({ tls: { cert, key } });
    expect(events(a, 'dicom.listening')).toEqual([expect.objectContaining({ tls: true })]);

    // Anonymous TLS on our side (+tla), trusting exactly the agent's self-signed certificate (+cf).
    const tlsArgs = ['+tla', '+cf', cert];
    const r = await storescu({
      port: a.port,
      files: [SAMPLE],
      extraArgs: tlsArgs,
      verbose: true,
      timeoutMs: 30_000,
    });
    expect(r.code, both(r)).toBe(0);
    expect(both(r)).toContain('Received Store Response (Success)');

    // Plain TCP to the TLS port gets nowhere, and a client that does not trust the cert is refused.
    const plain = await echoscu({ port: a.port, timeoutMs: 15_000 });
    expect(plain.code).not.toBe(0);
    const { cert: otherCa } = await selfSignedCert(
      { cert: join(dir, 'other.crt'), key: join(dir, 'other.key') },
      'other',
    );
    const untrusted = await echoscu({ port: a.port, extraArgs: ['+tla', '+cf', otherCa], timeoutMs: 15_000 });
    expect(untrusted.code).not.toBe(0);
    const trusted = await echoscu({ port: a.port, extraArgs: tlsArgs, timeoutMs: 15_000 });
    expect(trusted.code, both(trusted)).toBe(0);

    const status = await spoolStatus(a.dataDir);
    expect(status.count).toBe(1);
    const sample = await readPart10(SAMPLE);
    await expectExported(a, 'export-tls', sample.sopInstanceUid, await datasetAfterMeta(SAMPLE));
  });
});

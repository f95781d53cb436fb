// Issue 16, "never make a sender change its data": the agent accepts the transfer syntax a sender
// proposes first, so every compressed pydicom sample sent by dcmsend (one association, its default
// [file TS, uncompressed…] contexts) and by storescu +C (one context per SOP class, the file's TS
// first) is stored in the file's own transfer syntax, its dataset byte for byte the file's. A
// nonexistent transfer syntax and an arbitrary SOP class are refused per context while the other
// contexts of the same association are accepted, and a UID the admin lists as private is accepted.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { TS } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  events,
  type RecipientKeys,
  removeScratch,
  scratchAgent,
  storeEvents,
  waitFor,
} from '../harness/agent.js';
import { pydicomSamples } from '../harness/corpus.js';
import {
  datasetAfterMeta,
  freePort,
  parseStorescuOutput,
  requireTool,
  runDcmtk,
  startStorescp,
  storescu,
  type ToolResult,
} from '../harness/dcmtk.js';
import { RawScu, readPart10 } from '../harness/raw-scu.js';
import { listFiles, META, readMeta, sha256, stopAndExportAll } from '../harness/spool.js';

const NONEXISTENT_TS = '1.2.840.10008.1.2.9.9';
const CT = '1.2.840.10008.5.1.4.1.1.2';
/** As long as CT Image Storage's UID, so CT_small's dataset can carry it without re-encoding. */
const PRIVATE_CLASS = '1.2.826.0.1.3680043.99.77';
const PRIVATE_TS = '1.2.826.0.1.3680043.99.78';
const UNCOMPRESSED = new Set<string>([
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
]);
const SEND_TIMEOUT_MS = 120_000;
/** Debian's dcmtk package ships it; its Default profile prefers compressed transfer syntaxes. */
const STORESCP_CFG = '/etc/dcmtk/storescp.cfg';

interface Compressed {
  file: string;
  options: string[];
  transferSyntax: string;
  datasetSha: string;
}

/** The samples whose transfer syntax is compressed (encapsulated pixel data or deflate). */
async function compressedSamples(): Promise<Compressed[]> {
  const out: Compressed[] = [];
  for (const s of pydicomSamples()) {
    const p10 = await readPart10(s.file).catch(() => undefined); // a few samples have no meta header
    if (!p10 || UNCOMPRESSED.has(p10.transferSyntaxUid)) continue;
    out.push({ ...s, transferSyntax: p10.transferSyntaxUid, datasetSha: sha256(p10.dataset) });
  }
  return out;
}

/** `TS sha256(dataset)` of every Part-10 file under `dir`. */
async function keptDatasets(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const file of await listFiles(dir)) {
    const ts = (await readMeta(file))?.values.get(META.transferSyntaxUid);
    out.push(`${ts} ${sha256(await datasetAfterMeta(file))}`);
  }
  return out;
}

/** CT_small's dataset with its SOP Class UID replaced in place by PRIVATE_CLASS. */
async function privateClassDataset(): Promise<{ dataset: Buffer; sopInstanceUid: string }> {
  const ct = pydicomSamples().find((s) => basename(s.file) === 'CT_small.dcm');
  const p10 = await readPart10(ct?.file ?? '');
  const dataset = Buffer.from(p10.dataset);
  const at = dataset.indexOf(Buffer.from(`${CT}\0`, 'latin1'));
  expect(at).toBeGreaterThan(0);
  dataset.write(PRIVATE_CLASS, at, 'latin1');
  return { dataset, sopInstanceUid: p10.sopInstanceUid };
}

describe('transfer syntax negotiation: senders keep their data as they hold it', () => {
  let root = '';
  let keys: RecipientKeys;
  let agent: AgentProcess;
  let samples: Compressed[] = [];
  let expectedStores = 0;

  beforeAll(async () => {
    for (const tool of ['dcmsend', 'storescu', 'storescp']) requireTool(tool);
    if (!existsSync(STORESCP_CFG))
      throw new Error(`${STORESCP_CFG} is missing: install Debian's dcmtk package`);
    samples = await compressedSamples();
    ({ root, keys, agent } = await scratchAgent('ts-negotiation', {
      privateSopClasses: [PRIVATE_CLASS],
      privateTransferSyntaxes: [PRIVATE_TS],
    }));
  });

  afterAll(() => removeScratch(root, agent));

  it('refuses a nonexistent transfer syntax (4) and an arbitrary SOP class (3) per context; listed private UIDs are accepted', async () => {
    const scu = await RawScu.connect(agent.port);
    try {
      const outcome = await scu.associate({
        calledAe: 'GATEWAY',
        contexts: [
          { id: 1, abstractSyntax: CT, transferSyntaxes: [NONEXISTENT_TS] },
          { id: 3, abstractSyntax: '1.2.3', transferSyntaxes: [TS.ExplicitVRLittleEndian] },
          { id: 5, abstractSyntax: PRIVATE_CLASS, transferSyntaxes: [TS.ExplicitVRLittleEndian] },
          { id: 7, abstractSyntax: CT, transferSyntaxes: [PRIVATE_TS, TS.ExplicitVRLittleEndian] },
          { id: 9, abstractSyntax: '1.3.12.2.1107.5.9.1', transferSyntaxes: [TS.ExplicitVRLittleEndian] },
        ],
      });
      if (outcome.kind !== 'accepted') throw new Error(`association ${outcome.kind}`);
      // A refused context's transfer syntax is not significant (PS3.8 9.3.3.2).
      expect(
        outcome.ac.contexts.map((c) => (c.result === 0 ? [c.id, 0, c.transferSyntax] : [c.id, c.result])),
      ).toEqual([
        [1, 4],
        [3, 3],
        [5, 0, TS.ExplicitVRLittleEndian],
        [7, 0, PRIVATE_TS],
        [9, 3], // Siemens CSA: the admin's list replaced the default vendor list
      ]);
      // The private class stores through its context like any storage class.
      const { dataset, sopInstanceUid } = await privateClassDataset();
      const rsp = await scu.store({ contextId: 5, sopClassUid: PRIVATE_CLASS, sopInstanceUid, dataset });
      expect(rsp.status).toBe(0);
      await scu.release();
    } finally {
      scu.destroy();
    }
    expectedStores += 1;
  }, 60_000);

  it('stores every compressed sample from dcmsend and from storescu +C in its own transfer syntax, byte-identical', async () => {
    expect(samples.length).toBeGreaterThanOrEqual(30);
    expect(new Set(samples.map((s) => s.transferSyntax)).size).toBeGreaterThanOrEqual(8);
    const files = samples.map((s) => s.file);
    // storescu proposes one preferred transfer syntax per run (its -x option): one run per option.
    const byOptions = new Map<string, string[]>();
    for (const s of samples)
      byOptions.set(s.options.join(' '), [...(byOptions.get(s.options.join(' ')) ?? []), s.file]);

    // The same sends go to DCMTK's storescp +B (bit-preserving; its Default profile takes the
    // compressed syntax of each context), which shows what the tools put on the wire: DCMTK re-encodes
    // some datasets as it reads them (sequence lengths, trailing padding, a fresh deflate stream).
    const refDir = join(root, 'ref');
    await mkdir(refDir);
    const ref = await startStorescp({
      port: await freePort(),
      outDir: refDir,
      extraArgs: ['+uf'],
      configFile: { file: STORESCP_CFG, profile: 'Default' },
    });
    const send = (port: number, calledAe: string) => [
      runDcmtk('dcmsend', ['-v', '-ma', '-aec', calledAe, '127.0.0.1', String(port), ...files], {
        timeoutMs: SEND_TIMEOUT_MS,
      }),
      ...[...byOptions].map(([options, group]) =>
        storescu({
          port,
          calledAe,
          files: group,
          extraArgs: ['+C', ...options.split(' ').filter((o) => o !== '')],
          verbose: true,
          timeoutMs: SEND_TIMEOUT_MS,
        }),
      ),
    ];
    let runs: ToolResult[];
    try {
      runs = await Promise.all([...send(agent.port, 'GATEWAY'), ...send(ref.port, 'REF')]);
    } finally {
      await ref.stop();
    }
    const perTarget = runs.length / 2;
    for (const [i, r] of runs.entries()) {
      const to = i < perTarget ? 'agent' : 'storescp';
      expect(r.code, `${to}: ${r.stderr.slice(-3000)}`).toBe(0);
      if (i % perTarget === 0) {
        // dcmsend: every file in one association.
        expect(r.stderr, to).toMatch(new RegExp(`with status SUCCESS\\s*: ${files.length}\\b`));
        expect(r.stderr, to).toMatch(/Number of associations\s*: 1\b/);
        continue;
      }
      const summary = parseStorescuOutput(r.stderr);
      expect({ to, failed: summary.failed, errors: summary.errors }).toEqual({ to, failed: 0, errors: [] });
      // storescu logs "Converting transfer syntax: A -> B" for every file; A is B when nothing changes.
      const conversions = [...r.stderr.matchAll(/Converting transfer syntax: (.*) -> (.*)$/gm)];
      expect(conversions.length, to).toBe(summary.succeeded);
      expect(
        conversions.filter((m) => m[1] !== m[2]).map((m) => m[0]),
        to,
      ).toEqual([]);
    }
    const toAgent = runs.slice(1, perTarget);
    expect(toAgent.reduce((n, r) => n + parseStorescuOutput(r.stderr).succeeded, 0)).toBe(files.length);
    expectedStores += 2 * files.length;

    await waitFor(
      () => storeEvents(agent).length >= expectedStores,
      10_000,
      `${expectedStores} store events`,
    );
    expect(storeEvents(agent)).toHaveLength(expectedStores);
    expect(storeEvents(agent).filter((e) => e.status !== '0x0000')).toEqual([]);
    expect(events(agent, 'dicom.store_aborted')).toEqual([]);

    // What the reference received: all 2 × N datasets, each in its file's transfer syntax.
    const received = await keptDatasets(refDir);
    expect(received.map((k) => k.split(' ')[0]).sort()).toEqual(
      [...samples, ...samples].map((s) => s.transferSyntax).sort(),
    );
    // What the agent kept, decrypted: exactly those datasets, byte for byte, under the same transfer
    // syntax (a decompressed or re-encoded copy would differ), plus the one private-class store.
    const exportDir = join(root, 'export');
    await stopAndExportAll(agent, keys, exportDir);
    const kept = new Set(await keptDatasets(exportDir));
    expect([...new Set(received)].filter((k) => !kept.has(k))).toEqual([]);
    expect([...kept].filter((k) => !received.includes(k)).map((k) => k.split(' ')[0])).toEqual([
      TS.ExplicitVRLittleEndian,
    ]);
    // Where the tools send a file's dataset unchanged, that is what the agent holds: the file's bytes.
    const asInFile = samples.filter((s) => kept.has(`${s.transferSyntax} ${s.datasetSha}`));
    const changedBySender = samples.filter((s) => !received.includes(`${s.transferSyntax} ${s.datasetSha}`));
    expect(asInFile.length + changedBySender.length).toBe(samples.length);
    console.info(
      `transfer-syntax-negotiation: ${samples.length} compressed samples, ${asInFile.length} stored byte-identical ` +
        `to the file; DCMTK re-encodes the other ${changedBySender.length} as it sends them ` +
        `(${changedBySender.map((s) => basename(s.file)).join(', ')}), stored byte-identical to what it sent`,
    );
  }, 300_000);
});

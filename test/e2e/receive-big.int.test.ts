// One multi-frame instance of more than 1 GiB: the agent must stream it to the encrypted spool (bounded
// memory), and export must give back the exact dataset. Everything is hashed as a stream here too.
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type RecipientKeys,
  recipientKeys,
  scratch,
  startAgent,
} from '../harness/agent.js';
import { bigInstance, CORPUS_PATIENT_NAMES } from '../harness/corpus.js';
import { parseStorescuOutput, requireTool, storescu } from '../harness/dcmtk.js';
import {
  distinctiveWindow,
  exportSpool,
  listFiles,
  META,
  type PartTenMeta,
  readMeta,
  searchFiles,
  sha256File,
  sha256Part10,
  spoolDir,
  statusJson,
  storeEvents,
  waitFor,
} from './receive-helpers.js';
import { indexEntries, layoutProblems, logSegments } from './spool-layout.js';

const GiB = 1024 * 1024 * 1024;
/** Pixel data of at least 1 GiB + 1 MiB (the generator rounds up to whole 512x512x16-bit frames). */
const PIXEL_BYTES = GiB + 1024 * 1024;
const MAX_AGENT_RSS = 400 * 1024 * 1024;

describe('receive: a single instance larger than 1 GiB', () => {
  let root = '';
  let keys: RecipientKeys;
  let agent: AgentProcess;
  let dataDir = '';
  let source = '';
  let sourceMeta: PartTenMeta;
  let sourceSize = 0;

  beforeAll(async () => {
    requireTool('storescu');
    source = await bigInstance(PIXEL_BYTES);
    const meta = await readMeta(source);
    if (!meta) throw new Error(`${source} has no File Meta Information`);
    sourceMeta = meta;
    sourceSize = (await stat(source)).size;
    root = await scratch('receive-big');
    keys = await recipientKeys(join(root, 'keys'));
    dataDir = join(root, 'agent');
    agent = await startAgent({ dataDir, config: { recipientPublicKey: keys.publicJwk } });
  }, 900_000);

  afterAll(async () => {
    await agent?.stop();
    // The spool and export copies are >1 GiB each; the generated source stays in the corpus cache.
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it('stores it with Success while the agent stays under 400 MiB RSS', async () => {
    expect(sourceSize).toBeGreaterThan(GiB);
    const datasetBytes = sourceSize - sourceMeta.datasetOffset;

    const r = await storescu({ port: agent.port, files: [source], verbose: true, timeoutMs: 240_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(parseStorescuOutput(r.stderr).outcomes.map((o) => o.status)).toEqual(['Success']);

    await waitFor(() => storeEvents(agent).length >= 1, 5000, 'the store event');
    const [event] = storeEvents(agent);
    expect(event).toMatchObject({
      status: '0x0000',
      sopInstanceUid: sourceMeta.values.get(META.sopInstanceUid),
      bytes: datasetBytes,
      version: 1,
    });

    const peak = await agent.peakRss();
    console.info(
      `receive-big: ${datasetBytes} dataset bytes; agent peak RSS ${(peak / 1024 / 1024).toFixed(1)} MiB`,
    );
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(MAX_AGENT_RSS);

    const status = await statusJson(dataDir);
    expect(status.count).toBe(1);
    expect(status.studies).toHaveLength(1);
    expect(status.studies[0]?.instances).toBe(1);
    const entries = await indexEntries(dataDir);
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry.objectBytes).toBeGreaterThan(datasetBytes);
    // Far past the inline limit: objects/<id>.fobj of exactly objectBytes, nothing else, tmp/ empty.
    expect(entry.inline).toBe(false);
    expect((await stat(join(spoolDir(dataDir), 'objects', `${entry.id}.fobj`))).size).toBe(entry.objectBytes);
    expect(await layoutProblems(dataDir, entries)).toEqual([]);
  }, 300_000);

  it('exports the identical dataset (SHA-256 streamed) and keeps no plaintext in the spool', async () => {
    await agent.stop();
    expect(await agent.exited).toBe(0);
    const entries = await indexEntries(dataDir);
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;

    const out = join(root, 'export');
    const r = await exportSpool(dataDir, keys.privatePath, out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('exported 1 of 1 instance(s)');
    const exported = await listFiles(out);
    expect(exported).toEqual([join(out, entry.studyInstanceUid ?? '', `${entry.sopInstanceUid}.dcm`)]);
    const file = exported[0]!;

    const meta = await readMeta(file);
    expect(meta?.values.get(META.transferSyntaxUid)).toBe(sourceMeta.values.get(META.transferSyntaxUid));
    expect(meta?.values.get(META.sopInstanceUid)).toBe(sourceMeta.values.get(META.sopInstanceUid));
    expect(meta?.values.get(META.sopClassUid)).toBe(sourceMeta.values.get(META.sopClassUid));

    // Hash the two datasets one after the other (not in parallel: two cores, and both are >1 GiB).
    const want = await sha256File(source, sourceMeta.datasetOffset);
    const got = await sha256Part10(file, meta?.datasetOffset ?? 0);
    expect(got.datasetBytes).toBe(want.bytes);
    expect(got.dataset).toBe(want.sha256);
    // The whole exported file is the plaintext the index hashed.
    expect({ sha256: got.whole, bytes: got.bytes }).toEqual({
      sha256: entry.sha256,
      bytes: entry.plainBytes,
    });

    // Plaintext checks on the 1 GiB object: patient name, and stretches of pixel data from three places.
    const needles: { label: string; bytes: Buffer }[] = [
      { label: CORPUS_PATIENT_NAMES.big, bytes: Buffer.from(CORPUS_PATIENT_NAMES.big, 'latin1') },
      { label: 'FERRYBIG0001', bytes: Buffer.from('FERRYBIG0001', 'latin1') },
    ];
    const fh = await open(source, 'r');
    try {
      for (const at of [sourceMeta.datasetOffset, Math.floor(sourceSize / 2), sourceSize - 4096]) {
        const buf = Buffer.alloc(4096);
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        const w = distinctiveWindow(buf.subarray(0, bytesRead), 0);
        if (!w) throw new Error(`no distinctive window at ${at}`);
        needles.push({ label: `source@${at}`, bytes: w });
      }
    } finally {
      await fh.close();
    }
    // The search itself works: every needle is in the decrypted export.
    const inExport = (await searchFiles([file], needles)).map((h) => h.label);
    expect(inExport.sort()).toEqual(needles.map((n) => n.label).sort());
    // Every file under the spool, the log segments (which hold the index) included.
    const spoolFiles = await listFiles(spoolDir(dataDir));
    expect(spoolFiles).toEqual(expect.arrayContaining(await logSegments(dataDir)));
    expect((await logSegments(dataDir)).length).toBeGreaterThan(0);
    expect(await searchFiles(spoolFiles, needles)).toEqual([]);
    expect(agent.output()).not.toContain(CORPUS_PATIENT_NAMES.big);
  }, 300_000);
});

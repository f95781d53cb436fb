// One multi-frame instance of more than 1 GiB: the agent must stream it to the encrypted spool (bounded
// memory), and export must give back the exact dataset. Everything is hashed as a stream here too.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type RecipientKeys,
  removeScratch,
  scratchAgent,
  storeEvents,
  waitFor,
} from '../harness/agent.js';
import { bigInstance, CORPUS_PATIENT_NAMES } from '../harness/corpus.js';
import { parseStorescuOutput, requireTool, storescu } from '../harness/dcmtk.js';
import {
  distinctiveWindow,
  indexEntries,
  layoutProblems,
  listFiles,
  META,
  type Needle,
  type PartTenMeta,
  readMeta,
  searchFiles,
  sha256File,
  sha256Part10,
  spoolDir,
  spoolFilesToSearch,
  spoolStatus,
  stopAndExportAll,
  stringNeedles,
} from '../harness/spool.js';

const GiB = 1024 * 1024 * 1024;
/** Pixel data of at least 1 GiB + 1 MiB (the generator rounds up to whole 512x512x16-bit frames). */
const PIXEL_BYTES = GiB + 1024 * 1024;
const MAX_AGENT_RSS = 400 * 1024 * 1024;

describe('receive: a single instance larger than 1 GiB', () => {
  let root = '';
  let keys: RecipientKeys;
  let agent: AgentProcess;
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
    ({ root, keys, agent } = await scratchAgent('receive-big'));
  }, 900_000);

  afterAll(async () => {
    // The spool and export copies are >1 GiB each; the generated source stays in the corpus cache.
    await removeScratch(root, agent);
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

    const status = await spoolStatus(agent.dataDir);
    expect(status.count).toBe(1);
    expect(status.studies).toHaveLength(1);
    expect(status.studies[0]?.instances).toBe(1);
    const entries = await indexEntries(agent.dataDir);
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry.objectBytes).toBeGreaterThan(datasetBytes);
    // Far past the inline limit: objects/<id>.fobj of exactly objectBytes, nothing else, tmp/ empty.
    expect(entry.inline).toBe(false);
    expect((await stat(join(spoolDir(agent.dataDir), 'objects', `${entry.id}.fobj`))).size).toBe(
      entry.objectBytes,
    );
    expect(await layoutProblems(agent.dataDir, entries)).toEqual([]);
  }, 300_000);

  it('exports the identical dataset (SHA-256 streamed) and keeps no plaintext in the spool', async () => {
    const out = join(root, 'export');
    const { entries } = await stopAndExportAll(agent, keys, out);
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
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
    const needles: Needle[] = stringNeedles([CORPUS_PATIENT_NAMES.big, 'FERRYBIG0001']);
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
    expect(await searchFiles(await spoolFilesToSearch(agent.dataDir), needles)).toEqual([]);
    expect(agent.output()).not.toContain(CORPUS_PATIENT_NAMES.big);
  }, 300_000);
});

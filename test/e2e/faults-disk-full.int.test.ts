// The spool disk fills up mid-send: the sender is told 0xA700, the agent stays up, the spool stays
// consistent (every indexed object decrypts, nothing half-written), and receiving resumes once space
// is freed. Runs on a 3 MiB tmpfs, so it needs root (mount); a failed mount fails the test.
// The ~9.5 KB instances are sealed inline in their log record, so it is the log write that hits the
// full disk: no object file is involved, and a failed record must leave no trace in the index.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  eventsEventually,
  keyedScratch,
  type RecipientKeys,
  removeScratch,
  startAgent,
} from '../harness/agent.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { datasetAfterMeta, echoscu, parseStorescuOutput, storescu } from '../harness/dcmtk.js';
import { RawScu, readPart10, Uids } from '../harness/raw-scu.js';
import {
  duplicateEntries,
  exportSpool,
  indexEntries,
  layoutProblems,
  spoolDirs,
  spoolStatus,
} from '../harness/spool.js';

const run = promisify(execFile);

let root: string;
let mnt: string;
let mounted = false;
let keys: RecipientKeys;
let corpus: string[];
let agent: AgentProcess | undefined;

beforeAll(async () => {
  corpus = await corpusFiles(await smallCorpus());
  ({ root, keys } = await keyedScratch('faults-disk'));
  mnt = join(root, 'tmpfs');
  await mkdir(mnt);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
  } catch (err) {
    throw new Error(`cannot mount a tmpfs for the disk-full test (needs root): ${(err as Error).message}`);
  }
  mounted = true;
}, 600_000);

afterAll(async () => {
  await agent?.stop();
  if (mounted) await run('umount', [mnt]);
  await removeScratch(root);
});

describe('spool disk full', () => {
  it('answers 0xA700, keeps the spool consistent and recovers when space is freed', async () => {
    const dataDir = join(mnt, 'agent');
    // Unrelated data on the same disk, deleted later to make room.
    const filler = join(mnt, 'filler.bin');
    await writeFile(filler, randomBytes(1 << 20));
    agent = await startAgent({ dataDir, config: { aeTitle: 'GATEWAY', recipientPublicKey: keys.publicJwk } });

    // ~9.5 KB each: 400 of them are more than the ~2 MiB left.
    const batch = corpus.slice(0, 400);
    const send = await storescu({
      port: agent.port,
      files: batch,
      verbose: true,
      noHalt: true,
      timeoutMs: 120_000,
    });
    expect(send.code, send.stderr).toBe(0);
    const summary = parseStorescuOutput(send.stderr);
    expect(summary.outcomes).toHaveLength(batch.length);
    expect(summary.succeeded).toBeGreaterThan(10);
    expect(summary.failed).toBeGreaterThan(0);
    const statuses = new Set(summary.outcomes.filter((o) => !o.ok).map((o) => o.status));
    expect([...statuses]).toEqual(['Refused: OutOfResources']);

    // The status and reason, read straight off the wire.
    const probe = await readPart10(corpus[500]!);
    const { scu } = await RawScu.open(agent.port, {
      contexts: [
        { id: 1, abstractSyntax: probe.sopClassUid, transferSyntaxes: [Uids.ExplicitVRLittleEndian] },
      ],
    });
    const rsp = await scu.store({
      contextId: 1,
      sopClassUid: probe.sopClassUid,
      sopInstanceUid: probe.sopInstanceUid,
      dataset: probe.dataset,
    });
    expect(rsp.status).toBe(0xa700);
    expect(rsp.errorComment).toMatch(/spool disk is full/);
    await scu.release();

    // Still up and answering.
    expect(agent.child.exitCode).toBeNull();
    const echo = await echoscu({ port: agent.port, timeoutMs: 15_000 });
    expect(echo.code, echo.stderr).toBe(0);
    const stores = await eventsEventually(agent, 'dicom.store', batch.length + 1);
    expect(stores.filter((e) => e.status === '0xa700').length).toBe(summary.failed + 1);

    // The spool holds exactly what was acknowledged, nothing half-written, and all of it decrypts.
    const acknowledged = summary.outcomes.filter((o) => o.status === 'Success').map((o) => o.file);
    const status = await spoolStatus(dataDir);
    expect(status.count).toBe(acknowledged.length);
    const entries = await indexEntries(dataDir);
    expect(entries).toHaveLength(acknowledged.length);
    // Exactly the acknowledged instances are indexed, each once.
    const acknowledgedUids = await Promise.all(
      acknowledged.map(async (f) => (await readPart10(f)).sopInstanceUid),
    );
    expect(entries.map((e) => e.sopInstanceUid).sort()).toEqual(acknowledgedUids.sort());
    expect(duplicateEntries(entries)).toEqual([]);
    // All of them are inline (so a full disk can only have refused their log records), and the files
    // agree: no object file, no leftover .part.
    expect(entries.filter((e) => !e.inline).map((e) => e.id)).toEqual([]);
    expect(await layoutProblems(dataDir, entries)).toEqual([]);
    expect(await spoolDirs(dataDir)).toEqual({ tmp: [], objects: [] });

    // Soft: a truncated object must fail the test, but the recovery below still deserves a verdict.
    const out = await exportSpool(dataDir, keys, join(root, 'export-full'));
    expect.soft(out.code, `every acknowledged object must decrypt: ${out.stderr}`).toBe(0);
    expect.soft(out.stdout).toContain(`exported ${acknowledged.length} of ${acknowledged.length}`);
    for (const file of acknowledged) {
      const src = await readPart10(file);
      const exported = out.files.get(`${src.sopInstanceUid}.dcm`);
      expect.soft(exported, `${basename(file)} was acknowledged but does not export`).toBeDefined();
      if (exported)
        expect.soft((await datasetAfterMeta(exported)).equals(src.dataset), basename(file)).toBe(true);
    }

    // Free space: the next send goes through.
    await rm(filler);
    const failedFile = summary.outcomes.find((o) => !o.ok)!.file;
    const retry = await storescu({
      port: agent.port,
      files: [failedFile, corpus[500]!],
      verbose: true,
      timeoutMs: 60_000,
    });
    expect(retry.code, retry.stderr).toBe(0);
    expect(parseStorescuOutput(retry.stderr)).toMatchObject({ succeeded: 2, failed: 0 });
    expect((await spoolStatus(dataDir)).count).toBe(acknowledged.length + 2);
    const after = await indexEntries(dataDir);
    expect(after).toHaveLength(acknowledged.length + 2);
    const retried = [
      (await readPart10(failedFile)).sopInstanceUid,
      (await readPart10(corpus[500]!)).sopInstanceUid,
    ];
    expect(after.map((e) => e.sopInstanceUid).sort()).toEqual([...acknowledgedUids, ...retried].sort());
    expect(duplicateEntries(after)).toEqual([]);
    expect(await layoutProblems(dataDir, after)).toEqual([]);
  }, 300_000);
});

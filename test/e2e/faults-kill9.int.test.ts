// kill -9 of the agent in the middle of a large C-STORE: nothing half-written may survive the restart,
// nobody was told "stored", and the sender's retry must be stored byte for byte.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  events,
  keyedScratch,
  type RecipientKeys,
  removeScratch,
  startAgent,
} from '../harness/agent.js';
import { bigInstance } from '../harness/corpus.js';
import { freePort, storescu } from '../harness/dcmtk.js';
import {
  datasetHash,
  exportSpool,
  indexEntries,
  layoutProblems,
  sha256File,
  spoolDirs,
  spoolStatus,
} from '../harness/spool.js';

const BIG_BYTES = 256 * 1024 * 1024;

let root: string;
let keys: RecipientKeys;
let big: string;
let agent: AgentProcess | undefined;

beforeAll(async () => {
  big = await bigInstance(BIG_BYTES);
  ({ root, keys } = await keyedScratch('faults-kill9'));
}, 900_000);

afterAll(async () => {
  await agent?.kill9();
  await removeScratch(root);
});

async function largestPart(tmpDir: string): Promise<number> {
  let max = 0;
  for (const f of await readdir(tmpDir).catch(() => [] as string[])) {
    if (!f.endsWith('.part')) continue;
    const s = await stat(join(tmpDir, f)).catch(() => undefined);
    if (s && s.size > max) max = s.size;
  }
  return max;
}

describe('agent killed with SIGKILL mid-transfer', () => {
  it('recovers to an empty spool and stores the retry byte-identical', async () => {
    const dataDir = join(root, 'agent');
    const config = { aeTitle: 'GATEWAY', port: await freePort(), recipientPublicKey: keys.publicJwk };
    agent = await startAgent({ dataDir, config });
    const tmpDir = join(dataDir, 'spool', 'tmp');
    const fileBytes = (await stat(big)).size;

    const firstSend = storescu({ port: agent.port, files: [big], timeoutMs: 180_000 });
    await expect
      .poll(() => largestPart(tmpDir), { timeout: 120_000, interval: 10 })
      .toBeGreaterThan(50 * 1024 * 1024);
    const partAtKill = await largestPart(tmpDir);
    await agent.kill9();
    const first = await firstSend;
    expect(first.code, 'storescu must not report success for a store the agent never answered').not.toBe(0);
    // Killed well before the end: the crash left a partial object and no index entry.
    expect(partAtKill).toBeLessThan(fileBytes);
    const crashed = await spoolDirs(dataDir);
    expect(crashed.tmp.filter((f) => f.endsWith('.part'))).toHaveLength(1);
    expect(crashed.objects).toEqual([]);
    expect(await indexEntries(dataDir)).toEqual([]);

    agent = await startAgent({ dataDir, config });
    expect(events(agent, 'spool.recovered')).toEqual([
      expect.objectContaining({ removedPartials: 1, removedOrphans: 0, entries: 0 }),
    ]);
    expect(events(agent, 'spool.corrupt')).toEqual([]);
    expect((await spoolStatus(dataDir)).count).toBe(0);
    expect(await indexEntries(dataDir)).toEqual([]);
    expect(await spoolDirs(dataDir)).toEqual({ tmp: [], objects: [] });

    const retry = await storescu({ port: agent.port, files: [big], verbose: true, timeoutMs: 180_000 });
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stderr).toContain('Received Store Response (Success)');
    const status = await spoolStatus(dataDir);
    expect(status.count).toBe(1);
    const entries = await indexEntries(dataDir);
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    // 256 MiB is far past the inline limit: the object is its own file, of the size the index says.
    expect(entry.inline).toBe(false);
    expect(await spoolDirs(dataDir)).toEqual({ tmp: [], objects: [`${entry.id}.fobj`] });
    expect(await layoutProblems(dataDir, entries)).toEqual([]);
    await agent.stop();
    agent = undefined;

    const out = await exportSpool(dataDir, keys, join(root, 'export'));
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('exported 1 of 1');
    const [exported] = [...out.files.values()];
    expect(exported).toBeDefined();
    const want = await datasetHash(big);
    const got = await datasetHash(exported!);
    expect(got.bytes).toBe(want.bytes);
    expect(got.sha256).toBe(want.sha256);
    // The index hash covers the Part-10 plaintext the agent wrote: the exported file as a whole.
    const whole = await sha256File(exported!);
    expect(whole).toEqual({ sha256: entry.sha256, bytes: entry.plainBytes });
  }, 600_000);
});

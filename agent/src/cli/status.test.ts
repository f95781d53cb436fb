import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IndexEntry, SpoolState } from '../spool/index-entry.js';
import { statusCommand, summarize } from './status.js';

function entry(id: string, state: SpoolState, receivedAt: string, objectBytes: number): IndexEntry {
  return {
    id,
    sopInstanceUid: `1.2.${id.length}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    studyInstanceUid: '1.2.3',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    callingAeTitle: 'CT',
    receivedAt,
    plainBytes: objectBytes,
    sha256: 'a'.repeat(64),
    objectBytes,
    version: 1,
    state,
    inline: true,
  };
}

describe('summarize', () => {
  it('counts every state, and what is still to send with the age of its oldest', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    const s = summarize(
      [
        entry('a', 'delivered', '2026-11-28T10:00:00Z', 100),
        entry('b', 'quarantined', '2026-11-28T10:30:00Z', 10),
        entry('c', 'uploading', '2026-11-28T11:00:00Z', 1000),
        entry('d', 'spooled', '2026-11-28T11:59:00Z', 5),
      ],
      now,
    );
    expect(s.byState).toEqual({ delivered: 1, quarantined: 1, uploading: 1, spooled: 1 });
    expect(s.pending).toEqual({ count: 2, bytes: 1005 });
    expect(s.oldestUnsent).toEqual({ id: 'c', receivedAt: '2026-11-28T11:00:00Z', ageSeconds: 3600 });
    // count and bytes stay what is not delivered, quarantined included.
    expect(s.count).toBe(3);
    expect(s.bytes).toBe(1015);
    expect(s.oldest?.id).toBe('b');
  });

  it('has nothing pending on an empty or fully delivered spool', () => {
    expect(summarize([])).toMatchObject({ byState: {}, pending: { count: 0, bytes: 0 }, oldestUnsent: null });
    const done = summarize([entry('a', 'delivered', '2026-11-28T10:00:00Z', 100)]);
    expect(done).toMatchObject({ count: 0, byState: { delivered: 1 }, oldestUnsent: null });
  });
});

describe('status on a data directory that is not there', () => {
  it('is a coded error naming the directory, not an empty spool', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-status-'));
    try {
      const missing = join(root, 'no-such-dir');
      await expect(statusCommand(['--data-dir', missing])).rejects.toMatchObject({
        code: 'config.data_dir_missing',
        message: `the data directory ${missing} does not exist; pass the agent's --data-dir (the one in its service unit)`,
      });
      const file = join(root, 'a-file');
      await writeFile(file, '');
      await expect(statusCommand(['--data-dir', file, '--json'])).rejects.toMatchObject({
        code: 'config.data_dir_missing',
        message: expect.stringContaining(`${file} is not a directory`),
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recipientKeys, removeScratch, runAgentCli, scratch, startAgent } from '../harness/agent.js';

describe('one agent per data directory', () => {
  it('refuses a second agent on a live spool, and takes over a lock left by a dead one', async () => {
    const dataDir = await scratch('lock');
    const keys = await recipientKeys(join(dataDir, 'keys'));
    const first = await startAgent({ dataDir, config: { recipientPublicKey: keys.publicJwk } });
    try {
      const second = await runAgentCli(['start', '--data-dir', dataDir], { timeoutMs: 20_000 });
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain(`another agent (pid ${first.pid}) is using this data directory`);
    } finally {
      await first.kill9();
    }
    // The dead agent's lock names a pid that no longer runs an agent: a restart proceeds.
    await writeFile(join(dataDir, 'spool', 'lock'), String(process.pid));
    const again = await startAgent({ dataDir });
    expect(again.port).toBeGreaterThan(0);
    await removeScratch(dataDir, again);
  }, 60_000);
});

// The soak's short form (the full one is `npm run soak -- --duration 30m`): a minute and a half of
// concurrent storescu senders into a real agent on a real control plane with S3 and PostgreSQL,
// through an agent kill -9, a control-plane restart and a slow then erroring S3 link. Every instance
// that got Success must be in the cloud exactly once and byte-identical, none that only got a failure
// status may be, the agent's memory and descriptors must stay bounded and the spool must drain clean.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeScratch, scratch } from '../harness/agent.js';
import { runSoak, type SoakResult } from '../soak/soak.js';

const MiB = 1024 * 1024;

let out: string;
let result: SoakResult;

beforeAll(async () => {
  out = await scratch('soak-short-results');
  result = await runSoak({
    durationMs: 75_000,
    seed: 7,
    bigBytes: 64 * MiB,
    freshBytes: 64 * MiB,
    drainTimeoutMs: 45_000,
    resultsDir: out,
    log: () => undefined,
  });
}, 240_000);

afterAll(() => removeScratch(out));

describe('soak (short)', () => {
  it('ran every chaos action while the senders were sending', () => {
    expect(result.chaos.agentKills).toBeGreaterThanOrEqual(1);
    expect(result.chaos.controlPlaneRestarts).toBeGreaterThanOrEqual(1);
    expect(result.chaos.s3Slow).toBeGreaterThanOrEqual(1);
    expect(result.chaos.s3Errors).toBeGreaterThanOrEqual(1);
    expect(Object.keys(result.senders).length).toBeGreaterThanOrEqual(4);
    expect(result.summary.succeededInstances).toBeGreaterThan(100);
  });

  it('delivered every instance that got Success exactly once, byte-identical', () => {
    const s = result.summary;
    expect(result.drain.drained).toBe(true);
    expect(s.lost).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(s.altered).toBe(0);
    expect(s.delivered).toBe(s.succeededInstances);
  });

  it('stored no instance that only got a failure status', () => {
    expect(result.summary.storedDespiteFailure).toBe(0);
  });

  it('kept the agent bounded and left nothing in the spool beyond the retention', () => {
    expect(result.resources.crashes).toEqual([]);
    expect(result.resources.lifetimes).toBeGreaterThanOrEqual(2);
    expect(result.spoolLeftovers).toEqual([]);
    expect(result.violations).toEqual([]);
  });

  it('wrote the summary table', async () => {
    const md = await readFile(result.files?.md ?? '', 'utf8');
    expect(md).toContain(
      '| sent | succeeded | failed (status) | delivered | duplicates | lost (must be 0) |',
    );
    expect(md).toContain(`| ${result.summary.sent} | ${result.summary.succeeded} `);
    expect(JSON.parse(await readFile(result.files?.json ?? '', 'utf8'))).toMatchObject({
      bench: 'soak',
      summary: { lost: 0, duplicates: 0 },
    });
  });
});

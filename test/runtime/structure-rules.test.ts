// The structure check (npm run check:structure) must be able to fail: it runs here on a small tree that
// breaks every rule once (test/fixtures/structure/broken) and on one that breaks none (…/clean). A rule
// added to .dependency-cruiser.cjs without a broken fixture fails the first test.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = join(repo, 'test/fixtures/structure');
const config = createRequire(import.meta.url)(join(repo, '.dependency-cruiser.cjs')) as {
  forbidden: { name: string; comment: string }[];
};

function check(root: string, ...flags: string[]): { status: number | null; out: string; flat: string } {
  const run = spawnSync(
    process.execPath,
    [join(repo, 'scripts/check-structure.mjs'), '--root', root, ...flags],
    {
      encoding: 'utf8',
    },
  );
  const out = run.stdout + run.stderr;
  return { status: run.status, out, flat: out.replace(/\s+/g, ' ') };
}

/** Each rule and one file the broken tree breaks it in (the first module of a cycle for no-circular). */
const broken: Record<string, string> = {
  'meet-only-in-shared': 'agent/src/cli/main.ts → control-plane/src/app.ts',
  'shared-imports-neither-side': 'shared/src/protocol/manifest.ts → agent/src/logger.ts',
  'shared-does-no-io': 'shared/src/crypto/seal.ts → fs',
  'agent-root-below-cli': 'agent/src/agent.ts → agent/src/cli/main.ts',
  'agent-operations-floor': 'agent/src/health/health.ts → agent/src/diagnostics/diagnostics.ts',
  'agent-study-path-floor': 'agent/src/uploader/uploader.ts → agent/src/dimse/listener.ts',
  'agent-cloud-floor': 'agent/src/cloud/client.ts → agent/src/uploader/send.ts',
  'agent-spool-floor': 'agent/src/spool/spool.ts → agent/src/cloud/client.ts',
  'agent-base-files-import-no-floor': 'agent/src/config.ts → agent/src/spool/spool.ts',
  'dimse-and-spool-never-reach-uploader': 'agent/src/dimse/listener.ts → agent/src/uploader/send.ts',
  'edges-go-through-services': 'control-plane/src/routes/studies.ts → control-plane/src/db/queries.ts',
  'nothing-runs-back-up-to-the-edges':
    'control-plane/src/services/list-studies.ts → control-plane/src/ws/channel-hub.ts',
  'console-pages-stand-alone':
    'control-plane/src/web/pages/gateway/gateway-page.tsx → control-plane/src/web/pages/fleet.tsx',
  'ingest-below-services': 'control-plane/src/ingest/record.ts → control-plane/src/services/list-studies.ts',
  'no-circular': 'control-plane/src/services/get-study.ts →',
  'src-not-to-test-scaffolding': 'agent/src/cli/status.ts → testkit/agent/spool.ts',
  'max-600-lines': 'control-plane/src/services/long.ts has 601 lines (limit 600)',
  'folders-have-a-place': 'agent/src/gadgets/ is not in scripts/structure-layout.cjs',
  'architecture-doc-current': 'the section between the structure markers of docs/architecture.md is stale',
};

describe('structure check', () => {
  let tree: string;
  let result: ReturnType<typeof check>;

  beforeAll(() => {
    // A copy, so the long files need not be committed and --write-docs can rewrite the page.
    tree = mkdtempSync(join(tmpdir(), 'ferry-structure-'));
    cpSync(join(fixtures, 'broken'), tree, { recursive: true });
    const lines = (n: number) =>
      Array.from({ length: n }, (_, i) => `export const line${i} = ${i};\n`).join('');
    writeFileSync(join(tree, 'control-plane/src/services/long.ts'), lines(601));
    // A test file is exempt from the line limit and the floors: this one is long and imports upwards.
    writeFileSync(
      join(tree, 'agent/src/spool/spool.test.ts'),
      `import '../uploader/uploader.js';\n${lines(700)}`,
    );
    result = check(tree);
  });
  afterAll(() => rmSync(tree, { recursive: true, force: true }));

  it('fails on a tree that breaks every rule, naming each rule, the import and why the rule exists', () => {
    expect(result.status).not.toBe(0);
    const rules = [...config.forbidden.map((r) => r.name), 'max-600-lines', 'folders-have-a-place'];
    expect(Object.keys(broken)).toEqual(expect.arrayContaining([...rules, 'architecture-doc-current']));
    for (const [rule, where] of Object.entries(broken))
      expect(result.flat).toContain(`error ${rule}: ${where}`);
    for (const rule of config.forbidden) expect(result.flat).toContain(rule.comment.replace(/\s+/g, ' '));
    expect(result.out).toMatch(/error max-600-lines: .*\n\s+A file over 600 lines/);
  });

  it('exempts test files and allows what the floors allow', () => {
    expect(result.out).not.toContain('spool.test.ts');
    // live-config/ may import the uploader: it is a floor above it.
    expect(result.out).not.toContain('agent/src/live-config/channel.ts →');
    expect(result.out).not.toContain('testkit/agent/spool.ts →');
    // A page's own folder is one room: its files import each other freely.
    expect(result.out).not.toContain('gateway-page.tsx → control-plane/src/web/pages/gateway/');
  });

  it('--write-docs rewrites a stale design page from the rules', () => {
    const rewrite = check(tree, '--write-docs');
    expect(rewrite.out).toContain('rewrote the generated section of docs/architecture.md');
    expect(rewrite.out).not.toContain('error architecture-doc-current');
    const page = readFileSync(join(tree, 'docs/architecture.md'), 'utf8');
    expect(page).not.toContain('The spool may import the uploader.');
    expect(page).toMatch(/\| spool \| `spool\/` \|.*\| `config.ts`, `logger.ts` \|/);
  });

  it('passes a tree that keeps every rule', () => {
    const clean = check(join(fixtures, 'clean'));
    expect(clean.out).toContain('check-structure: ok');
    expect(clean.status).toBe(0);
  });
});

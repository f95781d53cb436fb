// Reads V8 .cpuprofile files (node --cpu-prof) and adds up their samples by pipeline stage (see
// profile-stages.ts), optionally only those inside a measured window, with the heaviest stacks of
// each stage so a reader can see what a row is made of.
import { readFile } from 'node:fs/promises';
import { IDLE_STAGE, OTHER_STAGE, OUTSIDE_STAGE, type StageRule } from './profile-stages.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of V8's CPU profile format read here (times in microseconds, CLOCK_MONOTONIC). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds per stage, and per stage the heaviest "leaf < deciding frame" pairs. */
export interface StageTally {
  micros: Map<string, number>;
  stacks: Map<string, Map<string, number>>;
}

export function emptyTally(): StageTally {
  return { micros: new Map(), stacks: new Map() };
}

export async function readCpuProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
}

/** "fn@file" with the checkout's own prefix cut, as the stage rules expect. */
function frameKey(cf: CallFrame, repoUrl: string): string {
  const url = cf.url.startsWith(repoUrl) ? cf.url.slice(repoUrl.length) : cf.url.replace(/^file:\/\//, '');
  return `${cf.functionName || '(anonymous)'}@${url}`;
}

function shortFrame(key: string, line: number): string {
  const [fn, url = ''] = key.split('@');
  const file = url.split('/').slice(-2).join('/');
  return file ? `${fn}@${file}:${line + 1}` : `${fn}`;
}

/**
 * Adds `profile`'s samples to `tally` by stage. Samples outside `windowUs` (when given) count as
 * OUTSIDE_STAGE. `repoRoot` is the checkout's path, cut from file URLs.
 */
export function tallyStages(
  profile: CpuProfile,
  rules: StageRule[],
  repoRoot: string,
  tally: StageTally,
  windowUs?: [number, number],
): void {
  const repoUrl = `file://${repoRoot}/`;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const decided = new Map<number, { stage: string; stack: string }>();
  const decide = (id: number): { stage: string; stack: string } => {
    const known = decided.get(id);
    if (known) return known;
    const chain: { key: string; line: number }[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const cf = byId.get(x)?.callFrame;
      if (cf) chain.push({ key: frameKey(cf, repoUrl), line: cf.lineNumber });
    }
    let result = { stage: OTHER_STAGE, stack: chain[0] ? shortFrame(chain[0].key, chain[0].line) : '?' };
    const leaf = chain[0];
    const pick = (fallback: boolean): boolean => {
      for (let i = 0; i < chain.length; i++) {
        const frame = chain[i]!;
        for (const rule of rules) {
          if (!!rule.fallback !== fallback || !rule.frame.test(frame.key)) continue;
          if (rule.within && !chain.slice(i).some((f) => rule.within!.test(f.key))) continue;
          const stack =
            i === 0 || !leaf
              ? shortFrame(frame.key, frame.line)
              : `${shortFrame(leaf.key, leaf.line)} < ${shortFrame(frame.key, frame.line)}`;
          result = { stage: rule.stage, stack };
          return true;
        }
      }
      return false;
    };
    if (!pick(false)) pick(true);
    decided.set(id, result);
    return result;
  };
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    const sample = decide(profile.samples[i]!);
    const inWindow = !windowUs || (t >= windowUs[0] && t <= windowUs[1]);
    const stage = inWindow || sample.stage === IDLE_STAGE ? sample.stage : OUTSIDE_STAGE;
    tally.micros.set(stage, (tally.micros.get(stage) ?? 0) + dt);
    const stacks = tally.stacks.get(stage) ?? new Map<string, number>();
    tally.stacks.set(stage, stacks);
    stacks.set(sample.stack, (stacks.get(sample.stack) ?? 0) + dt);
  }
}

// FERRY_BENCH_PROFILE=1: the benches run the agent and the control plane under `--cpu-prof` (they
// inherit NODE_OPTIONS from the bench), one directory per row under bench/results/profiles/ (ignored
// by git; `git add -f` one set to keep it). Per process it leaves the .cpuprofile (Chrome DevTools or
// speedscope open it), a flame graph HTML made by 0x, and for the row a stage table of sampled
// seconds and seconds per GB (stages.json, stages.md), also printed, beside /proc's CPU seconds.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../test/harness/corpus.js';
import { emptyTally, readCpuProfile, type StageTally, tallyStages } from './cpu-profile.js';
import {
  AGENT_STAGES,
  CONTROL_PLANE_STAGES,
  IDLE_STAGE,
  OUTSIDE_STAGE,
  type StageRule,
} from './profile-stages.js';

const run = promisify(execFile);
export const PROFILES_DIR = join(repoRoot, 'bench', 'results', 'profiles');
const ZEROX = join(repoRoot, 'node_modules', '0x', 'cmd.js');

export type Role = 'agent' | 'control plane';

const RULES: Record<Role, StageRule[]> = { agent: AGENT_STAGES, 'control plane': CONTROL_PLANE_STAGES };

export interface ProfiledProcess {
  role: Role;
  pid: number;
  /** The measured window, process.hrtime microseconds (the clock V8's profiles use). */
  windowUs?: [number, number];
  /** Bytes that passed through it in the window. */
  bytes: number;
  /** Its CPU seconds over the window from /proc, when read. */
  cpuSeconds?: number;
}

export interface StageRow {
  stage: string;
  /** Sampled busy seconds of the JavaScript threads (see StageReport.sampledBusySeconds). */
  cpuSeconds: number;
  cpuSecondsPerGB: number;
  /** The heaviest "leaf < deciding frame" stacks of this stage, seconds each. */
  top: { stack: string; seconds: number }[];
}

export interface StageReport {
  role: Role;
  processes: number;
  gigabytes: number;
  /**
   * Seconds the JavaScript threads were sampled busy inside the window (non-idle stages, threads
   * added). V8 stamps each sample with wall time, so a thread blocked in a synchronous syscall
   * (an O_DSYNC write) or preempted by a busy machine counts too, and native threads (libuv's pool:
   * zstd, fs, async crypto) do not: this is neither more nor less than /proc's CPU, it is where the
   * JavaScript threads spent their time.
   */
  sampledBusySeconds: number;
  /** /proc user+system CPU of all its threads over the window, when every process had it read. */
  procCpuSeconds?: number;
  stages: StageRow[];
}

export const profiling = (): boolean =>
  !!process.env.FERRY_BENCH_PROFILE && process.env.FERRY_BENCH_PROFILE !== '0';

/** Now on the clock V8 stamps profile samples with (CLOCK_MONOTONIC), in microseconds. */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

export interface ProfileRow {
  dir: string;
  /** Stops profiling children started from now on, then files, renders and tallies the profiles. */
  finish(processes: ProfiledProcess[]): Promise<StageReport[]>;
}

/**
 * Every Node process the bench starts from now until finish() is profiled into
 * bench/results/profiles/<name>/ (wiped first); undefined when FERRY_BENCH_PROFILE is not set.
 */
export async function profileRow(name: string): Promise<ProfileRow | undefined> {
  if (!profiling()) return undefined;
  const dir = join(PROFILES_DIR, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${saved ?? ''} --cpu-prof --cpu-prof-dir=${dir}`.trim();
  return {
    dir,
    async finish(processes) {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
      await fileProfiles(dir, processes);
      return tallyRow(dir);
    },
  };
}

/** V8 names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile. */
const V8_NAME = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/;
/** What fileProfiles renames them to: <role>-<pid>[-thread<n>].cpuprofile. */
const FILED_NAME = /^(agent|control-plane)-(\d+)(?:-thread\d+)?\.cpuprofile$/;
const PROCESSES_FILE = 'processes.json';

/**
 * Names each profile after its process and thread, drops those of other Node processes of the row
 * (the enrollment CLI), draws a flame graph of each main thread, and keeps `processes` beside them.
 */
async function fileProfiles(dir: string, processes: ProfiledProcess[]): Promise<void> {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  for (const file of (await readdir(dir)).sort()) {
    const m = V8_NAME.exec(file);
    if (!m) continue;
    const proc = byPid.get(Number(m[1]));
    if (!proc) {
      await rm(join(dir, file));
      continue;
    }
    const thread = Number(m[2]);
    const base = `${proc.role.replace(' ', '-')}-${proc.pid}${thread === 0 ? '' : `-thread${thread}`}`;
    await rename(join(dir, file), join(dir, `${base}.cpuprofile`));
    if (thread === 0) await flameGraph(join(dir, `${base}.cpuprofile`), join(dir, `${base}.flamegraph.html`));
  }
  await writeFile(join(dir, PROCESSES_FILE), `${JSON.stringify(processes, null, 2)}\n`);
}

/**
 * The stage tables of one profiled row directory, written beside it (stages.json, stages.md) and
 * printed. Runs again on a kept directory after a change to profile-stages.ts (bench/profile-tally.ts).
 */
export async function tallyRow(dir: string): Promise<StageReport[]> {
  const processes = JSON.parse(await readFile(join(dir, PROCESSES_FILE), 'utf8')) as ProfiledProcess[];
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const tallies = new Map<Role, { tally: StageTally; procs: ProfiledProcess[] }>();
  for (const file of (await readdir(dir)).sort()) {
    const proc = byPid.get(Number(FILED_NAME.exec(file)?.[2]));
    if (!proc) continue;
    const entry = tallies.get(proc.role) ?? { tally: emptyTally(), procs: [] };
    tallies.set(proc.role, entry);
    if (!entry.procs.includes(proc)) entry.procs.push(proc);
    const profile = await readCpuProfile(join(dir, file));
    tallyStages(profile, RULES[proc.role], repoRoot, entry.tally, proc.windowUs);
  }
  const reports = [...tallies].map(([role, { tally, procs }]) => report(role, tally, procs));
  const row = basename(dir);
  await writeFile(join(dir, 'stages.json'), `${JSON.stringify({ row, reports }, null, 2)}\n`);
  const md = reports.map((r) => stageMarkdown(row, r)).join('\n');
  await writeFile(join(dir, 'stages.md'), md);
  console.log(`\nprofile ${row} -> ${dir}\n${md}`);
  return reports;
}

/** 0x's self-contained flame graph page; a failure here only costs the picture. */
async function flameGraph(profile: string, html: string): Promise<void> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  try {
    await run(process.execPath, [ZEROX, '-q', '--visualize-cpu-profile', profile, '--output-html', html], {
      env,
      timeout: 120_000,
    });
  } catch (err) {
    console.warn(`flame graph for ${profile} not made: ${String(err).slice(0, 500)}`);
  }
}

function report(role: Role, tally: StageTally, procs: ProfiledProcess[]): StageReport {
  const gigabytes = procs.reduce((s, p) => s + p.bytes, 0) / 1e9;
  const stages: StageRow[] = [];
  let sampled = 0;
  for (const [stage, micros] of [...tally.micros].sort((a, b) => b[1] - a[1])) {
    if (stage === IDLE_STAGE) continue;
    const cpuSeconds = micros / 1e6;
    if (stage !== OUTSIDE_STAGE) sampled += cpuSeconds;
    const top = [...(tally.stacks.get(stage) ?? [])]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([stack, us]) => ({ stack, seconds: round(us / 1e6) }));
    stages.push({ stage, cpuSeconds: round(cpuSeconds), cpuSecondsPerGB: perGB(cpuSeconds, gigabytes), top });
  }
  const haveProc = procs.every((p) => p.cpuSeconds !== undefined);
  const procCpu = haveProc ? procs.reduce((s, p) => s + (p.cpuSeconds ?? 0), 0) : undefined;
  return {
    role,
    processes: procs.length,
    gigabytes: round(gigabytes, 4),
    sampledBusySeconds: round(sampled),
    ...(procCpu !== undefined ? { procCpuSeconds: round(procCpu) } : {}),
    stages,
  };
}

const round = (n: number, digits = 3) => +n.toFixed(digits);
const perGB = (seconds: number, gb: number) => (gb > 0 ? round(seconds / gb, 2) : 0);

export function stageMarkdown(row: string, r: StageReport): string {
  const lines = [
    `### ${row}: ${r.role} (${r.processes} process${r.processes === 1 ? '' : 'es'}, ${r.gigabytes} GB)`,
    '',
    (r.procCpuSeconds !== undefined
      ? `CPU in the measured window (/proc, all threads): ${r.procCpuSeconds} s = ${perGB(r.procCpuSeconds, r.gigabytes)} s/GB. `
      : '') +
      `The JavaScript threads were sampled busy ${r.sampledBusySeconds} s in it, by stage below (wall time of` +
      ' non-idle samples: blocking syscalls and preemption count, native thread-pool work does not).' +
      ' Profiled run: the figures include the profiler.',
    '',
    '| stage | CPU s (sampled) | CPU s / GB | heaviest stacks (s) |',
    '| --- | ---: | ---: | --- |',
  ];
  for (const s of r.stages)
    lines.push(
      `| ${s.stage} | ${s.cpuSeconds} | ${s.cpuSecondsPerGB} | ${s.top.map((t) => `${t.stack.replace(/\|/g, '\\|')} ${t.seconds}`).join('; ')} |`,
    );
  return `${lines.join('\n')}\n`;
}

// The agent's resident memory and open file descriptors over the run, read from /proc, and its
// exits: one the chaos did not ask for is a crash.
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { AgentProcess } from '../harness/agent.js';

const MiB = 1024 * 1024;

export interface FdKinds {
  files: number;
  sockets: number;
  other: number;
}

export type IdleFigures = { rssBytes: number; fds: number } & FdKinds;

export interface ResourceSample {
  /** ms since the sampler started. */
  t: number;
  pid: number;
  rssBytes: number;
  fds: number;
}

export interface ResourceReport {
  samples: number;
  lifetimes: number;
  /** The first process's, once it was up and idle, before anything was sent. */
  idleAtStart: IdleFigures | undefined;
  /** The last process's, once the spool had drained and it was idle again. */
  idleAtEnd: IdleFigures | undefined;
  peakRssBytes: number;
  peakFds: number;
  /** Medians of the first and the last third of the run's samples. */
  firstThird: { rssBytes: number; fds: number };
  lastThird: { rssBytes: number; fds: number };
  crashes: string[];
}

/** Generous bounds: a leak grows without end, a busy agent only swings. */
export const RESOURCE_BOUNDS = {
  /** The last third's median RSS may be at most this multiple of the first third's, plus the slack. */
  rssFactor: 2,
  rssSlackBytes: 96 * MiB,
  peakRssBytes: 768 * MiB,
  fdSlack: 64,
  /** Idle after the run vs idle before it (descriptors of all kinds; regular files need no slack). */
  idleFdSlack: 24,
  idleFileSlack: 2,
} as const;

async function sampleProcess(pid: number): Promise<{ rssBytes: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return Number.isNaN(kb) ? undefined : { rssBytes: kb * 1024, fds };
  } catch {
    return undefined; // between a kill and the restart
  }
}

/** The process's open descriptors by kind: regular files (a leak of spool handles shows here), sockets, other. */
async function fdKinds(pid: number): Promise<FdKinds | undefined> {
  try {
    const kinds: FdKinds = { files: 0, sockets: 0, other: 0 };
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target.startsWith('/')) kinds.files++;
      else if (target.startsWith('socket:')) kinds.sockets++;
      else kinds.other++;
    }
    return kinds;
  } catch {
    return undefined;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor(s.length / 2)] ?? 0);
}

export class AgentWatch {
  readonly samples: ResourceSample[] = [];
  readonly crashes: string[] = [];
  private readonly expected = new Set<number>();
  private readonly pids = new Set<number>();
  /** Every agent process of the run, in order (their logs are kept for a post-mortem). */
  readonly processes: AgentProcess[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private current: AgentProcess;
  idleAtStart: IdleFigures | undefined;
  idleAtEnd: IdleFigures | undefined;

  constructor(agent: AgentProcess) {
    this.current = agent;
    this.watch(agent);
  }

  /** Follows a (re)started agent: its exits and its /proc figures. */
  watch(agent: AgentProcess): void {
    this.current = agent;
    this.pids.add(agent.pid);
    this.processes.push(agent);
    void agent.exited.then((code) => {
      if (!this.expected.has(agent.pid))
        this.crashes.push(
          `agent pid ${agent.pid} exited by itself (code ${String(code)}): ${agent.output().slice(-2000)}`,
        );
    });
  }

  /** The next exit of `pid` is the chaos's doing. */
  expectDeath(pid: number): void {
    this.expected.add(pid);
  }

  start(everyMs = 1000): void {
    this.timer = setInterval(() => void this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(): Promise<ResourceSample | undefined> {
    const pid = this.current.pid;
    const s = await sampleProcess(pid);
    if (!s) return undefined;
    const sample = { t: Date.now() - this.started, pid, ...s };
    this.samples.push(sample);
    return sample;
  }

  /**
   * The current process's figures at rest. Pooled keep-alive connections close a few seconds after
   * the last request, so this waits (up to `settleMs`) for the descriptor count to stop falling.
   */
  async idle(settleMs = 0, below = 0): Promise<IdleFigures | undefined> {
    const deadline = Date.now() + settleMs;
    for (;;) {
      const got: { rssBytes: number; fds: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const s = await sampleProcess(this.current.pid);
        if (s) got.push(s);
        await new Promise((r) => setTimeout(r, 200));
      }
      const kinds = await fdKinds(this.current.pid);
      if (got.length === 0 || !kinds) return undefined;
      const fig = {
        rssBytes: median(got.map((g) => g.rssBytes)),
        fds: median(got.map((g) => g.fds)),
        ...kinds,
      };
      if (fig.fds <= below || Date.now() >= deadline) return fig;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  report(): ResourceReport {
    const n = this.samples.length;
    const third = Math.max(1, Math.floor(n / 3));
    const first = this.samples.slice(0, third);
    const last = this.samples.slice(n - third);
    const figures = (xs: ResourceSample[]) => ({
      rssBytes: median(xs.map((x) => x.rssBytes)),
      fds: median(xs.map((x) => x.fds)),
    });
    return {
      samples: n,
      lifetimes: this.pids.size,
      idleAtStart: this.idleAtStart,
      idleAtEnd: this.idleAtEnd,
      peakRssBytes: Math.max(0, ...this.samples.map((s) => s.rssBytes)),
      peakFds: Math.max(0, ...this.samples.map((s) => s.fds)),
      firstThird: figures(first),
      lastThird: figures(last),
      crashes: [...this.crashes],
    };
  }
}

/** What says the agent's memory or descriptors grew without bound; empty when they did not. */
export function resourceViolations(r: ResourceReport): string[] {
  const b = RESOURCE_BOUNDS;
  const out: string[] = [...r.crashes];
  const mb = (x: number) => `${(x / MiB).toFixed(0)} MiB`;
  if (r.samples < 6) out.push(`only ${r.samples} resource samples of the agent: too few to judge growth`);
  if (r.lastThird.rssBytes > r.firstThird.rssBytes * b.rssFactor + b.rssSlackBytes)
    out.push(
      `agent RSS grew: median ${mb(r.firstThird.rssBytes)} in the first third, ${mb(r.lastThird.rssBytes)} in the last`,
    );
  if (r.peakRssBytes > b.peakRssBytes)
    out.push(`agent RSS peaked at ${mb(r.peakRssBytes)} (bound ${mb(b.peakRssBytes)})`);
  if (r.lastThird.fds > r.firstThird.fds + b.fdSlack)
    out.push(
      `agent open fds grew: median ${r.firstThird.fds} in the first third, ${r.lastThird.fds} in the last`,
    );
  if (r.idleAtStart && r.idleAtEnd) {
    const [a, z] = [r.idleAtStart, r.idleAtEnd];
    if (z.fds > a.fds + b.idleFdSlack || z.files > a.files + b.idleFileSlack)
      out.push(
        `agent holds ${z.fds} fds (${z.files} files, ${z.sockets} sockets) idle after the run, ${a.fds} (${a.files} files, ${a.sockets} sockets) idle before it`,
      );
  } else out.push('no idle figures of the agent before and after the run');
  return out;
}

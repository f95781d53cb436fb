// CPU time and peak memory of a running process, read from /proc (Linux), for the benches' per-row
// figures: CPU seconds over a measured window, and the high-water resident set size.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ), in which /proc/<pid>/stat counts CPU time. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User plus system CPU seconds the process (all its threads) has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Peak resident set size so far (VmHWM), in bytes. */
export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** CPU seconds of each process from `start` until `stop` is called (both must still be running then). */
export async function cpuWindow(
  pids: Record<string, number>,
): Promise<() => Promise<Record<string, number>>> {
  const before: Record<string, number> = {};
  for (const [role, pid] of Object.entries(pids)) before[role] = await cpuSeconds(pid);
  return async () => {
    const used: Record<string, number> = {};
    for (const [role, pid] of Object.entries(pids))
      used[role] = (await cpuSeconds(pid)) - (before[role] ?? 0);
    return used;
  };
}

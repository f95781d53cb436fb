// Spawns one of Ferry's own long-running processes and waits for its structured "ready" log line.
import { type ChildProcess, spawn } from 'node:child_process';

export interface ServiceProcess<R> {
  child: ChildProcess;
  /** The ready line's JSON. */
  ready: R;
  /** Everything logged so far (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export async function spawnService<R>(opts: {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  readyEvent: string;
  timeoutMs: number;
}): Promise<ServiceProcess<R>> {
  const child = spawn(process.execPath, opts.args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<R>((resolve, reject) => {
    // A process that never became ready is nobody's to stop: kill it here, or it outlives the test run.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.name} did not become ready in ${opts.timeoutMs} ms:\n${out}`));
    }, opts.timeoutMs);
    // Only the lines not looked at yet, and only until ready: a long run logs megabytes, and
    // searching all of it on every chunk costs the test process a core.
    let scanned = 0;
    const marker = `"event":"${opts.readyEvent}"`;
    const check = () => {
      const end = out.lastIndexOf('\n') + 1;
      if (end <= scanned) return;
      const line = out
        .slice(scanned, end)
        .split('\n')
        .find((l) => l.includes(marker));
      scanned = end;
      if (line) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(JSON.parse(line) as R);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited with ${code} before ready:\n${out}`));
    });
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    child,
    ready,
    output: () => out,
    exited,
    stop: () => signal('SIGTERM'),
    kill9: () => signal('SIGKILL'),
  };
}

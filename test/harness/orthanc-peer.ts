// Debian's Orthanc as a DICOM peer of the gateway: its own instance on free ports with a temporary
// configuration, driven through its REST API. With CI=true a missing Orthanc fails the test.
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './dcmtk.js';

export const ORTHANC_BIN = '/usr/sbin/Orthanc';

export interface OrthancPeer {
  aeTitle: string;
  dicomPort: number;
  httpUrl: string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Everything Orthanc logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Throws when Orthanc is not installed (so the test fails, under CI or not: it is never skipped). */
export async function requireOrthanc(): Promise<void> {
  try {
    await access(ORTHANC_BIN);
  } catch {
    throw new Error(`${ORTHANC_BIN} is missing: install Debian's orthanc package (.ci/run does)`);
  }
}

/**
 * Starts Orthanc in `dir` with `modalities` (symbolic name → [AE title, host, port]) as the DICOM
 * nodes it knows, and waits until its REST API answers.
 */
export async function startOrthanc(opts: {
  dir: string;
  aeTitle?: string;
  modalities: Record<string, [string, string, number]>;
}): Promise<OrthancPeer> {
  await requireOrthanc();
  const aeTitle = opts.aeTitle ?? 'ORTHANC';
  const [dicomPort, httpPort] = [await freePort(), await freePort()];
  await mkdir(join(opts.dir, 'db'), { recursive: true });
  const config = {
    Name: 'ferry-test',
    StorageDirectory: join(opts.dir, 'db'),
    IndexDirectory: join(opts.dir, 'db'),
    DicomAet: aeTitle,
    DicomPort: dicomPort,
    HttpPort: httpPort,
    HttpBindAddress: '127.0.0.1',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    DicomModalities: opts.modalities,
    Plugins: [],
    HttpServerEnabled: true,
    DicomServerEnabled: true,
    ConcurrentJobs: 1,
  };
  const configFile = join(opts.dir, 'orthanc.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const child: ChildProcess = spawn(ORTHANC_BIN, ['--verbose', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${httpUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await api('GET', '/system')).status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`Orthanc did not start:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    aeTitle,
    dicomPort,
    httpUrl,
    api,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

// Orthanc (Debian package `orthanc`) as a benchmark peer: one process on a temporary configuration
// and storage, HTTP on a free loopback port, no DICOM listener, no authentication, no plugins.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './control-plane-process.js';

export const ORTHANC_BIN = process.env.FERRY_ORTHANC ?? '/usr/sbin/Orthanc';

export interface Orthanc {
  url: string;
  version: string;
  /** Stores one Part-10 file (POST /instances); returns Orthanc's instance id. */
  store(file: string): Promise<string>;
  /** Orthanc's instance id for each SOP Instance UID it holds. */
  instanceIds(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/** Whether the Orthanc binary is there (the bench says so and goes on without it when it is not). */
export function orthancInstalled(): boolean {
  try {
    accessSync(ORTHANC_BIN, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function startOrthanc(dir: string): Promise<Orthanc> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const config = join(dir, 'orthanc.json');
  await writeFile(
    config,
    JSON.stringify({
      Name: 'ferry-bench',
      StorageDirectory: join(dir, 'storage'),
      IndexDirectory: join(dir, 'storage'),
      HttpPort: port,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      DicomServerEnabled: false,
      Plugins: [],
      StorageCompression: false,
    }),
  );
  const child: ChildProcess = spawn(ORTHANC_BIN, [config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let version = '';
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}/system`).catch(() => undefined);
    if (res?.ok) {
      version = ((await res.json()) as { Version: string }).Version;
      break;
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Orthanc did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    version,
    async store(file) {
      const res = await fetch(`${url}/instances`, { method: 'POST', body: await readFile(file) });
      if (!res.ok) throw new Error(`Orthanc refused ${file}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { ID: string }).ID;
    },
    async instanceIds() {
      const res = await fetch(`${url}/tools/find`, {
        method: 'POST',
        body: JSON.stringify({ Level: 'Instance', Query: {}, Expand: true }),
      });
      const rows = (await res.json()) as { ID: string; MainDicomTags: { SOPInstanceUID: string } }[];
      return new Map(rows.map((r) => [r.MainDicomTags.SOPInstanceUID, r.ID]));
    },
    stop,
  };
}

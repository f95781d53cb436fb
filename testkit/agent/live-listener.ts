// A real DICOM listener on a temp spool with the live config applier in front of it, as the agent runs
// them: tests push a config through the applier and call the listener with DCMTK. Not part of the build.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DicomListener } from '../../agent/src/dimse/listener.js';
import { dimseStore } from '../../agent/src/dimse/store-status.js';
import { LiveConfigApplier } from '../../agent/src/live-config/config-applier.js';
import { freePort } from '../../test/harness/dcmtk.js';
import type { TempSpool } from './spool.js';

export interface LiveListener {
  listener: DicomListener;
  applier: LiveConfigApplier;
  port: number;
}

/** Listens on a free loopback port as `aeTitle`, with an agent.json the applier can rewrite. */
export async function openLiveListener(t: TempSpool, aeTitle: string, log: Logger): Promise<LiveListener> {
  const port = await freePort();
  const policy = {
    aeTitle,
    allowedCallingAeTitles: [],
    maxAssociations: 4,
    maxPduLength: 65536,
    artimTimeoutMs: 5000,
    idleTimeoutMs: 30_000,
  };
  const listener = new DicomListener({ host: '127.0.0.1', port, policy }, dimseStore(t.spool), log);
  await listener.listen();
  const applier = new LiveConfigApplier({
    dataDir: t.dir,
    listener,
    uploader: () => undefined,
    log,
    initialVersion: 0,
    initialPeers: [],
  });
  await writeFile(
    join(t.dir, 'agent.json'),
    JSON.stringify({ aeTitle, host: '127.0.0.1', port, recipientPublicKey: t.keys.publicJwk }),
  );
  return { listener, applier, port };
}

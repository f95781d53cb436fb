import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { DicomListener } from './dimse/listener.js';
import { Spool } from './spool/spool.js';

export interface RunningAgent {
  spool: Spool;
  listener: DicomListener;
  address: { host: string; port: number };
  stop(): Promise<void>;
}

/** Composition of the receiving half: spool first (it must be ready before we accept anything). */
export async function startAgent(dataDir: string, config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const spool = await Spool.open(dataDir, config.recipientPublicKey, log);
  const listener = new DicomListener(
    {
      host: config.host,
      port: config.port,
      ...(config.tls ? { tls: config.tls } : {}),
      policy: {
        aeTitle: config.aeTitle,
        allowedCallingAeTitles: config.allowedCallingAeTitles,
        maxAssociations: config.maxAssociations,
        maxPduLength: config.maxPduLength,
        artimTimeoutMs: config.timeouts.artimMs,
        idleTimeoutMs: config.timeouts.idleMs,
      },
    },
    spool,
    log,
  );
  const address = await listener.listen();
  return {
    spool,
    listener,
    address,
    async stop() {
      await listener.close(true);
      await spool.close();
    },
  };
}

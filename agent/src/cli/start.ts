import { FerryError } from '@ferry/shared';
import { startAgent } from '../agent.js';
import { loadAgentConfig } from '../config.js';
import { assertPrivateDataDir } from '../data-dir.js';
import { createLogger, LogRing } from '../logger.js';
import { EXIT_RESTART_INTO_PENDING } from '../upgrade/upgrader.js';
import { AGENT_BUILD, AGENT_VERSION } from '../version.js';
import { parse, requireString } from './args.js';

export async function startCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'ae-title': { type: 'string' },
  });
  const dataDir = requireString(values, 'data-dir');
  let port: number | undefined;
  if (typeof values.port === 'string') {
    port = Number(values.port);
    if (!Number.isInteger(port))
      throw new FerryError('config.invalid', `--port must be an integer, got "${values.port}"`);
  }
  const aeTitle = typeof values['ae-title'] === 'string' ? values['ae-title'] : undefined;
  // Reported in each heartbeat, so the console can say why a setting differs from the desired config.
  const flagOverrides = [
    ...(port !== undefined ? ['port' as const] : []),
    ...(aeTitle !== undefined ? ['aeTitle' as const] : []),
  ];
  await assertPrivateDataDir(dataDir);
  const config = await loadAgentConfig(dataDir, { port, aeTitle });
  // The remote log bundle reads recent lines from here.
  const logs = new LogRing(2000);
  const log = createLogger('ferry-agent', { ring: logs });
  let stop: (signal: string, exitCode?: number) => void = () => {};
  // An installed upgrade stops this agent like a SIGTERM, then exits into the pending release.
  const restart = () => stop('upgrade', EXIT_RESTART_INTO_PENDING);
  const agent = await startAgent(dataDir, config, log, { flagOverrides, logs, restart });
  // Scripts and tests read this one line to learn the bound port.
  log.info(
    {
      event: 'agent.ready',
      host: agent.address.host,
      port: agent.address.port,
      aeTitle: config.aeTitle,
      uploads: agent.uploader ? 'on' : 'off',
      channel: agent.channel ? 'on' : 'off',
      version: AGENT_VERSION,
      commit: AGENT_BUILD.commit,
      builtAt: AGENT_BUILD.builtAt,
    },
    'agent ready',
  );
  let stopping = false;
  stop = (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'agent.stopping', signal }, 'stopping');
    agent.stop().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

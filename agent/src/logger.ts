import { type Logger, pino } from 'pino';

export function createLogger(name: string): Logger {
  return pino({
    name,
    level: process.env.FERRY_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    // Defence in depth: these keys must never reach a log line even if a caller passes them.
    redact: { paths: ['*.password', '*.token', '*.privateKey', '*.d', 'recipientPublicKey'], remove: true },
  });
}

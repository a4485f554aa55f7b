// One pino logger for the host. Secrets are redacted by path wherever they appear in a log object.
import pino, { type Logger } from 'pino';

export type { Logger };

const SECRET_PATHS = ['secret', 'hostSecret', 'webhookSecret', 'apiKey', 'password', 'authorization', 'headers.authorization', 'headers["x-link-sig"]'];

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'session-host' },
    redact: { paths: [...SECRET_PATHS, ...SECRET_PATHS.map((p) => `*.${p}`)], censor: '[redacted]' },
  });
}

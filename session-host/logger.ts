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

/**
 * Routes what libraries print to the console into the logger, keeping only the text: libsignal
 * prints whole Signal sessions (private keys included) with `console.info("Closing session:", …)`.
 */
export function captureConsole(logger: Logger): void {
  const library = logger.child({ component: 'console' });
  const text = (args: unknown[]) => args.filter((a) => typeof a === 'string').join(' ');
  console.log = console.info = console.debug = (...args: unknown[]) => library.debug(text(args));
  console.warn = (...args: unknown[]) => library.warn(text(args));
  console.error = (...args: unknown[]) => library.error(text(args));
}

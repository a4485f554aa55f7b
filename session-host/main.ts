// Entry point: `node session-host/main.ts` (npm run host). Configuration comes from the
// environment (see config.ts); SIGTERM and SIGINT stop it cleanly, devices stay logged in.
// First, before anything loads Baileys: see the module.
import './sessions/verified-signatures.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { startHost } from './host.ts';
import { captureConsole, createLogger } from './logger.ts';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
captureConsole(logger);
// A promise nobody awaited that failed: logged, not a crash that takes every device down with it.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
const host = await startHost({ config, logger });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    host.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

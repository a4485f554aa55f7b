// The host's version as its package names it: reported to the edge, which shows it per host.
import { readFileSync } from 'node:fs';

export const HOST_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

// `npm run bench`: every benchmark, one JSON document on stdout. Speed and memory are measured
// here, never asserted in tests. Takes about ten minutes on a 2-core machine (the memory soak
// alone three and a half: SOAK_SECONDS and SOAK_IDLE_SECONDS shorten it, see soak.ts; the retention
// soak about four: RETENTION_SENDS and RETENTION_SECONDS, see retention.ts).
import { runAuthStoreBench } from './auth-store.ts';
import { runRetentionBench } from './retention.ts';
import { runSoakBench } from './soak.ts';
import { runStackBench } from './stack.ts';

const stack = await runStackBench();
const authStores = await runAuthStoreBench();
const soak = await runSoakBench();
const retention = await runRetentionBench();
console.log(JSON.stringify({ node: process.version, date: new Date().toISOString(), ...stack, authStores: authStores.stores, soak, retention }, null, 2));
// Baileys leaves timers behind after its sockets close.
process.exit(0);

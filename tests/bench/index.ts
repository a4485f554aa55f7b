// `npm run bench`: every benchmark, one JSON document on stdout. Speed and memory are measured
// here, never asserted in tests. Takes about thirty minutes on a 2-core machine (the memory soak
// alone three and a half: SOAK_SECONDS and SOAK_IDLE_SECONDS shorten it, see soak.ts; the sends
// about three: SEND_BENCH_MESSAGES, see sends.ts; the outbox at volume about four:
// OUTBOX_BENCH_MESSAGES, see outbox.ts; the retention soak about four: RETENTION_SENDS and
// RETENTION_SECONDS, see retention.ts).
import { runAuthStoreBench } from './auth-store.ts';
import { runDevicesBench } from './devices.ts';
import { runOutboxBench } from './outbox.ts';
import { runRetentionBench } from './retention.ts';
import { runSendBench } from './sends.ts';
import { runSoakBench } from './soak.ts';
import { runHostMemoryBench } from './stack.ts';

const sends = await runSendBench();
const hostMemory = await runHostMemoryBench();
const authStores = await runAuthStoreBench();
const soak = await runSoakBench();
const manyDevices = await runDevicesBench();
const outbox = await runOutboxBench();
const retention = await runRetentionBench();
console.log(JSON.stringify({ node: process.version, date: new Date().toISOString(), sends, ...hostMemory, authStores: authStores.stores, soak, manyDevices, outbox, retention }, null, 2));
// Baileys leaves timers behind after its sockets close.
process.exit(0);

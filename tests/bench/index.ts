// `npm run bench`: every benchmark, one JSON document on stdout. Speed and memory are measured
// here, never asserted in tests. Takes a few minutes on a 2-core machine.
import { runAuthStoreBench } from './auth-store.ts';
import { runStackBench } from './stack.ts';

const stack = await runStackBench();
const authStores = await runAuthStoreBench();
console.log(JSON.stringify({ node: process.version, date: new Date().toISOString(), ...stack, authStores: authStores.stores }, null, 2));
// Baileys leaves timers behind after its sockets close.
process.exit(0);

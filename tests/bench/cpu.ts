// CPU time spent by each process of a run, read from the kernel's account (utime + stime in
// /proc/<pid>/stat), so a benchmark can say how many milliseconds of CPU a message costs in each
// process on its way: workerd, wrangler, the session host, the simulator, the bench itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cmdline, isWorkerProcess, tree } from './memory.ts';

// Clock ticks per second, usually 100: the kernel counts CPU time in these.
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) `pid` has used so far, in ms; 0 once it is gone. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the name (which may hold spaces); utime and stime are the 14th and 15th of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
  } catch {
    return 0;
  }
}

/** CPU time of `root` and every live process under it, in ms. */
export const treeCpuMs = (root: number) => tree(root).reduce((sum, p) => sum + processCpuMs(p.pid), 0);

/** The processes of `wrangler dev` (by its pid), each role's CPU ms so far. */
export function edgeCpuMs(wranglerPid: number): { workerWorkerd: number; devProxyWorkerd: number; wranglerNode: number } {
  const procs = tree(wranglerPid);
  let workerWorkerd = 0;
  let devProxyWorkerd = 0;
  let wranglerNode = 0;
  for (const p of procs) {
    const ms = processCpuMs(p.pid);
    // The Worker's workerd is the one with an inspector; the dev proxy's (wrangler's public port) has none.
    if (p.name === 'workerd') isWorkerProcess(p.pid) ? (workerWorkerd += ms) : (devProxyWorkerd += ms);
    // wrangler's bin script and the CLI it starts (and esbuild's watcher, if it is running).
    else if (cmdline(p.pid)) wranglerNode += ms;
  }
  return { workerWorkerd, devProxyWorkerd, wranglerNode };
}

/** This process's own CPU ms so far (the bench's HTTP clients, or raw Baileys when it sends itself). */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** CPU ms of each named process (or group of processes) at one moment. */
export type CpuReading = Record<string, number>;

/** CPU ms per message of each process between two readings. */
export function cpuPerMessage(before: CpuReading, after: CpuReading, messages: number): CpuReading {
  const out: CpuReading = {};
  for (const key of Object.keys(after)) out[key] = Math.round(((after[key]! - (before[key] ?? 0)) / messages) * 100) / 100;
  return out;
}

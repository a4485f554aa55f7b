// A CPU profile of an isolate, taken over the DevTools protocol (Profiler.start/stop), summarised
// as where its time went: the top functions and files by self time, and the share of our code,
// hono, drizzle, other packages, the runtime's own JS and native code. The Worker's bundle is
// minified, so its frames are mapped back to their sources through the bundle's source map.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Inspector } from './memory.ts';

const ROOT = resolve(import.meta.dirname, '../..');

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Starts sampling `inspector`'s isolate every `intervalUs`; the function returned stops it and gives the profile. */
export async function startProfile(inspector: Inspector, intervalUs: number): Promise<() => Promise<CpuProfile>> {
  await inspector.call('Profiler.enable');
  await inspector.call('Profiler.setSamplingInterval', { interval: intervalUs });
  await inspector.call('Profiler.start');
  return async () => {
    const { profile } = await inspector.call<{ profile: CpuProfile }>('Profiler.stop');
    await inspector.call('Profiler.disable').catch(() => undefined);
    return profile;
  };
}

// ───────────── where a frame comes from ─────────────

const sourceMaps = new Map<string, { map: SourceMap; dir: string } | undefined>();

/**
 * The file a frame's script was loaded from. wrangler's inspector proxy names the Worker's bundle
 * by its bare file name in profiles; wrangler dev writes it under .wrangler/tmp/dev-*, a fresh
 * folder per run, removed when it stops: the newest one is the running Worker's.
 */
function scriptFile(url: string): string | undefined {
  if (url.startsWith('file://')) return fileURLToPath(url);
  if (url.includes(':') || url.includes('/')) return undefined;
  const tmp = join(ROOT, '.wrangler/tmp');
  const candidates = readdirSync(tmp)
    .map((dir) => join(tmp, dir, url))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0];
}

/** The source map of a bundle on disk, if it has one. */
function sourceMapOf(url: string): { map: SourceMap; dir: string } | undefined {
  if (sourceMaps.has(url)) return sourceMaps.get(url);
  let found: { map: SourceMap; dir: string } | undefined;
  try {
    const file = scriptFile(url);
    if (!file) throw new Error('not a file');
    const reference = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(file, 'utf8'))?.[1];
    if (reference && !reference.startsWith('data:')) {
      const mapFile = resolve(dirname(file), reference);
      found = { map: new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))), dir: dirname(mapFile) };
    }
  } catch {
    // not a file, or no readable map: the frame stays as the runtime names it
  }
  sourceMaps.set(url, found);
  return found;
}

const RUNTIME_SCHEMES = ['workerd:', 'cloudflare-internal:', 'node-internal:', 'node:', 'cloudflare:'];

/** Which part of the system a source file belongs to. */
function categoryOfSource(source: string): string {
  if (source.startsWith('edge/') || source.startsWith('session-host/')) return 'ours';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(source)?.[1];
  if (pkg === 'hono') return 'hono';
  if (pkg === 'drizzle-orm') return 'drizzle';
  if (pkg === 'wrangler' || pkg === 'miniflare') return 'wrangler/miniflare glue';
  if (pkg) return `package: ${pkg}`;
  return 'other bundled';
}

interface Place {
  name: string;
  file: string;
  where: string;
  category: string;
}

const places = new Map<string, Place>();

function placeOf(frame: CallFrame): Place | undefined {
  const key = `${frame.url}|${frame.lineNumber}|${frame.columnNumber}|${frame.functionName}`;
  const cached = places.get(key);
  if (cached) return cached;
  const place = locate(frame);
  if (place) places.set(key, place);
  return place;
}

function locate(frame: CallFrame): Place | undefined {
  const { functionName, url, lineNumber, columnNumber } = frame;
  if (functionName === '(root)' || functionName === '(idle)') return undefined;
  if (!url) {
    if (functionName === '(garbage collector)') return { name: functionName, file: '(gc)', where: '', category: 'V8 garbage collector' };
    if (functionName === '(program)') return { name: functionName, file: '(program)', where: '', category: 'native: (program)' };
    return { name: functionName || '(anonymous)', file: '(native)', where: '', category: 'native built-ins (runtime C++)' };
  }
  if (RUNTIME_SCHEMES.some((s) => url.startsWith(s))) return { name: functionName || '(anonymous)', file: url, where: `${url}:${lineNumber + 1}`, category: "workerd's own JS" };
  const mapped = sourceMapOf(url);
  const entry = mapped?.map.findEntry(lineNumber, columnNumber) as { originalSource?: string; originalLine?: number; name?: string } | undefined;
  if (mapped && entry?.originalSource) {
    const source = relative(ROOT, resolve(mapped.dir, entry.originalSource.replace(/^file:\/\//, '')))
      // drizzle-orm's own maps point at a src/ folder beside its package, which it does not ship.
      .replace(/^node_modules\/src\//, 'node_modules/drizzle-orm/src/');
    // Minified names (one or two letters, `$0`) say nothing: the source's own name, if the map has it.
    const minified = functionName.length < 3 || functionName.startsWith('$') || functionName.startsWith('#');
    const name = (minified ? entry.name : functionName) || functionName || '(anonymous)';
    return { name, file: source, where: `${source}:${(entry.originalLine ?? 0) + 1}`, category: categoryOfSource(source) };
  }
  const file = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url;
  return { name: functionName || '(anonymous)', file, where: `${file}:${lineNumber + 1}`, category: /miniflare|wrangler/.test(url) ? 'wrangler/miniflare glue' : 'other scripts' };
}

// ───────────── summary ─────────────

export interface ProfileSummary {
  /** Sampled time the isolate was busy (not idle), ms. */
  busyMs: number;
  idleMs: number;
  samples: number;
  /** Busy ms by part of the system, largest first, with its share of the busy time. */
  categories: { category: string; ms: number; percent: number }[];
  topFunctions: { function: string; where: string; category: string; selfMs: number; percent: number }[];
  topFiles: { file: string; category: string; selfMs: number; percent: number }[];
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const functions = new Map<string, { place: Place; us: number }>();
  const files = new Map<string, { category: string; us: number }>();
  const categories = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  for (let i = 0; i < samples.length; i++) {
    // A sample stands for the time until the next one.
    const us = Math.max(0, deltas[i + 1] ?? 0);
    const frame = byId.get(samples[i]!)?.callFrame;
    if (!frame) continue;
    const place = placeOf(frame);
    if (!place) {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const fn = functions.get(`${place.name} ${place.where}`) ?? { place, us: 0 };
    fn.us += us;
    functions.set(`${place.name} ${place.where}`, fn);
    const file = files.get(place.file) ?? { category: place.category, us: 0 };
    file.us += us;
    files.set(place.file, file);
    categories.set(place.category, (categories.get(place.category) ?? 0) + us);
  }
  const percent = (us: number) => (busyUs ? round((us / busyUs) * 100) : 0);
  return {
    busyMs: round(busyUs / 1000),
    idleMs: round(idleUs / 1000),
    samples: samples.length,
    categories: [...categories].sort((a, b) => b[1] - a[1]).map(([category, us]) => ({ category, ms: round(us / 1000), percent: percent(us) })),
    topFunctions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ place, us }) => ({ function: place.name, where: place.where, category: place.category, selfMs: round(us / 1000), percent: percent(us) })),
    topFiles: [...files]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([file, { category, us }]) => ({ file, category, selfMs: round(us / 1000), percent: percent(us) })),
  };
}

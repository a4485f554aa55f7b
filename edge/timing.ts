// Server-Timing on every response, so anyone can see where a request's time goes: D1 (how many
// calls, how long in all), the session host's Durable Object, and the host's own round trip
// inside that call. D1 is measured by wrapping the binding the request's drizzle instance uses;
// the Durable Object and the host by `timedCall`, around each call into a HostLink.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MiddlewareHandler } from 'hono';

interface Spent {
  d1Calls: number;
  d1Ms: number;
  doCalls: number;
  doMs: number;
  hostMs: number;
}

const spending = new AsyncLocalStorage<Spent>();

/** Runs the request with a fresh account of its time and writes it into Server-Timing. */
export const serverTiming: MiddlewareHandler = async (c, next) => {
  const spent: Spent = { d1Calls: 0, d1Ms: 0, doCalls: 0, doMs: 0, hostMs: 0 };
  await spending.run(spent, next);
  const ms = (n: number) => n.toFixed(1);
  const header = [`d1;desc="${spent.d1Calls} calls";dur=${ms(spent.d1Ms)}`, `do;desc="${spent.doCalls} calls";dur=${ms(spent.doMs)}`, `host;dur=${ms(spent.hostMs)}`].join(', ');
  try {
    c.res.headers.append('Server-Timing', header);
  } catch {
    // A response with immutable headers (a static asset, a replayed fetch): copy it to add ours.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.append('Server-Timing', header);
  }
};

async function timed<T>(work: () => Promise<T>, add: (spent: Spent, ms: number) => void): Promise<T> {
  const spent = spending.getStore();
  if (!spent) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    add(spent, performance.now() - started);
  }
}

/** A call into a HostLink; `hostMs` tells what the host's own round trip took inside it, if any. */
export async function timedCall<T>(work: () => Promise<T>, hostMs?: (result: T) => number | undefined): Promise<T> {
  const spent = spending.getStore();
  const started = performance.now();
  try {
    const result = await work();
    if (spent) spent.hostMs += hostMs?.(result) ?? 0;
    return result;
  } finally {
    if (spent) {
      spent.doCalls++;
      spent.doMs += performance.now() - started;
    }
  }
}

const statements = new WeakMap<object, D1PreparedStatement>();

/** The D1 binding, counting and timing every call the request makes through it. */
export function timedD1(db: D1Database): D1Database {
  const count = <T>(work: () => Promise<T>) =>
    timed(work, (spent, ms) => {
      spent.d1Calls++;
      spent.d1Ms += ms;
    });
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === 'bind') return (...values: unknown[]) => wrap(target.bind(...values));
        if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw') {
          return (...args: unknown[]) => count(() => (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args));
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    statements.set(proxy, statement);
    return proxy;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (query: string) => wrap(target.prepare(query));
      if (prop === 'batch') return (batch: D1PreparedStatement[]) => count(() => target.batch(batch.map((s) => statements.get(s) ?? s)));
      if (prop === 'exec') return (query: string) => count(() => target.exec(query));
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

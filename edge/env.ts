import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { Caller, Sender } from './auth.ts';

export type DB = DrizzleD1Database;

// `Env` (the bindings) is generated from wrangler.toml by `npm run types`.
export type AppEnv = {
  Bindings: Env;
  Variables: {
    db: DB;
    /** Who the API key belongs to; set on every route that requires one. */
    caller: Caller;
    /** The caller of a send route (`auth: 'sender'`). */
    sender: Sender;
    /** Fonnte's rotator: the devices of a /send whose Authorization lists several keys (`sender` is the first). */
    rotator?: Sender[];
    /** Fonnte's `requestid` of a /send request, once its answer needs it (errors.ts: requestIdOf). */
    requestid?: number;
  };
};

// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: declared here, for
// both names of the bindings (`env` from cloudflare:workers is typed as Cloudflare.Env).
interface Secrets {
  ADMIN_KEY: string;
  HOST_SECRET?: string;
}
declare global {
  interface Env extends Secrets {}
  namespace Cloudflare {
    interface Env extends Secrets {}
  }
}

// `Env` (the bindings) is generated from wrangler.toml by `npm run types`.
export type AppEnv = {
  Bindings: Env;
  Variables: Record<string, never>;
};

// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: declared here.
declare global {
  interface Env {
    ADMIN_KEY: string;
    HOST_SECRET?: string;
  }
}

// `Env` (the bindings) is generated from wrangler.toml by `npm run types`.
export type AppEnv = {
  Bindings: Env;
  Variables: Record<string, never>;
};

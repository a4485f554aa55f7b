// The one Node API the Worker uses (wrangler.toml's `nodejs_als` flag provides it); the edge's
// types are the Workers runtime's alone, which do not declare Node modules.
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}

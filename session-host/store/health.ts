// Watches the store for the two ways it can fail the host while it runs: an outage (the backend
// does not answer) and a loss (it answers again, but empty: a Redis restarted without persistence
// or flushed, a DATA_DIR emptied). A sentinel key written at start tells a store that kept its
// data from one that lost it; it is checked every `intervalMs` and whenever Redis reconnects.
//
// On a loss, `onEmptied` writes back what the host still holds in memory, then the sentinel: if
// the store fails again halfway, the next check finds no sentinel and the rewrite runs again.
import type { Logger } from '../logger.ts';
import { StoreUnavailableError, type Store } from './store.ts';

const SENTINEL = 'host:sentinel';

export interface StoreHealthReport {
  status: 'up' | 'down';
  backend: 'redis' | 'files';
  /** When the current status began (ISO time). */
  since: string;
  /** Why it is down. */
  error?: string;
  /** The last time the store was found emptied, and what was written back. */
  emptied?: { at: string; rewritten: string };
}

export interface StoreMonitorOptions {
  store: Store;
  backend: StoreHealthReport['backend'];
  logger: Logger;
  /** How often the sentinel is read (default 5 s). */
  intervalMs?: number;
  /** Writes back what the host holds in memory; returns a line saying what that was. */
  onEmptied: () => Promise<string>;
}

export class StoreMonitor {
  private readonly store: Store;
  private readonly backend: StoreHealthReport['backend'];
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly onEmptied: () => Promise<string>;
  private down: { since: number; error: string } | undefined;
  private upSince = Date.now();
  private emptied: StoreHealthReport['emptied'];
  private checking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  /** Times the store was found emptied since the host started. */
  emptiedCount = 0;

  constructor(options: StoreMonitorOptions) {
    this.store = options.store;
    this.backend = options.backend;
    this.log = options.logger.child({ component: 'store' });
    this.intervalMs = options.intervalMs ?? 5_000;
    this.onEmptied = options.onEmptied;
  }

  /** Writes the sentinel (a store that has none is taken as it is) and starts watching. */
  async start(): Promise<void> {
    if (!(await this.store.get(SENTINEL))) await this.writeSentinel();
    this.timer = setInterval(() => void this.check(), this.intervalMs).unref();
    this.store.onReconnect?.(() => void this.check());
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether the store can be used now; false as soon as the backend is known to be unreachable. */
  get up(): boolean {
    // The backend says so at once (a dropped Redis connection); only a check brings it back.
    if (!this.down && !this.store.reachable) this.markDown(new Error('the connection to the store was lost'));
    return !this.down;
  }

  /** Throws a StoreUnavailableError while the store is down, so a caller fails before acting. */
  require(): void {
    if (!this.up) throw new StoreUnavailableError(`the session host's store is unavailable (${this.down?.error ?? 'not connected'})`);
  }

  /** Resolves once the store answers again (at once if it does now). */
  untilUp(): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      void this.check();
    });
  }

  get report(): StoreHealthReport {
    const down = this.up ? undefined : this.down!;
    return {
      status: down ? 'down' : 'up',
      backend: this.backend,
      since: new Date(down?.since ?? this.upSince).toISOString(),
      ...(down ? { error: down.error } : {}),
      ...(this.emptied ? { emptied: this.emptied } : {}),
    };
  }

  /** Reads the sentinel now (one check at a time): notes an outage, a recovery or a loss. */
  check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkNow(): Promise<void> {
    try {
      const sentinel = await this.store.get(SENTINEL);
      // It answers: up, even if empty (writing back is the next thing it has to do).
      if (this.store.reachable) this.markUp();
      if (!sentinel) await this.recover();
    } catch (error) {
      if (error instanceof StoreUnavailableError) return this.markDown(error);
      // A bug in the rewrite, not an outage: the sentinel is still missing, so the next check retries.
      this.log.error({ err: error }, 'writing back to the emptied store failed');
    }
  }

  private async recover(): Promise<void> {
    this.log.error(`the store came back empty (its ${this.backend === 'redis' ? 'Redis lost its data' : 'directory was emptied'}); writing back what this host holds`);
    this.emptied = { at: new Date().toISOString(), rewritten: 'writing back now' };
    const rewritten = await this.onEmptied();
    await this.writeSentinel();
    this.emptiedCount++;
    this.emptied = { ...this.emptied, rewritten };
    this.log.warn({ rewritten }, 'state written back to the emptied store');
  }

  private markDown(error: Error): void {
    if (this.down) {
      this.down.error = error.message;
      return;
    }
    this.down = { since: Date.now(), error: error.message };
    this.log.error({ err: error }, 'the store is unavailable');
  }

  private markUp(): void {
    if (this.down) {
      this.log.info({ downForMs: Date.now() - this.down.since }, 'the store is available again');
      this.down = undefined;
      this.upSince = Date.now();
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private writeSentinel(): Promise<void> {
    return this.store.write({ [SENTINEL]: JSON.stringify({ writtenAt: new Date().toISOString() }) });
  }
}

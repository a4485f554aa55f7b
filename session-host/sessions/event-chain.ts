// A device's WhatsApp event batches, handled one after another in arrival order. Baileys does not
// wait for an async handler, so the chain is ours. A batch that fails because the store is
// unavailable is not dropped: it runs again once the store is back, and the batches after it wait
// behind it. Any other failure is a bug in the handler: logged, and the chain moves on.
import type { Logger } from '../logger.ts';
import { StoreUnavailableError } from '../store/store.ts';

export interface StoreAvailability {
  /** Resolves once the store answers again. */
  untilUp(): Promise<void>;
}

/** Batches waiting per device during an outage; past it, new batches are dropped and logged. */
const WAITING_LIMIT = 10_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

export class EventChain {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;
  private readonly store: StoreAvailability;
  private readonly log: Logger;

  constructor(store: StoreAvailability, log: Logger) {
    this.store = store;
    this.log = log;
  }

  /** Queues `handle` behind every batch queued before it. */
  run(handle: () => Promise<void>): void {
    if (this.waiting >= WAITING_LIMIT) {
      this.log.error({ waiting: this.waiting }, 'too many WhatsApp event batches waiting for the store; this one is dropped');
      return;
    }
    this.waiting++;
    this.tail = this.tail
      .then(() => this.untilHandled(handle))
      .catch((error) => this.log.error({ err: error }, 'handling WhatsApp events failed'))
      .finally(() => this.waiting--);
  }

  private async untilHandled(handle: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await handle();
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        if (attempt === 0) this.log.warn({ err: error }, 'the store is unavailable: WhatsApp events wait until it is back');
        await this.store.untilUp();
        // A store that flaps would otherwise have this spin: back off between attempts too.
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt)));
      }
    }
  }
}

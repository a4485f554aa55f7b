// The host's events the edge must not miss, kept in the Store from the moment they are raised
// until the edge acknowledges that it applied them: receipts sat in the edge's message log as
// 'sent' for good when they were raised while no link was up, or while the host restarted.
//
// What is journaled: `message.status` (sent on WhatsApp's ack, delivered, read, played, failed)
// and `message.incoming`. Not `device.status`: the edge asks for every device's state
// (`host.status`) each time the link comes up, which supersedes any state change it missed.
// 'sent' is journaled because a send's answer can be lost (the link dropped, the edge timed
// out): the edge then keeps the message 'queued' with an unknown outcome, and only this event
// tells it the message went out. Each event costs one store write (one key, ~0.15 ms on the
// file store, one round trip on Redis). Acknowledged entries are deleted in batches, one write
// for everything acknowledged since the last one, off the event's path.
//
// Order: every entry gets a `seq`, increasing across restarts (`max(previous + 1, now in µs)`);
// the link sends new entries as they are raised and, when a link comes up, every entry not yet
// acknowledged, oldest first, before anything newer. The edge acknowledges cumulatively: `ack(n)`
// means it applied every entry up to n. An entry can reach the edge twice (the link dropped after
// it was applied, before the ack arrived); the edge's handling of both events is idempotent.
//
// Bound: at most `max` entries (10,000 by default, a few MB in memory and in the store). When
// full, the oldest entry goes first: a newer receipt for the same message supersedes an older
// one (the edge never moves a message backwards), and incoming messages also reach the device's
// webhook through its own queue. Drops are counted and logged.
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { events, type EventData, type EventName } from './protocol.ts';

export interface JournalEntry {
  seq: number;
  event: EventName;
  data: unknown;
}

interface Held extends JournalEntry {
  /** Settles once the entry's write has (or has failed): a delete must not overtake it. */
  written: Promise<void>;
}

export interface JournalStats {
  /** Entries waiting for the edge's acknowledgement. */
  depth: number;
  /** Entries dropped unacknowledged because the journal was full. */
  dropped: number;
}

export const DEFAULT_JOURNAL_MAX = 10_000;

/** Whether the edge must see this event even if it is raised while no link is up. */
export function isJournaled<E extends EventName>(event: E, _data: EventData<E>): boolean {
  return event === 'message.incoming' || event === 'message.status';
}

export class EventJournal {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly max: number;
  private readonly prefix: string;
  /** Unacknowledged entries in seq order (Map keeps insertion order, and seq only grows). */
  private readonly entries = new Map<number, Held>();
  private seq = 0;
  private dropped = 0;
  /** Entries acknowledged whose keys are not deleted yet. */
  private acked: Held[] = [];
  private deleting: Promise<void> | undefined;

  constructor(options: { store: Store; logger: Logger; max?: number; keyPrefix?: string }) {
    this.store = options.store;
    this.log = options.logger.child({ component: 'journal' });
    this.max = options.max ?? DEFAULT_JOURNAL_MAX;
    this.prefix = options.keyPrefix ?? 'linkjournal:';
  }

  /** Reads what a previous run left unacknowledged; call once, before anything is recorded. */
  async load(): Promise<void> {
    const keys = await this.store.keys(this.prefix);
    const values = await this.store.getMany(keys);
    const loaded: JournalEntry[] = [];
    values.forEach((value, i) => {
      const entry = value === undefined ? undefined : parseEntry(value);
      if (entry) loaded.push(entry);
      else if (value !== undefined) this.log.error({ key: keys[i] }, 'unreadable journal entry skipped');
    });
    loaded.sort((a, b) => a.seq - b.seq);
    // A smaller cap than the last run's: the oldest go, as they would have.
    const excess = loaded.splice(0, Math.max(0, loaded.length - this.max));
    if (excess.length) {
      this.dropped += excess.length;
      await this.store.write(Object.fromEntries(excess.map((e) => [this.key(e.seq), null])));
    }
    for (const entry of loaded) this.entries.set(entry.seq, { ...entry, written: Promise.resolve() });
    this.seq = Math.max(this.seq, loaded.at(-1)?.seq ?? 0);
    if (loaded.length) this.log.info({ pending: loaded.length }, 'unacknowledged link events resumed');
  }

  /**
   * Journals the event if the edge must see it, and returns its seq (undefined when it is not
   * journaled). Synchronous, so entries are in the order events are raised; the write goes on
   * in the background and a failed one is logged (the entry still goes out while this process
   * lives).
   */
  record<E extends EventName>(event: E, data: EventData<E>): number | undefined {
    if (!isJournaled(event, data)) return undefined;
    this.seq = Math.max(this.seq + 1, Date.now() * 1000);
    const seq = this.seq;
    const changes: Record<string, string | null> = { [this.key(seq)]: JSON.stringify({ seq, event, data }) };
    // Full: the oldest goes, in the same write.
    while (this.entries.size >= this.max) {
      const [oldest] = this.entries.keys();
      this.entries.delete(oldest!);
      changes[this.key(oldest!)] = null;
      if (this.dropped++ % 1000 === 0) this.log.warn({ dropped: this.dropped, max: this.max }, 'link journal full: oldest unacknowledged events dropped');
    }
    const written = this.store.write(changes).catch((error) => this.log.error({ err: error, seq }, 'link event could not be journaled'));
    this.entries.set(seq, { seq, event, data, written });
    return seq;
  }

  /** Entries the edge has not acknowledged, oldest first. */
  pending(): JournalEntry[] {
    return Array.from(this.entries.values(), ({ seq, event, data }) => ({ seq, event, data }));
  }

  /** The edge applied every entry up to `seq`: forget them. */
  ack(seq: number): void {
    for (const [s, entry] of this.entries) {
      if (s > seq) break;
      this.entries.delete(s);
      this.acked.push(entry);
    }
    if (this.acked.length) this.deleting ??= this.deleteAcked();
  }

  /** One write per pass, covering every acknowledgement that arrived meanwhile. */
  private async deleteAcked(): Promise<void> {
    while (this.acked.length) {
      const batch = this.acked;
      this.acked = [];
      await Promise.all(batch.map((entry) => entry.written));
      try {
        await this.store.write(Object.fromEntries(batch.map((entry) => [this.key(entry.seq), null])));
      } catch (error) {
        // Only a restart before the next successful write would send these again (harmless).
        this.log.error({ err: error, entries: batch.length }, 'acknowledged link events could not be deleted');
      }
    }
    this.deleting = undefined;
  }

  /** Waits for writes and deletes in flight (before the store closes). */
  async settled(): Promise<void> {
    await Promise.all(Array.from(this.entries.values(), (entry) => entry.written));
    await this.deleting;
  }

  get stats(): JournalStats {
    return { depth: this.entries.size, dropped: this.dropped };
  }

  private key(seq: number): string {
    return `${this.prefix}${seq}`;
  }
}

function parseEntry(text: string): JournalEntry | undefined {
  try {
    const { seq, event, data } = JSON.parse(text) as Partial<JournalEntry>;
    if (!Number.isSafeInteger(seq) || !(typeof event === 'string' && event in events)) return undefined;
    return events[event].safeParse(data).success ? { seq: seq!, event, data } : undefined;
  } catch {
    return undefined;
  }
}

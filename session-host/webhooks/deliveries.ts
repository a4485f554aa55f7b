// What became of each device's recent webhooks, for people to see (and retry) when a receiver
// fails. A job still in the queue is its own record (queue.ts keeps its attempts, last status code
// and error on it); this file keeps the finished ones: delivered, given up, or dropped.
//
// A device's finished records are one key, `delivery:<device>`, holding its newest `perDevice` of
// them. Records are gathered in memory and written every FLUSH_MS, one read and one write per
// device that had any, so a delivery's own writes stay what they were and a busy device costs a
// few writes a second however many webhooks it sends (a key per record was a file created and one
// deleted per webhook). Listing reads the gathered ones too. A crash loses at most the last
// FLUSH_MS of records, never a webhook. Records older than the retention are left out when the key
// is read or written, and the key itself expires a retention after its newest record, so an idle
// device's history goes like other per-message state.
import { z } from 'zod';
import type { Store } from '../store/store.ts';

/** How long finished records wait in memory to be written together. */
const FLUSH_MS = 500;
/** Records held through a store outage; past it the oldest are forgotten (they are only for display). */
const MAX_UNWRITTEN = 10_000;

export const DELIVERY_STATUSES = ['pending', 'failed', 'delivered', 'dropped'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One webhook as shown to people; times in ms since the epoch. */
export interface Delivery {
  /** The job's id, sent as X-Webhook-Id. */
  id: string;
  event: string;
  /** The target of the last attempt, as logs show it: no userinfo, no query values. */
  url: string | null;
  /** pending: not tried yet; failed: the last attempt failed (a retry is due at `nextAttemptAt`, or none: given up). */
  status: DeliveryStatus;
  /** HTTP status of the last attempt; null when none was made or it got no answer. */
  statusCode: number | null;
  error: string | null;
  attempts: number;
  createdAt: number;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  /** The id in the body (the message's), for reference. */
  messageId: string | null;
  /** Whether `retry` can act on it now. */
  retryable: boolean;
}

const recordSchema = z.object({
  id: z.string(),
  event: z.string(),
  url: z.string().nullable(),
  status: z.enum(DELIVERY_STATUSES),
  statusCode: z.number().nullable(),
  error: z.string().nullable(),
  attempts: z.number(),
  createdAt: z.number(),
  lastAttemptAt: z.number().nullable(),
  deliveredAt: z.number().nullable(),
  messageId: z.string().nullable(),
  /** When it left the queue: the order of the list, and what the retention counts from. */
  finishedAt: z.number(),
  /** Kept only for a job given up, so it can be queued again (once: `requeued` says it was). */
  payload: z.looseObject({}).optional(),
  requeued: z.boolean().optional(),
});
export type FinishedRecord = z.infer<typeof recordSchema>;
const recordList = z.array(z.unknown());

export interface DeliveryHistoryOptions {
  store: Store;
  retentionMs: number;
  /** Finished records kept per device (200). */
  perDevice?: number;
  keyPrefix?: string;
}

export class DeliveryHistory {
  private readonly store: Store;
  private readonly retentionMs: number;
  readonly perDevice: number;
  private readonly prefix: string;
  /** Per device, records not written yet, oldest first. */
  private unwritten = new Map<string, FinishedRecord[]>();
  private unwrittenCount = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Read-modify-writes of the keys, one at a time. */
  private tail: Promise<void> = Promise.resolve();

  constructor(options: DeliveryHistoryOptions) {
    this.store = options.store;
    this.retentionMs = options.retentionMs;
    this.perDevice = Math.max(1, options.perDevice ?? 200);
    this.prefix = options.keyPrefix ?? 'delivery:';
  }

  /** Records a finished job; it is written with the next flush. */
  finish(deviceId: string, record: FinishedRecord): void {
    const records = this.unwritten.get(deviceId) ?? [];
    records.push(record);
    this.unwritten.set(deviceId, records);
    if (++this.unwrittenCount > MAX_UNWRITTEN) this.dropOldestUnwritten();
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Writes the gathered records now; after a failure they are kept and tried again later. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.serially(async () => {
      if (!this.unwritten.size) return;
      const batch = this.unwritten;
      this.unwritten = new Map();
      this.unwrittenCount = 0;
      try {
        const devices = [...batch.keys()];
        const stored = await this.store.getMany(devices.map((d) => this.key(d)));
        const changes: Record<string, string | null> = {};
        const expiresAt: Record<string, number> = {};
        devices.forEach((deviceId, i) => {
          const records = this.trim([...this.parse(stored[i]), ...batch.get(deviceId)!]);
          this.put(changes, expiresAt, deviceId, records);
        });
        await this.store.write(changes, { expiresAt });
      } catch {
        // Kept, behind nothing: records finished since come after them.
        for (const [deviceId, records] of batch) this.unwritten.set(deviceId, [...records, ...(this.unwritten.get(deviceId) ?? [])]);
        this.unwrittenCount += [...batch.values()].reduce((n, r) => n + r.length, 0);
        this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS * 4).unref();
      }
    });
  }

  /** The device's records, newest first. */
  async list(deviceId: string): Promise<FinishedRecord[]> {
    const stored = this.parse(await this.store.get(this.key(deviceId)));
    return this.trim([...stored, ...(this.unwritten.get(deviceId) ?? [])]).reverse();
  }

  /** Deletes one record (a given-up job queued again is a queue job once more). */
  remove(deviceId: string, id: string): Promise<void> {
    const unwritten = this.unwritten.get(deviceId);
    if (unwritten)
      this.unwritten.set(
        deviceId,
        unwritten.filter((r) => r.id !== id),
      );
    return this.serially(async () => {
      const records = this.trim(this.parse(await this.store.get(this.key(deviceId))));
      const changes: Record<string, string | null> = {};
      const expiresAt: Record<string, number> = {};
      this.put(
        changes,
        expiresAt,
        deviceId,
        records.filter((r) => r.id !== id),
      );
      await this.store.write(changes, { expiresAt });
    });
  }

  private put(changes: Record<string, string | null>, expiresAt: Record<string, number>, deviceId: string, records: FinishedRecord[]): void {
    const key = this.key(deviceId);
    changes[key] = records.length ? JSON.stringify(records) : null;
    if (records.length) expiresAt[key] = records.at(-1)!.finishedAt + this.retentionMs;
  }

  /** Oldest first, within the retention, at most `perDevice`. */
  private trim(records: FinishedRecord[]): FinishedRecord[] {
    const since = Date.now() - this.retentionMs;
    return records.filter((r) => r.finishedAt > since).slice(-this.perDevice);
  }

  private parse(value: string | undefined): FinishedRecord[] {
    const list = value === undefined ? undefined : recordList.safeParse(safeJson(value));
    if (!list?.success) return [];
    return list.data.flatMap((item) => {
      const record = recordSchema.safeParse(item);
      return record.success ? [record.data] : [];
    });
  }

  private dropOldestUnwritten(): void {
    let oldest: [string, FinishedRecord] | undefined;
    for (const [deviceId, records] of this.unwritten) if (records[0] && (!oldest || records[0].finishedAt < oldest[1].finishedAt)) oldest = [deviceId, records[0]];
    if (!oldest) return;
    this.unwritten.get(oldest[0])!.shift();
    this.unwrittenCount--;
  }

  private key(deviceId: string): string {
    return `${this.prefix}${deviceId}`;
  }

  private serially(operation: () => Promise<void>): Promise<void> {
    const run = this.tail.then(operation);
    this.tail = run.catch(() => {});
    return run;
  }
}

/** The record view of a finished record. */
export function finishedView(record: FinishedRecord): Delivery {
  return {
    id: record.id,
    event: record.event,
    url: record.url,
    status: record.status,
    statusCode: record.statusCode,
    error: record.error,
    attempts: record.attempts,
    createdAt: record.createdAt,
    lastAttemptAt: record.lastAttemptAt,
    nextAttemptAt: null,
    deliveredAt: record.deliveredAt,
    messageId: record.messageId,
    retryable: record.status === 'failed' && !!record.payload && !record.requeued,
  };
}

/** The id a body names (a message's, or a status change's message), if any. */
export function bodyId(payload: object): string | null {
  const id = (payload as { id?: unknown }).id;
  return typeof id === 'string' ? id.slice(0, 200) : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

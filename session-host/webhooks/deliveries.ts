// What became of each device's recent webhooks, for people to see (and retry) when a receiver
// fails. A job still in the queue is its own record (queue.ts keeps its attempts, last status code
// and error on it); this file keeps the finished ones: delivered, given up, or dropped. A finished
// job's record is written in the same store write that deletes the job, so the hot path gains one
// small key per webhook, never a write of its own. Records expire with the retention like other
// per-message state, and each device keeps at most `perDevice` of them: the oldest are deleted in
// the write that adds a new one.
import { z } from 'zod';
import type { Changes, Store } from '../store/store.ts';

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
  /** Kept only for a job given up, so it can be queued again (once: `requeued` says it was). */
  payload: z.looseObject({}).optional(),
  requeued: z.boolean().optional(),
});
export type FinishedRecord = z.infer<typeof recordSchema>;

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
  /** Per device, its records' keys oldest first (by the job's seq); some may have expired since. */
  private readonly keysByDevice = new Map<string, { seq: number; key: string }[]>();

  constructor(options: DeliveryHistoryOptions) {
    this.store = options.store;
    this.retentionMs = options.retentionMs;
    this.perDevice = Math.max(1, options.perDevice ?? 200);
    this.prefix = options.keyPrefix ?? 'delivery:';
  }

  /** Reads which records a previous run left, so trimming counts them. */
  async load(): Promise<void> {
    this.keysByDevice.clear();
    for (const key of await this.store.keys(this.prefix)) {
      const name = this.nameOf(key);
      if (name) this.index(name.deviceId, name.seq, key);
    }
  }

  /**
   * The changes that record a finished job, to add to the queue's own write: the record, and the
   * deletion of the device's oldest records past `perDevice`.
   */
  finish(deviceId: string, seq: number, record: FinishedRecord): { changes: Changes; expiresAt: Record<string, number> } {
    const key = `${this.prefix}${deviceId}:${seq}-${record.id}`;
    const changes: Changes = { [key]: JSON.stringify(record) };
    const keys = this.index(deviceId, seq, key);
    while (keys.length > this.perDevice) changes[keys.shift()!.key] = null;
    return { changes, expiresAt: { [key]: Date.now() + this.retentionMs } };
  }

  /** The device's records, newest first. */
  async list(deviceId: string): Promise<(FinishedRecord & { key: string })[]> {
    const keys = (await this.store.keys(`${this.prefix}${deviceId}:`))
      .map((key) => ({ key, name: this.nameOf(key) }))
      .filter(({ name }) => name?.deviceId === deviceId)
      .sort((a, b) => b.name!.seq - a.name!.seq);
    const values = await this.store.getMany(keys.map((k) => k.key));
    return keys.flatMap(({ key }, i) => {
      const parsed = values[i] === undefined ? undefined : recordSchema.safeParse(safeJson(values[i]!));
      return parsed?.success ? [{ ...parsed.data, key }] : [];
    });
  }

  /** Deletes one record (a given-up job queued again is a queue job once more). */
  async remove(deviceId: string, key: string): Promise<void> {
    const keys = this.keysByDevice.get(deviceId);
    const i = keys?.findIndex((k) => k.key === key) ?? -1;
    if (i >= 0) keys!.splice(i, 1);
    await this.store.write({ [key]: null });
  }

  private index(deviceId: string, seq: number, key: string): { seq: number; key: string }[] {
    const keys = this.keysByDevice.get(deviceId) ?? [];
    let i = keys.length;
    while (i > 0 && keys[i - 1]!.seq > seq) i--;
    if (keys[i - 1]?.key !== key) keys.splice(i, 0, { seq, key });
    this.keysByDevice.set(deviceId, keys);
    return keys;
  }

  private nameOf(key: string): { deviceId: string; seq: number } | undefined {
    const split = key.lastIndexOf(':');
    const match = /^(\d+)-/.exec(key.slice(split + 1));
    if (!match || split < this.prefix.length) return undefined;
    return { deviceId: key.slice(this.prefix.length, split), seq: Number(match[1]) };
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

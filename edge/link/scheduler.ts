// Delivers the durable outbox (outbox.ts) over the link: due sends one at a time, only the head
// of each recipient's queue, paced per device, retried with backoff; and the status notices only
// the edge sees (queued, failed before sending, cancelled) handed to the host for the webhooks.
import type { Params, Result } from '../../session-host/link/protocol.ts';
import { sendTimeout } from './dispatch.ts';
import type { MessageLog } from './message-log.ts';
import type { Outbox, Notice, QueueItem, QueuedRow } from './outbox.ts';
import type { Projection } from './projection.ts';
import type { LinkTransport, Outcome } from './transport.ts';

/** Queued sends tried this often (retries after failures count) before they are failed. */
export const MAX_ATTEMPTS = 8;
// Failures a retry cannot mend: the request itself is wrong.
const PERMANENT = new Set(['bad_request', 'media_error', 'not_found']);
const PACING_CACHE_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;

/**
 * Wraps `work` so only one pass runs at a time; a call during a pass returns that pass and asks
 * for one more after it (`keepAlive` holds the object up for it), so nothing that arrived meanwhile
 * waits for the next trigger.
 */
function oneAtATime(work: () => Promise<void>, keepAlive: (pass: Promise<void>) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = work().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        keepAlive(run());
      }
    });
    return running;
  };
  return run;
}

export interface SchedulerDeps {
  outbox: Outbox;
  link: LinkTransport;
  /** Where each send's outcome is recorded. */
  messageLog: MessageLog;
  projection: () => Projection;
  /** Keeps the Durable Object up for background work. */
  waitUntil(work: Promise<unknown>): void;
  /** Asks for the alarm at `dueAt` (unix ms) at the latest, for the next due send. */
  wakeAt(dueAt: number): Promise<void>;
  log: string;
}

export class OutboxScheduler {
  private readonly deps: SchedulerDeps;
  /** Delivers due sends; one pass at a time (see `oneAtATime`). */
  readonly drain: () => Promise<void>;
  /** Hands the waiting status notices to the host, in order. */
  readonly flushNotices: () => Promise<void>;
  /**
   * The queued send being delivered, from the moment it is chosen (before anything is awaited)
   * until its outcome is known: it can no longer be cancelled or rescheduled.
   */
  private sendingId?: string;
  /** Per device: pacing settings, cached briefly (when its next send may go is in the outbox). */
  private readonly pacing = new Map<string, { intervalMs: number; jitterMs: number; loadedAt: number }>();

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.drain = oneAtATime(() => this.deliver(), deps.waitUntil);
    this.flushNotices = oneAtATime(() => this.handOverNotices(), deps.waitUntil);
  }

  private get outbox(): Outbox {
    return this.deps.outbox;
  }

  /** How many sends wait. */
  get size(): number {
    return this.outbox.size;
  }

  /** Stores sends durably, then starts delivering them; returns once they are stored. */
  enqueue(items: QueueItem[]): void {
    const added = this.outbox.add(items);
    this.notify(items.filter((item) => added.has(item.id)).map((item) => ({ deviceId: item.params.deviceId, messageId: item.id, to: item.params.to, status: 'queued' as const, reason: null })));
    if (this.deps.link.isUp) this.deps.waitUntil(this.drain());
  }

  /** Takes a waiting send out of the queue: 'sending' once it is on the wire, 'unknown' if not queued. */
  cancel(id: string): 'cancelled' | 'sending' | 'unknown' {
    if (this.sendingId === id) return 'sending';
    const params = this.outbox.take(id);
    if (!params) return 'unknown';
    this.deps.messageLog.change(id, { status: 'failed', error: 'cancelled', failedAt: Date.now() });
    this.notify([{ deviceId: params.deviceId, messageId: id, to: params.to, status: 'failed', reason: 'cancelled' }]);
    return 'cancelled';
  }

  /** Takes many waiting sends out of the queue at once (a broadcast's rest); how many were. */
  cancelMany(ids: string[]): { cancelled: number; sending: number } {
    let cancelled = 0;
    let sending = 0;
    for (const id of ids) {
      const outcome = this.cancel(id);
      if (outcome === 'cancelled') cancelled++;
      else if (outcome === 'sending') sending++;
    }
    return { cancelled, sending };
  }

  /** Moves a waiting send to `dueAt` (unix ms). */
  async reschedule(id: string, dueAt: number): Promise<'rescheduled' | 'sending' | 'unknown'> {
    if (this.sendingId === id) return 'sending';
    if (!this.outbox.reschedule(id, dueAt)) return 'unknown';
    this.deps.messageLog.change(id, { scheduledAt: dueAt });
    await this.wake();
    return 'rescheduled';
  }

  /** A device back online takes its waiting retries now rather than at their backoff. */
  deviceBack(deviceId: string): void {
    if (this.outbox.retryNow(deviceId)) this.deps.waitUntil(this.drain());
  }

  /** Records status changes for the device's webhook; the host gets them as soon as the link is up. */
  private notify(changes: Omit<Notice, 'timestamp'>[]): void {
    if (!changes.length) return;
    const timestamp = Math.floor(Date.now() / 1000);
    this.outbox.notify(changes.map((change) => ({ ...change, timestamp })));
    if (this.deps.link.isUp) this.deps.waitUntil(this.flushNotices());
  }

  /** Stops at the first notice that does not go through: the next link (re)connect tries again. */
  private async handOverNotices(): Promise<void> {
    for (const { seq, notice } of this.outbox.notices()) {
      // Never a dial of its own: the next link's start hands over what is left.
      if (!this.deps.link.isUp) return;
      const outcome = await this.deps.link.request('webhook.status', notice);
      // A device the host no longer knows has no webhook to tell: drop it, keep the rest.
      if (!outcome.ok && outcome.error.code !== 'not_found') {
        console.warn(`${this.deps.log}: status notice not handed over yet: ${outcome.error.message}`);
        return;
      }
      this.outbox.noticed(seq);
    }
  }

  private async deliver(): Promise<void> {
    try {
      // One at a time: per-device pacing and per-recipient order need no more, and the host's
      // own send queue would serialise them anyway.
      while (this.deps.link.isUp) {
        const next = this.outbox.next(Date.now());
        if (!next) break;
        // Taken in the same step it is chosen in: a cancel from now on answers 'sending'.
        this.sendingId = next.id;
        await this.deliverOne(next);
      }
    } catch (error) {
      console.error(`${this.deps.log}: outbox delivery failed:`, error);
    }
    await this.wake();
  }

  /** Asks for the alarm at the next due send (the HostLink keeps it no later than the heartbeat). */
  async wake(): Promise<void> {
    if (!this.deps.link.isUp) return;
    await this.deps.wakeAt(this.outbox.nextDueAt() ?? Infinity);
  }

  /** Delivers the send `deliver` has taken (`sendingId`), and lets it go once its outcome is known. */
  private async deliverOne(item: QueuedRow): Promise<void> {
    const { id, params } = item;
    let pacing: { intervalMs: number; jitterMs: number };
    let outcome: Outcome<Result<'message.send'>>;
    try {
      pacing = await this.pacingOf(params.deviceId);
      // The log id is the host's outbox id: after an ambiguous failure (a timeout, the link
      // dropping mid-send) the retry gets the first send's result instead of a second message.
      outcome = await this.deps.link.request('message.send', params as Params<'message.send'>, sendTimeout(params));
    } finally {
      this.sendingId = undefined;
    }
    const log = this.deps.messageLog;
    const attempts = item.attempts + 1;
    if (outcome.ok) {
      this.outbox.remove(id);
      this.outbox.pace(params.deviceId, Date.now() + pacing.intervalMs + Math.floor(Math.random() * (pacing.jitterMs + 1)));
      log.change(id, { status: 'sent', waMessageId: outcome.result.id, sentAt: Date.now(), attempts, error: null });
      this.deps.waitUntil(log.flush());
      return;
    }
    const { code, message } = outcome.error;
    // The link is down (the loop stops): not the message's fault, so no attempt is counted. A send
    // cut by the drop stays at the head of the queue and goes again, under the same outbox id,
    // when the link is back: the host answers with its first result if it had sent it.
    if (code === 'host_offline' || (outcome.error.unknown && !this.deps.link.isUp)) return;
    if (PERMANENT.has(code) || attempts >= MAX_ATTEMPTS) {
      this.outbox.remove(id);
      const reason = PERMANENT.has(code) ? message : `gave up after ${attempts} attempts: ${message}`;
      log.change(id, { status: 'failed', error: reason, failedAt: Date.now(), attempts });
      this.deps.waitUntil(log.flush());
      this.notify([{ deviceId: params.deviceId, messageId: id, to: params.to, status: 'failed', reason }]);
      return;
    }
    this.outbox.retryLater(id, Date.now() + Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** attempts));
    log.change(id, { error: message, attempts });
    this.deps.waitUntil(log.flush());
  }

  private async pacingOf(deviceId: string): Promise<{ intervalMs: number; jitterMs: number }> {
    const cached = this.pacing.get(deviceId);
    if (cached && Date.now() - cached.loadedAt < PACING_CACHE_MS) return cached;
    const pacing = { ...(await this.deps.projection().pacing(deviceId)), loadedAt: Date.now() };
    this.pacing.set(deviceId, pacing);
    return pacing;
  }
}

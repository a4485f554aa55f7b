// Webhook deliveries (incoming messages, message status, connection and group changes), durable in the
// Store: a job is written before `enqueue` resolves and deleted only after the receiver answered
// 2xx or 3xx, so a restart or a crash loses nothing. Each job carries one random id, sent as
// X-Webhook-Id on every attempt: the one duplicate a crash can cause (killed after the answer and
// before the delete) is recognisable by receivers.
//
// While the store is unavailable a new job is held in memory (at most HELD_LIMIT of them) and
// written once the store is back, then delivered: an outage delays webhooks but loses none,
// unless the host also dies before the store returns.
//
// Memory is a window, not the queue: per device at most `windowPerDevice` jobs (the oldest) are
// held in memory, since only a device's oldest job can be delivered anyway; the rest stay in the
// store only and are paged in, oldest first, as the device's window drains below half. A job's
// key carries its `seq` (`webhook:<device>:<seq>-<id>`), so a page-in sorts one device's listing
// without reading the jobs it leaves out. Per device the jobs in memory are always the oldest
// pending ones, so FIFO holds; a busy or failing device fills only its own window, never the
// others'. Memory is at most devices × windowPerDevice jobs, however many are queued.
//
// One queue instance owns a store namespace; two processes sharing one would both deliver.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RequestError, displayUrl, safeRequest } from '../net/safe-request.ts';
import { LinkError } from '../link/protocol.ts';
import { StoreUnavailableError, type Store } from '../store/store.ts';
import { bodyId, DeliveryHistory, finishedView, type Delivery, type DeliveryStatus, type FinishedRecord } from './deliveries.ts';
import { signWebhook } from './signature.ts';

export type WebhookEventType = 'message' | 'status' | 'connection' | 'group';
export interface WebhookEvent {
  type: WebhookEventType;
  payload: object;
}
export interface WebhookTarget {
  url: string;
  secret: string;
}

export interface WebhookQueueOptions {
  store: Store;
  logger: Logger;
  /** Where a device's webhooks of `type` go now; undefined (no URL, device gone) drops the job. */
  target: (deviceId: string, type: WebhookEventType) => WebhookTarget | undefined | Promise<WebhookTarget | undefined>;
  /** MEDIA_ALLOW_PRIVATE_NETWORKS: the same rule as media URLs. */
  allowPrivateNetworks: boolean;
  /** Deliveries at once, across devices (each device delivers one at a time, in order). */
  concurrency?: number;
  /** Per attempt, the whole exchange. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** How long `stop()` waits for deliveries in flight. */
  stopTimeoutMs?: number;
  keyPrefix?: string;
  /** Jobs per device held in memory (default 100); more wait in the store. */
  windowPerDevice?: number;
  /**
   * The body of one attempt, from the stored payload: what must be fresh when it is posted (a
   * signed link that expires) is added here, not at enqueue, so a retry an hour later still works.
   */
  prepare?: (deviceId: string, type: WebhookEventType, payload: object) => object | Promise<object>;
  /** How long finished deliveries stay listed (RETENTION_DAYS; default 7 days). */
  historyRetentionMs?: number;
  /** Finished deliveries listed per device (default 200). */
  historyPerDevice?: number;
}

/** Retry timing, in milliseconds; the defaults suit production, tests shorten them. */
export interface RetryOptions {
  /** Delay before the first retry (2 s); it doubles each time, with ±20% jitter, up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Longest wait between attempts (1 h). */
  maxDelayMs?: number;
  /** A job still undelivered this long after its event is given up (24 h). */
  maxAgeMs?: number;
}

export interface WebhookStats {
  /** Jobs not yet delivered, dropped or expired (in flight included). */
  depth: number;
  inFlight: number;
  delivered: number;
  /** Failed attempts (each retry counts). */
  failures: number;
  /** Jobs discarded undelivered: expired, or their device had no webhook target. */
  dropped: number;
  /** Jobs only in memory, waiting for the store to come back before they are delivered. */
  held: number;
  /** Of `dropped`, those given up after `maxAgeMs`. */
  expired: number;
}

const EVENT_TYPES = ['message', 'status', 'connection', 'group'] as const;

const jobSchema = z.object({
  id: z.string(),
  deviceId: z.string(),
  type: z.enum(EVENT_TYPES),
  payload: z.looseObject({}),
  createdAt: z.number(),
  /** Enqueue order, increasing across restarts: `max(previous + 1, now in µs)`. */
  seq: z.number(),
  attempts: z.number(),
  dueAt: z.number(),
  lastError: z.string().optional(),
  /** The last attempt: when, where to (as logs show it), and the HTTP status it got (none: no answer). */
  lastAttemptAt: z.number().optional(),
  url: z.string().optional(),
  lastStatus: z.number().optional(),
  /** Queued again by hand after it was given up; it will not be again. */
  requeued: z.boolean().optional(),
});
type Job = z.infer<typeof jobSchema>;

/** Only the status line and a little of the body are kept, for the failure reason. */
const REPLY_BYTES = 1024;
const MAX_TIMER = 2 ** 31 - 1;
/** Jobs held in memory through a store outage; past it, `enqueue` fails as the store does. */
const HELD_LIMIT = 10_000;
const HELD_RETRY_MS = 1_000;
/** A key's last segment: `<seq>-<id>`. Keys written before the window existed hold only the id. */
const KEY_NAME = /^(\d+)-(.+)$/;

export class WebhookQueue {
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly target: WebhookQueueOptions['target'];
  private readonly allowPrivateNetworks: boolean;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAgeMs: number;
  private readonly stopTimeoutMs: number;
  private readonly prefix: string;
  private readonly windowPerDevice: number;
  private readonly prepare: NonNullable<WebhookQueueOptions['prepare']>;
  private readonly history: DeliveryHistory;

  /**
   * The window: per device its oldest pending jobs, in `seq` order; the head is the only one that
   * may be delivered.
   */
  private readonly devices = new Map<string, Job[]>();
  /** Per device, jobs stored (or being stored) but not in memory: they are all newer than its window. */
  private readonly outside = new Map<string, number>();
  /**
   * Per device, the highest seq that entered its window. Every job outside the window is newer,
   * so a page-in skips anything at or below it: jobs in the window, and delivered ones whose
   * delete has not reached the store yet.
   */
  private readonly highWater = new Map<string, number>();
  /** Jobs written straight to the store whose write has not succeeded yet (in flight, or held). */
  private readonly spilling = new Map<string, { deviceId: string; seq: number }>();
  /** Devices whose last page-in found nothing it could load yet (their newer jobs still being written). */
  private readonly stalled = new Set<string>();
  private readonly paging = new Map<string, Promise<void>>();
  /** Keys that could not be parsed: never paged in again (left in place as evidence). */
  private readonly unreadable = new Set<string>();
  /** Jobs whose write has not finished yet: not deliverable, and they hold back their device. */
  private readonly unsaved = new Set<string>();
  /** Of those, jobs the store refused during an outage, written again every HELD_RETRY_MS. */
  private readonly held = new Map<string, Job>();
  private heldTimer: NodeJS.Timeout | undefined;
  /** The delivery in flight per device. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly counts = { delivered: 0, failures: 0, dropped: 0, expired: 0 };
  private loaded: Promise<void> | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(options: WebhookQueueOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.target = options.target;
    this.allowPrivateNetworks = options.allowPrivateNetworks;
    this.concurrency = options.concurrency ?? 8;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.initialDelayMs = options.retry?.initialDelayMs ?? 2_000;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 60 * 60_000;
    this.maxAgeMs = options.retry?.maxAgeMs ?? 24 * 60 * 60_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? this.timeoutMs + 5_000;
    this.prefix = options.keyPrefix ?? 'webhook:';
    this.windowPerDevice = Math.max(1, options.windowPerDevice ?? 100);
    this.prepare = options.prepare ?? ((_deviceId, _type, payload) => payload);
    this.history = new DeliveryHistory({ store: this.store, retentionMs: options.historyRetentionMs ?? 7 * 86_400_000, perDevice: options.historyPerDevice });
  }

  /** Loads the jobs a previous run left in the store and starts delivering. */
  async start(): Promise<void> {
    await this.load();
    this.running = true;
    this.pump();
  }

  /**
   * Persists an event for `deviceId` and returns its id (X-Webhook-Id). `payload` is posted as
   * the JSON body, as is. Resolves only once the
   * job is in the store. Works before `start()` and after `stop()` too; the job then waits.
   */
  enqueue(deviceId: string, event: WebhookEvent): Promise<string> {
    return this.add(deviceId, event, {});
  }

  /** `carry`: a job queued again keeps its id (receivers may have seen it) and is marked requeued. */
  private async add(deviceId: string, event: WebhookEvent, carry: { id?: string; requeued?: boolean }): Promise<string> {
    if (!deviceId) throw new TypeError('webhook deviceId is empty');
    if (!EVENT_TYPES.includes(event?.type)) {
      throw new TypeError(`webhook event type must be one of ${EVENT_TYPES.join(', ')}, not ${JSON.stringify(event?.type)}`);
    }
    if (typeof event.payload !== 'object' || event.payload === null || Array.isArray(event.payload)) {
      throw new TypeError(`webhook ${event.type} payload must be an object`);
    }
    // Loading first keeps new jobs behind the ones already stored, and never loads one twice.
    await this.load();
    const now = Date.now();
    this.seq = Math.max(this.seq + 1, now * 1000);
    const job: Job = {
      id: carry.id ?? randomUUID(),
      ...(carry.requeued && { requeued: true }),
      deviceId,
      type: event.type,
      payload: event.payload as Job['payload'],
      createdAt: now,
      seq: this.seq,
      attempts: 0,
      dueAt: now,
    };
    // Behind jobs that wait in the store, or past the window: to the store only.
    if (this.outsideOf(deviceId) > 0 || (this.devices.get(deviceId)?.length ?? 0) >= this.windowPerDevice) return this.spill(job);
    // In memory at once, so FIFO order is the order of enqueue calls even if writes finish out
    // of order; deliverable only once written.
    this.insert(job);
    this.unsaved.add(job.id);
    try {
      await this.store.write({ [this.key(job)]: JSON.stringify(job) });
      this.unsaved.delete(job.id);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || this.held.size >= HELD_LIMIT) {
        this.unsaved.delete(job.id);
        this.remove(job);
        throw err;
      }
      if (!this.held.size) this.logger.warn({ err }, 'the store is unavailable: webhook jobs are held in memory until it is back');
      this.held.set(job.id, job);
      this.heldTimer ??= setTimeout(() => void this.saveHeld(), HELD_RETRY_MS).unref();
    } finally {
      this.pump();
    }
    return job.id;
  }

  /**
   * Stores a job that does not fit in its device's window. Page-ins only load jobs older than
   * every spill still being written, so one whose write finishes late is never overtaken.
   */
  private async spill(job: Job): Promise<string> {
    this.outside.set(job.deviceId, this.outsideOf(job.deviceId) + 1);
    this.spilling.set(job.id, { deviceId: job.deviceId, seq: job.seq });
    try {
      await this.store.write({ [this.key(job)]: JSON.stringify(job) });
      this.spilled(job);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || this.held.size >= HELD_LIMIT) {
        this.spilling.delete(job.id);
        this.addOutside(job.deviceId, -1);
        throw err;
      }
      if (!this.held.size) this.logger.warn({ err }, 'the store is unavailable: webhook jobs are held in memory until it is back');
      this.held.set(job.id, job);
      this.heldTimer ??= setTimeout(() => void this.saveHeld(), HELD_RETRY_MS).unref();
    }
    return job.id;
  }

  /** A spilled job is in the store now: a page-in may load it. */
  private spilled(job: Job): void {
    if (!this.spilling.delete(job.id)) return;
    this.stalled.delete(job.deviceId);
    this.pump();
  }

  /** Writes the held jobs; once stored, they are delivered like any other. */
  private async saveHeld(): Promise<void> {
    this.heldTimer = undefined;
    const jobs = [...this.held.values()];
    try {
      await this.store.write(Object.fromEntries(jobs.map((job) => [this.key(job), JSON.stringify(job)])));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) this.logger.error({ err }, 'held webhook jobs could not be written');
      this.heldTimer = setTimeout(() => void this.saveHeld(), HELD_RETRY_MS).unref();
      return;
    }
    for (const job of jobs) {
      this.held.delete(job.id);
      this.unsaved.delete(job.id);
      this.spilled(job);
    }
    this.logger.info({ jobs: jobs.length }, 'held webhook jobs stored');
    this.pump();
  }

  /**
   * Writes every job this queue holds in memory again, for a store that lost its data; returns
   * how many. Jobs that waited in the store beyond the window are lost with it.
   */
  async rewrite(): Promise<number> {
    const jobs = [...this.devices.values()].flat();
    let lost = 0;
    for (const [deviceId, count] of this.outside) {
      const writing = [...this.spilling.values()].filter((s) => s.deviceId === deviceId).length;
      lost += count - writing;
      this.addOutside(deviceId, writing - count);
    }
    if (lost) this.logger.error({ jobs: lost }, 'webhook jobs waiting in the store beyond the window were lost with it');
    if (jobs.length) await this.store.write(Object.fromEntries(jobs.map((job) => [this.key(job), JSON.stringify(job)])));
    for (const job of jobs) {
      if (this.held.delete(job.id)) this.unsaved.delete(job.id);
    }
    this.pump();
    return jobs.length;
  }

  /** Stops scheduling and waits (at most `stopTimeoutMs`) for deliveries in flight; the rest stays stored. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    if (this.held.size) this.logger.error({ jobs: this.held.size }, 'stopping with webhook jobs the store never took: they are lost');
    clearTimeout(this.heldTimer);
    if (this.inFlight.size) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.stopTimeoutMs)));
      await Promise.race([Promise.allSettled(this.inFlight.values()), timeout]);
      clearTimeout(timer);
    }
    // Finished deliveries gathered for the history are written before the store closes.
    await this.history.flush();
  }

  get stats(): WebhookStats {
    let depth = 0;
    for (const jobs of this.devices.values()) depth += jobs.length;
    for (const count of this.outside.values()) depth += count;
    return { depth, inFlight: this.inFlight.size, held: this.held.size, ...this.counts };
  }

  /** Jobs held in memory now (the windows); the rest of `stats.depth` waits in the store only. */
  get windowed(): number {
    let count = 0;
    for (const jobs of this.devices.values()) count += jobs.length;
    return count;
  }

  private load(): Promise<void> {
    this.loaded ??= this.readStore().catch((err) => {
      this.loaded = undefined; // let the next call try again
      throw err;
    });
    return this.loaded;
  }

  /**
   * Counts the jobs a previous run left, per device, without reading them (pump pages them in);
   * jobs stored under keys without their seq are moved to keys with it first.
   */
  private async readStore(): Promise<void> {
    let keys = await this.store.keys(this.prefix);
    const unnamed = keys.filter((key) => !KEY_NAME.test(key.slice(key.lastIndexOf(':') + 1)));
    if (unnamed.length) {
      const changes: Record<string, string | null> = {};
      for (const [i, value] of (await this.store.getMany(unnamed)).entries()) {
        const job = this.parse(unnamed[i]!, value);
        if (job) Object.assign(changes, { [unnamed[i]!]: null, [this.key(job)]: value! });
      }
      await this.store.write(changes);
      keys = await this.store.keys(this.prefix);
    }
    let pending = 0;
    for (const key of keys) {
      const name = this.nameOf(key);
      if (!name) continue;
      this.addOutside(name.deviceId, 1);
      this.seq = Math.max(this.seq, name.seq);
      pending++;
    }
    if (pending) this.logger.info({ pending }, 'webhook jobs resumed');
  }

  /** A stored job's device and seq, from its key alone; undefined for a key that is not a job's. */
  private nameOf(key: string): { deviceId: string; seq: number; id: string } | undefined {
    if (this.unreadable.has(key)) return undefined;
    const split = key.lastIndexOf(':');
    const match = KEY_NAME.exec(key.slice(split + 1));
    if (!match || split < this.prefix.length) return undefined;
    return { deviceId: key.slice(this.prefix.length, split), seq: Number(match[1]), id: match[2]! };
  }

  private parse(key: string, value: string | undefined): Job | undefined {
    const parsed = value === undefined ? undefined : jobSchema.safeParse(safeJson(value));
    if (parsed?.success) return parsed.data;
    // Left in place rather than deleted: it is evidence, and harmless.
    if (value !== undefined) {
      this.unreadable.add(key);
      this.logger.error({ key }, 'unreadable webhook job skipped');
    }
    return undefined;
  }

  /**
   * Loads a device's oldest stored jobs into its window, up to `windowPerDevice`. Only jobs older
   * than every spill of the device still being written: a later one must not go first.
   */
  private pageIn(deviceId: string): void {
    if (this.paging.has(deviceId)) return;
    const page = this.readPage(deviceId)
      .catch((err) => {
        if (!(err instanceof StoreUnavailableError)) this.logger.error({ err, deviceId }, 'webhook jobs could not be paged in');
        this.stalled.add(deviceId);
        setTimeout(() => (this.stalled.delete(deviceId), this.pump()), HELD_RETRY_MS).unref();
      })
      .finally(() => {
        this.paging.delete(deviceId);
        this.pump();
      });
    this.paging.set(deviceId, page);
  }

  private async readPage(deviceId: string): Promise<void> {
    const cutoff = this.oldestSpill(deviceId);
    const keys = await this.store.keys(`${this.prefix}${deviceId}:`);
    const above = this.highWater.get(deviceId) ?? -Infinity;
    const candidates = keys
      .map((key) => ({ key, name: this.nameOf(key) }))
      .filter(({ name }) => name && name.deviceId === deviceId && name.seq > above && name.seq < cutoff)
      .sort((a, b) => a.name!.seq - b.name!.seq)
      .slice(0, this.windowPerDevice - (this.devices.get(deviceId)?.length ?? 0));
    if (!candidates.length) {
      // Nothing older than a spill still being written: wait for that write. Nothing at all: the
      // store no longer has what was counted (emptied, or deleted by hand), so stop counting it.
      if (cutoff === Infinity) this.outside.delete(deviceId);
      // (If that write finished during the listing, the next pump pages in again at once.)
      else if (this.oldestSpill(deviceId) === cutoff) this.stalled.add(deviceId);
      return;
    }
    const values = await this.store.getMany(candidates.map((c) => c.key));
    let loaded = 0;
    candidates.forEach(({ key }, i) => {
      const job = this.parse(key, values[i]);
      if (job) this.insert(job);
      loaded++;
    });
    this.addOutside(deviceId, -loaded);
  }

  /** The seq of the device's oldest job still being written to the store (Infinity: none). */
  private oldestSpill(deviceId: string): number {
    let oldest = Infinity;
    for (const spill of this.spilling.values()) if (spill.deviceId === deviceId) oldest = Math.min(oldest, spill.seq);
    return oldest;
  }

  private outsideOf(deviceId: string): number {
    return this.outside.get(deviceId) ?? 0;
  }

  private addOutside(deviceId: string, delta: number): void {
    const count = this.outsideOf(deviceId) + delta;
    if (count > 0) this.outside.set(deviceId, count);
    else this.outside.delete(deviceId);
  }

  /** Starts every delivery that is due and allowed, and sets a timer for the next one. */
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    // Windows drained below half get their next jobs from the store.
    for (const deviceId of this.outside.keys()) {
      if (this.stalled.has(deviceId) || (this.devices.get(deviceId)?.length ?? 0) > this.windowPerDevice / 2) continue;
      this.pageIn(deviceId);
    }
    const now = Date.now();
    const due: Job[] = [];
    let next = Infinity;
    for (const [deviceId, [head]] of this.devices) {
      if (!head || this.inFlight.has(deviceId) || this.unsaved.has(head.id)) continue;
      if (head.dueAt <= now) due.push(head);
      else next = Math.min(next, head.dueAt);
    }
    // Longest-waiting first, so one busy device cannot starve the others.
    due.sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq);
    for (const job of due) {
      if (this.inFlight.size >= this.concurrency) return; // a finishing delivery pumps again
      const delivery = this.deliver(job)
        .catch((err) => {
          // Only a bug gets here; pushing the job back keeps it from spinning.
          this.logger.error({ err, deviceId: job.deviceId, webhookId: job.id }, 'webhook delivery crashed');
          job.dueAt = Date.now() + this.initialDelayMs;
        })
        .finally(() => {
          this.inFlight.delete(job.deviceId);
          this.pump();
        });
      this.inFlight.set(job.deviceId, delivery);
    }
    if (next !== Infinity) this.timer = setTimeout(() => this.pump(), Math.min(next - now, MAX_TIMER)).unref();
  }

  private async deliver(job: Job): Promise<void> {
    const log = this.logger.child({ deviceId: job.deviceId, webhookId: job.id, event: job.type });
    if (Date.now() - job.createdAt > this.maxAgeMs) return this.discard(job, 'expired', log);

    let target: WebhookTarget | undefined;
    try {
      target = await this.target(job.deviceId, job.type);
    } catch (err) {
      return this.failed(job, `webhook target lookup failed: ${(err as Error).message}`, log);
    }
    if (!target?.url) return this.discard(job, 'dropped', log);
    job.url = displayUrl(target.url);
    job.lastAttemptAt = Date.now();
    job.lastStatus = undefined;

    // The payload is the whole body, flat as Fonnte-style receivers expect; the delivery's own
    // metadata (id, event, signature) travels in headers.
    const body = JSON.stringify(await this.prepare(job.deviceId, job.type, job.payload));
    const timestamp = Math.floor(Date.now() / 1000);
    let reason: string;
    try {
      const response = await safeRequest(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'wa-gateway',
          'x-webhook-id': job.id,
          'x-webhook-event': job.type,
          'x-webhook-timestamp': String(timestamp),
          'x-webhook-signature': signWebhook(target.secret, timestamp, body),
        },
        body,
        label: 'webhook URL',
        timeoutMs: this.timeoutMs,
        maxBytes: REPLY_BYTES,
        truncateBody: true,
        // Never followed: the redirect itself is the answer (see below), and following would turn the POST into a GET.
        maxRedirects: 0,
        allowPrivateNetworks: this.allowPrivateNetworks,
      });
      // A 3xx counts as received: Google Apps Script web apps answer every POST with a 302 to
      // their result page, and retrying those would run the receiver again.
      job.lastStatus = response.status;
      if (response.status >= 200 && response.status < 400) return this.delivered(job, log);
      reason = `webhook URL ${displayUrl(target.url)} answered HTTP ${response.status}${replySummary(response)}`;
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      reason = err.message;
    }
    return this.failed(job, reason, log);
  }

  private async delivered(job: Job, log: Logger): Promise<void> {
    this.counts.delivered++;
    this.remove(job);
    this.finish(job, 'delivered');
    try {
      await this.store.write({ [this.key(job)]: null });
    } catch (err) {
      // Delivered all the same; only a restart before the next write would send it again.
      log.error({ err }, 'webhook delivered but its job could not be deleted');
    }
    log.debug({ attempts: job.attempts + 1 }, 'webhook delivered');
  }

  private async failed(job: Job, reason: string, log: Logger): Promise<void> {
    this.counts.failures++;
    job.attempts++;
    const backoff = this.initialDelayMs * 2 ** (job.attempts - 1) * (0.8 + Math.random() * 0.4);
    const delay = Math.min(this.maxDelayMs, backoff);
    if (Date.now() + delay - job.createdAt > this.maxAgeMs) {
      job.lastError = shortError(reason);
      log.warn({ attempts: job.attempts, reason }, 'webhook delivery failed');
      return this.discard(job, 'expired', log);
    }
    job.dueAt = Date.now() + delay;
    job.lastError = shortError(reason);
    log.warn({ attempts: job.attempts, retryInMs: Math.round(delay), reason }, 'webhook delivery failed; will retry');
    try {
      await this.store.write({ [this.key(job)]: JSON.stringify(job) });
    } catch (err) {
      // The retry still happens; a restart would only forget the attempt count.
      log.error({ err }, 'webhook retry state could not be saved');
    }
  }

  private async discard(job: Job, why: 'dropped' | 'expired', log: Logger): Promise<void> {
    this.counts.dropped++;
    if (why === 'expired') this.counts.expired++;
    this.remove(job);
    this.finish(job, why === 'expired' ? 'failed' : 'dropped');
    await this.store.write({ [this.key(job)]: null });
    if (why === 'dropped') log.info('webhook dropped: the device is gone or has no webhook URL');
    else log.warn({ attempts: job.attempts, ageMs: Date.now() - job.createdAt }, 'webhook expired undelivered');
  }

  /**
   * A device's recent webhooks, newest first: the ones still queued (with their last attempt) and
   * the finished ones the history keeps. `status` picks one kind.
   */
  async deliveries(deviceId: string, options: { limit?: number; status?: DeliveryStatus } = {}): Promise<Delivery[]> {
    const limit = Math.min(Math.max(1, options.limit ?? 50), this.history.perDevice);
    await this.load();
    const queued = await this.queuedJobs(deviceId, limit);
    const seen = new Set(queued.map((job) => job.id));
    const finished = (await this.history.list(deviceId)).filter((record) => !seen.has(record.id));
    return [...queued.map(jobView), ...finished.map(finishedView)]
      .filter((delivery) => !options.status || delivery.status === options.status)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit);
  }

  /**
   * Makes a queued webhook's next attempt due now, and answers its state. A device's webhooks go
   * in order, so the ones queued before it are made due too. One given up (after `maxAgeMs`) is
   * queued again, once, under its own id; a delivered or dropped one is refused.
   */
  async retryNow(deviceId: string, id: string): Promise<Delivery> {
    await this.load();
    const window = this.devices.get(deviceId) ?? [];
    const job = window.find((j) => j.id === id) ?? (await this.queuedJobs(deviceId, Infinity)).find((j) => j.id === id);
    if (job) {
      const now = Date.now();
      for (const queued of window) {
        if (queued.seq > job.seq) break;
        queued.dueAt = Math.min(queued.dueAt, now);
      }
      this.pump();
      return jobView(job);
    }
    const record = (await this.history.list(deviceId)).find((r) => r.id === id);
    if (!record) throw new LinkError('not_found', `No webhook delivery ${id} for this device`);
    const type = EVENT_TYPES.find((t) => t === record.event);
    if (!finishedView(record).retryable || !type || !record.payload) {
      const why = record.status === 'failed' ? 'it was given up after being queued again once' : `it was ${record.status}`;
      throw new LinkError('bad_request', `Webhook delivery ${id} cannot be retried: ${why}; only pending or failed ones can`);
    }
    await this.add(deviceId, { type, payload: record.payload }, { id: record.id, requeued: true });
    await this.history.remove(deviceId, record.id);
    const again = (await this.queuedJobs(deviceId, this.history.perDevice)).find((j) => j.id === id);
    if (!again) throw new LinkError('internal', `Webhook delivery ${id} was queued again but is not in the queue`);
    return jobView(again);
  }

  /** A device's queued jobs: its window (in memory, the freshest state) and its newest `limit` stored beyond it. */
  private async queuedJobs(deviceId: string, limit: number): Promise<Job[]> {
    const window = [...(this.devices.get(deviceId) ?? [])];
    if (!this.outsideOf(deviceId)) return window;
    const inWindow = new Set(window.map((job) => job.id));
    const keys = (await this.store.keys(`${this.prefix}${deviceId}:`))
      .map((key) => ({ key, name: this.nameOf(key) }))
      .filter(({ name }) => name?.deviceId === deviceId && !inWindow.has(name.id))
      .sort((a, b) => b.name!.seq - a.name!.seq)
      .slice(0, limit);
    const values = await this.store.getMany(keys.map((k) => k.key));
    const stored = keys.flatMap((_key, i) => {
      const parsed = values[i] === undefined ? undefined : jobSchema.safeParse(safeJson(values[i]!));
      return parsed?.success && parsed.data.deviceId === deviceId ? [parsed.data] : [];
    });
    return [...window, ...stored];
  }

  /** Records a job that leaves the queue in the history (written in batches, off the delivery's path). */
  private finish(job: Job, status: DeliveryStatus): void {
    const delivered = status === 'delivered';
    const record: FinishedRecord = {
      id: job.id,
      event: job.type,
      url: job.url ?? null,
      status,
      statusCode: job.lastStatus ?? null,
      error: delivered ? null : status === 'dropped' ? 'the device has no webhook URL for this event (any more)' : (job.lastError ?? null),
      attempts: delivered ? job.attempts + 1 : job.attempts,
      createdAt: job.createdAt,
      lastAttemptAt: job.lastAttemptAt ?? null,
      deliveredAt: delivered ? Date.now() : null,
      messageId: bodyId(job.payload),
      finishedAt: Date.now(),
      // Only what was given up can be queued again, so only it keeps its body.
      ...(status === 'failed' && !job.requeued && { payload: job.payload }),
      ...(job.requeued && { requeued: true }),
    };
    this.history.finish(job.deviceId, record);
  }

  /** Per-device keys let a deleted device's queue go with one `deletePrefix`; the seq orders a page-in. */
  private key(job: Job): string {
    return `${this.prefix}${job.deviceId}:${job.seq}-${job.id}`;
  }

  private insert(job: Job): void {
    const jobs = this.devices.get(job.deviceId) ?? [];
    this.highWater.set(job.deviceId, Math.max(job.seq, this.highWater.get(job.deviceId) ?? -Infinity));
    let i = jobs.length;
    while (i > 0 && jobs[i - 1]!.seq > job.seq) i--;
    jobs.splice(i, 0, job);
    this.devices.set(job.deviceId, jobs);
  }

  private remove(job: Job): void {
    const jobs = this.devices.get(job.deviceId);
    if (!jobs) return;
    const i = jobs.indexOf(job);
    if (i >= 0) jobs.splice(i, 1);
    if (jobs.length === 0) this.devices.delete(job.deviceId);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A job still queued, as `deliveries` shows it. */
function jobView(job: Job): Delivery {
  return {
    id: job.id,
    event: job.type,
    url: job.url ?? null,
    status: job.attempts ? 'failed' : 'pending',
    statusCode: job.lastStatus ?? null,
    error: job.lastError ?? null,
    attempts: job.attempts,
    createdAt: job.createdAt,
    lastAttemptAt: job.lastAttemptAt ?? null,
    nextAttemptAt: job.dueAt,
    deliveredAt: null,
    messageId: bodyId(job.payload),
    retryable: true,
  };
}

/** Enough of a failure to say what went wrong, short enough to list. */
function shortError(reason: string): string {
  return reason.length > 300 ? `${reason.slice(0, 299)}…` : reason;
}

function replySummary({ body }: { body: Buffer }): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  return text ? `: ${text}` : '';
}

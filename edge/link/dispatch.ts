// The send path inside the HostLink: a send from the API is one call here. It checks the key
// (device-keys.ts), decides between sending now and queueing, sends over the link, and records
// every row of the message log in the object's own storage (message-log.ts), copied into D1
// after the answer. Nothing on the way waits for D1.
import type { ErrorCode, SendParams, SendResult } from '../../session-host/link/protocol.ts';
import type { ClaimOutcome, ClaimRequest, Claims } from './claims.ts';
import type { DeviceKeys } from './device-keys.ts';
import type { MessageLog, NewLogRow } from './message-log.ts';
import type { QueueItem } from './outbox.ts';
import type { LinkTransport, Outcome } from './transport.ts';

const TEXT_TIMEOUT_MS = 15_000;
// The host fetches the media first, which can take a while for a large video.
const MEDIA_TIMEOUT_MS = 60_000;

/** How long a send may take on the host: fetching its media, and "typing…" first. */
export const sendTimeout = (params: SendParams) => (params.media ? MEDIA_TIMEOUT_MS : TEXT_TIMEOUT_MS) + (params.typingMs ?? 0);

/** One message of a send request: its log row, and what the host is asked to send (`params.outboxId` is `id`). */
export interface SendItem extends NewLogRow {
  /** The message log id. */
  id: string;
  params: SendParams;
  /** Queued: not before then (unix ms); absent: now. */
  dueAt?: number;
}

/**
 * - `queue`: into the outbox, all of them.
 * - `now`: sent at once, each outcome answered.
 * - `now-else-queue`: sent at once; one that found the device or host offline is queued instead.
 * - `link-else-queue`: sent at once if the link to the host is up (dialled if need be), else all queued.
 */
export type SendMode = 'queue' | 'now' | 'now-else-queue' | 'link-else-queue';

export interface SendRequest {
  deviceId: string;
  /** The SHA-256 of the device key the request came with; absent for the admin key. */
  keyHash?: string;
  /** The device's key hash as the Worker has just read it from D1, for a device this host has no record of. */
  learned?: string;
  mode: SendMode;
  items: SendItem[];
  /** The request's Idempotency-Key claim, taken here before anything goes out. */
  claim?: ClaimRequest;
}

/** A send that failed (or whose outcome is unknown: `error.unknown`). */
export type Failed = { logId: string; to: string; ok: false; queued?: undefined; error: { code: ErrorCode; message: string; unknown?: true } };
export type Delivery = ({ logId: string; to: string } & ({ ok: true; id: string; timestamp: number } | { ok: false; queued: true })) | Failed;

/**
 * `refused`: the key is not (or no longer) the device's, or this host has no such device. `claim`:
 * the Idempotency-Key claim stopped the send (a replay, a conflict, or other ids to run under).
 */
export type SendReply = { refused: 'key' | 'device' } | (Exclude<ClaimOutcome, { claim: 'run' }> & { refused?: undefined }) | { refused?: undefined; claim?: undefined; deliveries: Delivery[]; hostMs?: number };

export interface DispatchDeps {
  keys: DeviceKeys;
  claims: Claims;
  log: MessageLog;
  link: LinkTransport;
  /** Stores sends in the outbox (durably, before this returns) and starts delivering them. */
  enqueue(items: QueueItem[]): void;
  waitUntil(work: Promise<unknown>): void;
}

// Failures that mean "not now", after which a send may wait in the outbox instead.
const OFFLINE = new Set<ErrorCode>(['host_offline', 'not_connected']);

export class Dispatcher {
  private readonly deps: DispatchDeps;

  constructor(deps: DispatchDeps) {
    this.deps = deps;
  }

  async send(request: SendRequest): Promise<SendReply> {
    const { keys, link } = this.deps;
    let check = keys.check(request.deviceId, request.keyHash);
    if (check === 'unknown' && request.learned) {
      keys.learn(request.deviceId, request.learned);
      check = keys.check(request.deviceId, request.keyHash);
    }
    if (check !== 'ok') return { refused: request.keyHash === undefined ? 'device' : 'key' };
    if (request.claim) {
      const claimed = this.deps.claims.claim(request.claim);
      if (claimed.claim !== 'run') return claimed;
    }

    let queue = request.mode === 'queue';
    if (request.mode === 'link-else-queue' && !link.isUp) {
      await link.connected().catch(() => undefined);
      queue = !link.isUp;
    }
    if (queue) {
      this.queue(request.items);
      return { deliveries: request.items.map((item) => ({ logId: item.id, to: item.to, ok: false, queued: true })) };
    }

    // Logged as queued before it goes out: a send whose outcome never comes back stays visible.
    for (const item of request.items) this.deps.log.insert(item.id, item, { status: 'queued', attempts: 1, error: null });
    const outcomes = await Promise.all(request.items.map((item) => link.request('message.send', item.params, sendTimeout(item.params))));
    const deliveries = request.items.map((item, i) => this.record(item, outcomes[i]!, request.mode === 'now-else-queue'));
    this.deps.waitUntil(this.deps.log.flush());
    return { deliveries, hostMs: Math.max(0, ...outcomes.map((o) => o.hostMs ?? 0)) };
  }

  private queue(items: SendItem[]): void {
    const now = Date.now();
    for (const item of items) {
      const dueAt = item.dueAt ?? now;
      // A re-queued send keeps its row; a try that found the host or device offline is no attempt.
      this.deps.log.insert(item.id, item, { status: 'queued', scheduledAt: dueAt > now ? dueAt : null, error: null, failedAt: null, attempts: 0 });
    }
    // The API answers a queued send with its log id: the host's status webhooks then carry that id.
    this.deps.enqueue(items.map((item) => ({ id: item.id, params: { ...item.params, queued: true }, dueAt: item.dueAt ?? now })));
    this.deps.waitUntil(this.deps.log.flush());
  }

  private record(item: SendItem, outcome: Outcome<SendResult>, queueIfOffline: boolean): Delivery {
    const to = item.to;
    if (outcome.ok) {
      // The host's ack event has usually said as much already (same id, same time): then nothing is written.
      this.deps.log.change(item.id, { status: 'sent', waMessageId: outcome.result.id, sentAt: outcome.result.timestamp * 1000, error: null });
      return { logId: item.id, to, ok: true, id: outcome.result.id, timestamp: outcome.result.timestamp };
    }
    const { error } = outcome;
    if (queueIfOffline && OFFLINE.has(error.code)) {
      // Under the same id: the host has seen that outbox id at most unsent, so it still goes out once.
      this.queue([item]);
      return { logId: item.id, to, ok: false, queued: true };
    }
    // An unknown outcome (no answer in time, the link dropped after it left) may have gone out:
    // it stays queued, with why, and is never logged as failed; the host's `sent` event mends it.
    if (error.unknown || error.code === 'timeout') this.deps.log.change(item.id, { error: `outcome unknown: ${error.message}` });
    else this.deps.log.change(item.id, { status: 'failed', error: error.message, failedAt: Date.now() });
    return { logId: item.id, to, ok: false, error };
  }
}

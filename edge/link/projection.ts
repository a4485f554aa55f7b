// What the HostLink writes into D1 from its session host: device states (status, QR, phone,
// counters), the message log's statuses from the host's events, and the settings sync after a
// (re)connect. Every statement is scoped to this host's devices.
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { DeviceState, EventData, Method, Params, Result } from '../../session-host/link/protocol.ts';
import { devicesTable, messagesTable } from '../db/schema.ts';
import type { Outcome } from './transport.ts';

export const DEFAULT_HOST_ID = 'default';
export const OFFLINE_REASON = 'session host is offline';

/** Statements per D1 batch when writing a whole host's device states (one per changed device). */
const STATES_PER_BATCH = 100;

/** Device settings pushed to the host at once after a (re)connect. */
const SYNC_CONCURRENCY = 16;

/** How far along a message is; a receipt never moves it backwards (read stays read). */
const RANK = { sent: 1, delivered: 2, read: 3, played: 4, failed: 0 } as const;

type Request = <M extends Method>(method: M, params: Params<M>) => Promise<Outcome<Result<M>>>;

export class Projection {
  private readonly d1: D1Database;
  private readonly hostId: string;

  constructor(d1: D1Database, hostId: string) {
    this.d1 = d1;
    this.hostId = hostId;
  }

  private db() {
    return drizzle(this.d1);
  }

  private hostFilter() {
    return this.hostId === DEFAULT_HOST_ID ? isNull(devicesTable.hostId) : eq(devicesTable.hostId, this.hostId);
  }

  /** A message log row of `deviceId`, only if that device is on this host: a host's receipts touch only its own messages. */
  private ownMessage(deviceId: string) {
    const ours = this.db()
      .select({ id: devicesTable.id })
      .from(devicesTable)
      .where(and(eq(devicesTable.id, deviceId), this.hostFilter()));
    return and(eq(messagesTable.deviceId, deviceId), inArray(messagesTable.deviceId, ours));
  }

  /**
   * Writes the host's device states into D1, each only to a device of this host: a state for
   * another host's device (or one deleted meanwhile) changes nothing. A `snapshot` of the whole
   * host (sync, heartbeat) is compared with one read of the host's rows, not `inArray` over its
   * ids (D1 binds at most 100 parameters a statement), and only what changed is written.
   */
  async applyStates(states: DeviceState[], snapshot = false): Promise<void> {
    const db = this.db();
    let changed = states;
    if (snapshot) {
      const rows = await db
        .select({
          id: devicesTable.id,
          status: devicesTable.status,
          qr: devicesTable.qr,
          phoneNumber: devicesTable.phoneNumber,
          pushName: devicesTable.pushName,
          totalMessagesSent: devicesTable.totalMessagesSent,
          reason: devicesTable.statusReason,
        })
        .from(devicesTable)
        .where(this.hostFilter());
      const stored = new Map(rows.map((row) => [row.id, row]));
      changed = states.filter((s) => {
        const row = stored.get(s.id);
        return (
          row && (row.status !== s.status || row.qr !== s.qr || row.phoneNumber !== s.phoneNumber || row.pushName !== s.pushName || row.totalMessagesSent !== s.totalMessagesSent || row.reason !== s.reason)
        );
      });
    }
    const updates = changed.map((s) =>
      db
        .update(devicesTable)
        .set({ status: s.status, qr: s.qr, phoneNumber: s.phoneNumber, pushName: s.pushName, totalMessagesSent: s.totalMessagesSent, statusReason: s.reason })
        .where(and(eq(devicesTable.id, s.id), this.hostFilter())),
    );
    // D1 refuses an empty batch (nothing changed, or only devices of others were reported).
    for (let i = 0; i < updates.length; i += STATES_PER_BATCH) await db.batch(updates.slice(i, i + STATES_PER_BATCH) as never);
  }

  /** A sent message's status change (WhatsApp's ack, a receipt) into the message log. */
  async applyStatus(status: EventData<'message.status'>): Promise<void> {
    const db = this.db();
    // Whoever asked for the send (a route, or the outbox) records 'sent' with its answer; the
    // event only mends a row whose answer never came (left 'queued', its outcome unknown).
    if (status.status === 'sent') {
      if (!status.outboxId) return;
      await db
        .update(messagesTable)
        .set({ status: 'sent', waMessageId: status.id, sentAt: new Date(status.timestamp * 1000), error: null })
        .where(and(eq(messagesTable.id, status.outboxId), eq(messagesTable.status, 'queued'), this.ownMessage(status.deviceId)));
      return;
    }
    // By our own id when the host knows it: the receipt may beat the send's answer to D1.
    const match = status.outboxId ? eq(messagesTable.id, status.outboxId) : eq(messagesTable.waMessageId, status.id);
    const [row] = await db
      .select()
      .from(messagesTable)
      .where(and(match, this.ownMessage(status.deviceId)));
    // Receipts can arrive out of order; a message never moves backwards (read stays read).
    const current = row ? (RANK[row.status as keyof typeof RANK] ?? 0) : 0;
    if (!row || RANK[status.status] < current) return;
    const at = new Date(status.timestamp * 1000);
    const stamp = status.status === 'delivered' ? { deliveredAt: at } : status.status === 'failed' ? { failedAt: at } : { readAt: at };
    await db
      .update(messagesTable)
      .set({ status: status.status === 'played' ? 'read' : status.status, ...stamp })
      .where(eq(messagesTable.id, row.id));
  }

  /** The host is gone: its devices are disconnected. Answers their ids. */
  async markOffline(): Promise<string[]> {
    const rows = await this.db().update(devicesTable).set({ status: 'DISCONNECTED', qr: null, statusReason: OFFLINE_REASON }).where(this.hostFilter()).returning({ id: devicesTable.id });
    return rows.map((r) => r.id);
  }

  /**
   * After (re)connecting: push every device's settings to the host, remove the devices the host
   * still has but D1 no longer does (deleted while the host was offline), then take its states.
   * Answers the host's status (undefined if it did not give one).
   */
  async sync(request: Request, inOrder: (work: () => Promise<void>) => Promise<void>): Promise<Result<'host.status'> | undefined> {
    const devices = await this.db().select().from(devicesTable).where(this.hostFilter());
    // A few at a time over the one link: a host with hundreds of devices is not synced one round trip each.
    const waiting = [...devices];
    const worker = async () => {
      for (let device = waiting.shift(); device; device = waiting.shift()) {
        const { statusWebhookUrl, connectionWebhookUrl } = device;
        await request('device.upsert', { id: device.id, name: device.name, webhookUrl: device.webhookUrl, statusWebhookUrl, connectionWebhookUrl, webhookSecret: device.webhookSecret });
      }
    };
    await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
    const status = await request('host.status', {});
    if (!status.ok) return undefined;
    const known = new Set(devices.map((d) => d.id));
    // Queued at once, in the events' order (see LinkTransport.inOrder), before anything else is awaited.
    const applied = inOrder(() =>
      this.applyStates(
        status.result.devices.filter((d) => known.has(d.id)),
        true,
      ),
    );
    for (const orphan of status.result.devices.filter((d) => !known.has(d.id))) await request('device.delete', { id: orphan.id });
    await applied;
    return status.result;
  }

  /** A device's pacing of queued sends. */
  async pacing(deviceId: string): Promise<{ intervalMs: number; jitterMs: number }> {
    const [row] = await this.db().select({ intervalMs: devicesTable.sendIntervalMs, jitterMs: devicesTable.sendJitterMs }).from(devicesTable).where(eq(devicesTable.id, deviceId));
    return { intervalMs: row?.intervalMs ?? 0, jitterMs: row?.jitterMs ?? 0 };
  }
}

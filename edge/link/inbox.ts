// The inbox's writes: each `message.incoming` event of a host becomes a row of inbox_messages and
// moves its chat's row in inbox_chats, for that host's devices only; rows older than the
// retention are deleted a bounded batch at a time.
import type { EventData } from '../../session-host/link/protocol.ts';
import { DEFAULT_HOST_ID } from './projection.ts';

export const DEFAULT_INBOX_RETENTION_DAYS = 30;
/** Rows deleted per statement: a prune never holds D1 for long, however far behind it is. */
export const PRUNE_BATCH = 500;
/** A prune runs with a write at most this often, unless the last one filled its batch (more is due). */
const PRUNE_EVERY_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

/** INBOX_RETENTION_DAYS as days; a value that is no positive whole number is reported and the default used. */
export function inboxRetentionDays(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_INBOX_RETENTION_DAYS;
  const days = Number(value);
  if (Number.isInteger(days) && days > 0) return days;
  console.error(`INBOX_RETENTION_DAYS must be a whole number of days above 0, got ${JSON.stringify(value)}: keeping ${DEFAULT_INBOX_RETENTION_DAYS} days`);
  return DEFAULT_INBOX_RETENTION_DAYS;
}

export type IncomingMessage = EventData<'message.incoming'>;

const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));

export class Inbox {
  private readonly d1: D1Database;
  private readonly hostId: string;
  private readonly retentionMs: number;
  private prunedAt = 0;

  constructor(d1: D1Database, hostId: string, retentionDays: number) {
    this.d1 = d1;
    this.hostId = hostId;
    this.retentionMs = retentionDays * DAY_MS;
  }

  /** The device is this host's: a host's events never write into another host's devices. */
  private ownDevice(): string {
    return this.hostId === DEFAULT_HOST_ID ? 'EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND host_id IS NULL)' : 'EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND host_id = ?2)';
  }

  /**
   * Keeps one received message; the same event applied again changes nothing (the key is device
   * and WhatsApp id, and the chat's row only moves forward in time). One D1 round trip.
   */
  async record(message: IncomingMessage, now = Date.now()): Promise<void> {
    const at = message.timestamp * 1000;
    // A group's messages answer to the group; a private chat's sender is the chat.
    const sender = message.author ?? message.from;
    const name = message.name || null;
    const insert = this.d1
      .prepare(
        `INSERT OR IGNORE INTO inbox_messages (device_id, id, chat, sender, sender_name, from_me, type, text, quoted_id, mentions, media, details, timestamp, received_at)
         SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15 WHERE ${this.ownDevice()}`,
      )
      .bind(
        message.deviceId,
        this.hostId,
        message.id,
        message.from,
        sender,
        name,
        message.fromMe ? 1 : 0,
        message.type,
        message.text,
        message.quotedId ?? null,
        message.mentions?.length ? json(message.mentions) : null,
        json(message.media),
        message.details && Object.keys(message.details).length ? json(message.details) : null,
        at,
        now,
      );
    const isGroup = message.from.endsWith('@g.us');
    const chat = this.d1
      .prepare(
        `INSERT INTO inbox_chats (device_id, chat, name, last_message_id, last_sender, last_type, last_text, last_at)
         SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE ${this.ownDevice()}
         ON CONFLICT (device_id, chat) DO UPDATE SET
           name = coalesce(excluded.name, inbox_chats.name), last_message_id = excluded.last_message_id, last_sender = excluded.last_sender,
           last_type = excluded.last_type, last_text = excluded.last_text, last_at = excluded.last_at
         WHERE excluded.last_at >= inbox_chats.last_at`,
      )
      // A group's name is its subject, which messages do not carry: the push name is a member's.
      .bind(message.deviceId, this.hostId, message.from, isGroup || message.fromMe ? null : name, message.id, sender, message.type, message.text, at);
    await this.d1.batch([insert, chat, ...this.changeOfTarget(message, at)]);
  }

  /**
   * An edit or a delete for everyone also changes the message it is about, if the inbox has it:
   * the conversation shows the new text, or that it was deleted. The event's own row stays, as the
   * webhook delivered it.
   */
  private changeOfTarget(message: IncomingMessage, at: number): D1PreparedStatement[] {
    const about = (field: 'edit' | 'revoke') => {
      const detail = message.details?.[field] as { messageId?: unknown; text?: unknown } | undefined;
      return typeof detail?.messageId === 'string' && detail.messageId ? detail : undefined;
    };
    // Only the sender's own message: in a group, another member cannot edit or delete it.
    const same = 'device_id = ?1 AND id = ?2 AND chat = ?3 AND sender = ?4';
    const sender = message.author ?? message.from;
    const edit = message.type === 'edit' && about('edit');
    if (edit && typeof edit.text === 'string') {
      return [this.d1.prepare(`UPDATE inbox_messages SET text = ?5, edited_at = ?6 WHERE ${same} AND deleted_at IS NULL`).bind(message.deviceId, edit.messageId, message.from, sender, edit.text, at)];
    }
    const revoke = message.type === 'revoke' && about('revoke');
    if (revoke) return [this.d1.prepare(`UPDATE inbox_messages SET text = '', media = NULL, deleted_at = ?5 WHERE ${same}`).bind(message.deviceId, revoke.messageId, message.from, sender, at)];
    return [];
  }

  /** Whether a prune is due now (see PRUNE_EVERY_MS). */
  pruneDue(now = Date.now()): boolean {
    return now - this.prunedAt >= PRUNE_EVERY_MS;
  }

  /**
   * Deletes up to PRUNE_BATCH expired messages and as many chats whose last message expired,
   * oldest first, through the indexes on their times: never a scan of the whole inbox. Returns
   * how many messages went.
   */
  async prune(now = Date.now(), batch = PRUNE_BATCH): Promise<number> {
    this.prunedAt = now;
    const cutoff = now - this.retentionMs;
    const [messages] = await this.d1.batch([
      this.d1.prepare('DELETE FROM inbox_messages WHERE rowid IN (SELECT rowid FROM inbox_messages WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)').bind(cutoff, batch),
      this.d1.prepare('DELETE FROM inbox_chats WHERE rowid IN (SELECT rowid FROM inbox_chats WHERE last_at < ?1 ORDER BY last_at LIMIT ?2)').bind(cutoff, batch),
    ]);
    const deleted = messages?.meta.changes ?? 0;
    // A full batch: more has expired than one batch holds, so the next write prunes again.
    if (deleted >= batch) this.prunedAt = 0;
    return deleted;
  }
}

import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// Milliseconds since the epoch, filled in by SQLite so raw inserts get it too.
const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch() * 1000)`);
const updatedAt = () =>
  integer('updated_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch() * 1000)`)
    .$onUpdate(() => new Date());

/** Session hosts registered through the API; the env-configured default host has no row. */
export const hostsTable = sqliteTable('hosts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  // Null: the host dials the edge itself (EDGE_URL, HOST_ID), so there is nothing to dial.
  url: text('url'),
  secret: text('secret').notNull(),
  createdAt: createdAt(),
});

export const deviceStatuses = ['DISCONNECTED', 'CONNECTING', 'QR', 'CONNECTED', 'LOGGED_OUT'] as const;
export type DeviceStatus = (typeof deviceStatuses)[number];

export const devicesTable = sqliteTable('devices', {
  id: text('id').primaryKey(), // "device_…"
  // Null: the device lives on the default host (HOST_URL).
  hostId: text('host_id').references(() => hostsTable.id),
  name: text('name').notNull(),
  webhookUrl: text('webhook_url').notNull().default(''),
  // Fonnte's separate URLs for message statuses and device status: null sends them to webhookUrl,
  // "" sends none (a chat bot's URL then sees only messages).
  statusWebhookUrl: text('status_webhook_url'),
  connectionWebhookUrl: text('connection_webhook_url'),
  // Signs the webhooks the host sends (HMAC-SHA256); shown to the admin to verify them.
  webhookSecret: text('webhook_secret').notNull(),
  // The key itself is shown once and never stored: only its hash (for lookup) and a
  // masked form such as "wa_f1e2…1100" (for display).
  apiKeyHash: text('api_key_hash').notNull().unique(),
  apiKeyMasked: text('api_key_masked').notNull(),
  // Kept current by the host's events over the link.
  status: text('status', { enum: deviceStatuses }).notNull().default('DISCONNECTED'),
  statusReason: text('status_reason'),
  qr: text('qr'),
  phoneNumber: text('phone_number'),
  pushName: text('push_name'),
  totalMessagesSent: integer('total_messages_sent').notNull().default(0),
  // Pacing of queued sends: at least this long between two messages, plus up to the jitter at
  // random, so a burst to many numbers does not look like a bot. 0 = as fast as the host goes.
  sendIntervalMs: integer('send_interval_ms').notNull().default(0),
  sendJitterMs: integer('send_jitter_ms').notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const contactGroupsTable = sqliteTable('contact_groups', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
});

export const contactsTable = sqliteTable('contacts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  number: text('number').notNull(),
  groupId: text('group_id').references(() => contactGroupsTable.id, { onDelete: 'set null' }),
});

export const messageTypes = ['text', 'image', 'video', 'document', 'audio', 'voice', 'sticker', 'location', 'contact', 'poll', 'reaction'] as const;
export type MessageType = (typeof messageTypes)[number];
export const messageStatuses = ['queued', 'sent', 'delivered', 'read', 'failed'] as const;

/** The message log: one row per send request, updated as WhatsApp reports its status. */
export const messagesTable = sqliteTable(
  'messages',
  {
    id: text('id').primaryKey(),
    deviceId: text('device_id')
      .notNull()
      .references(() => devicesTable.id, { onDelete: 'cascade' }),
    to: text('to').notNull(),
    type: text('type', { enum: messageTypes }).notNull(),
    /** The text or caption, cut to 200 characters, for the message list. */
    preview: text('preview'),
    status: text('status', { enum: messageStatuses }).notNull().default('queued'),
    waMessageId: text('wa_message_id'),
    error: text('error'),
    /** When a queued message is due (null: at once). */
    scheduledAt: integer('scheduled_at', { mode: 'timestamp_ms' }),
    /** Sends tried by the outbox (retries after failures count). */
    attempts: integer('attempts').notNull().default(0),
    sentAt: integer('sent_at', { mode: 'timestamp_ms' }),
    deliveredAt: integer('delivered_at', { mode: 'timestamp_ms' }),
    readAt: integer('read_at', { mode: 'timestamp_ms' }),
    failedAt: integer('failed_at', { mode: 'timestamp_ms' }),
    /** When the text was last edited (the preview shows the new text). */
    editedAt: integer('edited_at', { mode: 'timestamp_ms' }),
    /** When it was deleted for everyone (WhatsApp's revoke). */
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
    /** The broadcast it is one recipient's copy of (null: a send of its own). */
    broadcastId: text('broadcast_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('messages_device_created_idx').on(t.deviceId, t.createdAt),
    // Status receipts from WhatsApp arrive keyed by WhatsApp's message id.
    index('messages_wa_message_id_idx').on(t.waMessageId),
    // The log filtered by recipient, with or without a device (the admin looks across devices).
    index('messages_to_created_idx').on(t.to, t.createdAt),
    // A conversation in the inbox: what the device sent to one chat, newest first.
    index('messages_device_to_created_idx').on(t.deviceId, t.to, t.createdAt),
    // A broadcast's progress is one grouped count over its rows.
    index('messages_broadcast_idx').on(t.broadcastId, t.status),
  ],
);

/**
 * The inbox: messages the devices received, kept for INBOX_RETENTION_DAYS. Written by the HostLink
 * as the host's `message.incoming` events arrive; keyed by device and WhatsApp id, so an event the
 * host sends again (its journal re-sends until acknowledged) is ignored.
 */
export const inboxMessagesTable = sqliteTable(
  'inbox_messages',
  {
    deviceId: text('device_id')
      .notNull()
      .references(() => devicesTable.id, { onDelete: 'cascade' }),
    /** WhatsApp's message id. */
    id: text('id').notNull(),
    /** Where to answer, as the message log stores a recipient: the number's digits, or the group id (…@g.us). */
    chat: text('chat').notNull(),
    /** Who wrote: in a group the member's number, else the chat's. */
    sender: text('sender').notNull(),
    senderName: text('sender_name'),
    fromMe: integer('from_me', { mode: 'boolean' }).notNull().default(false),
    type: text('type').notNull(),
    text: text('text').notNull().default(''),
    quotedId: text('quoted_id'),
    /** JSON: numbers @mentioned. */
    mentions: text('mentions'),
    /** JSON: the attachment's description (mimetype, fileName, size, seconds, ptt), not its bytes. */
    media: text('media'),
    /** JSON: per type, the webhook's details (a place, contacts, a poll, a reaction…). */
    details: text('details'),
    /** When it was written, as WhatsApp says (ms). */
    timestamp: integer('timestamp', { mode: 'timestamp_ms' }).notNull(),
    /** When the edge stored it (ms): the retention counts from here. */
    receivedAt: integer('received_at', { mode: 'timestamp_ms' }).notNull(),
    /** When the sender edited it (the text is the new one), or deleted it for everyone (the text is gone). */
    editedAt: integer('edited_at', { mode: 'timestamp_ms' }),
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    primaryKey({ columns: [t.deviceId, t.id] }),
    // A conversation, newest first, paged by time.
    index('inbox_messages_chat_idx').on(t.deviceId, t.chat, t.timestamp),
    // The retention deletes the oldest in small batches.
    index('inbox_messages_received_idx').on(t.receivedAt),
  ],
);

/**
 * One row per chat of a device with its last received message, upserted with each message. Why
 * not a GROUP BY over inbox_messages: a chat list must answer in one index range read however
 * many chats and messages a device has; "the newest row per chat" over messages touches every
 * chat of the device on each page. The row costs one more write per incoming message, in the
 * same batch as the message.
 */
export const inboxChatsTable = sqliteTable(
  'inbox_chats',
  {
    deviceId: text('device_id')
      .notNull()
      .references(() => devicesTable.id, { onDelete: 'cascade' }),
    chat: text('chat').notNull(),
    /** The last name a private chat's sender gave (groups: null; WhatsApp sends no subject with a message). */
    name: text('name'),
    lastMessageId: text('last_message_id').notNull(),
    lastSender: text('last_sender').notNull(),
    lastType: text('last_type').notNull(),
    lastText: text('last_text').notNull().default(''),
    lastAt: integer('last_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.deviceId, t.chat] }),
    // A device's chat list, newest first.
    index('inbox_chats_last_idx').on(t.deviceId, t.lastAt),
    // The retention: chats whose last message expired.
    index('inbox_chats_last_at_idx').on(t.lastAt),
  ],
);

/**
 * One message to many recipients (a contact group, or a list of numbers), sent through the
 * outbox: each recipient's copy is a row of the message log with this id as its `broadcast_id`,
 * so its progress is counted from the log, never kept twice.
 */
export const broadcastsTable = sqliteTable(
  'broadcasts',
  {
    id: text('id').primaryKey(), // "bc_…", sorting in creation order
    deviceId: text('device_id')
      .notNull()
      .references(() => devicesTable.id, { onDelete: 'cascade' }),
    /** The contact group it went to (null: a list of numbers, or the group is gone). */
    groupId: text('group_id').references(() => contactGroupsTable.id, { onDelete: 'set null' }),
    /** The text as written, placeholders unfilled; the caption when there is media. */
    message: text('message').notNull(),
    mediaUrl: text('media_url'),
    mediaType: text('media_type'),
    total: integer('total').notNull(),
    /** When the first message is due (null: at once). */
    scheduledAt: integer('scheduled_at', { mode: 'timestamp_ms' }),
    /** Fonnte's delay as given ("5" or "1-10" seconds), null: the device's own pacing only. */
    delay: text('delay'),
    cancelledAt: integer('cancelled_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [index('broadcasts_device_idx').on(t.deviceId, t.id)],
);

export type Host = typeof hostsTable.$inferSelect;
export type Device = typeof devicesTable.$inferSelect;
export type ContactGroup = typeof contactGroupsTable.$inferSelect;
export type Contact = typeof contactsTable.$inferSelect;
export type Message = typeof messagesTable.$inferSelect;
export type InboxMessage = typeof inboxMessagesTable.$inferSelect;
export type InboxChat = typeof inboxChatsTable.$inferSelect;
export type Broadcast = typeof broadcastsTable.$inferSelect;

// Sending from one device. A message counts as sent only once WhatsApp's server acknowledged it:
// writing to a socket proves nothing when the connection has silently died (a dead NAT mapping,
// a sleeping router), and such a socket accepts writes for half a minute before anyone notices.
// So every message gets its id before it is written and stays pending until WhatsApp's ack; a
// pending message that waits too long makes the session probe the connection, and a dead one is
// dropped and reopened, after which every pending message is written again under the same id
// (recipients drop a repeated id). Receipts of sent messages (delivered, read) are reported here.
//
// Per-send state lives in the store for the retention (RETENTION_DAYS) and then expires by
// itself (see store.ts): the outbox claim `outbox:<device>:<outboxId>` with its result, and
// `recent:<device>:<waId>`, the message as written (for a recipient's retry request) and its
// outbox id. A receipt is ours if that record exists, so any message inside the retention moves
// forward, not only the last few hundred; nothing per message is kept in memory once acknowledged.
import { generateMessageIDV2, getContentType, jidNormalizedUser, proto, S_WHATSAPP_NET, type AnyMessageContent, type BinaryNode, type WASocket } from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { LinkError, type MessageStatus, type SendParams, type SendResult } from '../link/protocol.ts';
import { fetchMedia } from '../media.ts';
import { ConvertError, prepareMedia, type PreparedMedia } from '../media-convert.ts';
import { displayUrl, RequestError } from '../net/safe-request.ts';
import { readUpload } from '../uploads.ts';
import { type StatusChange, type StatusPayload, statusPayload } from './payloads.ts';
import type { SessionDeps } from './registry.ts';

const RECEIPT_STATUS: Partial<Record<number, MessageStatus>> = {
  [proto.WebMessageInfo.Status.SERVER_ACK]: 'sent',
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: 'delivered',
  [proto.WebMessageInfo.Status.READ]: 'read',
  [proto.WebMessageInfo.Status.PLAYED]: 'played',
  [proto.WebMessageInfo.Status.ERROR]: 'failed',
};

/** What the sender needs from its device session. */
export interface SenderContext {
  readonly id: string;
  readonly deps: SessionDeps;
  readonly log: Logger;
  /** The socket while the device is connected, else undefined. */
  socket(): WASocket | undefined;
  /** WhatsApp stopped answering on `sock`: drop it and reconnect. */
  connectionLost(sock: WASocket, why: string): void;
  phoneNumber(): string | null;
  /** Queues a webhook for the device, if it has a webhook URL. */
  webhook(event: { type: 'status'; payload: StatusPayload }): Promise<void>;
  /** The sent counter changed (the device's state carries it). */
  changed(): void;
}

/** What a sent message's record keeps for its status reports (see Pending). */
type Sent = Pick<Pending, 'outboxId' | 'queued'>;

/** A message written (or being written) to WhatsApp and not yet acknowledged. */
interface Pending {
  id: string;
  to: string;
  content: AnyMessageContent;
  outboxId?: string;
  /** The API answered with the outbox id (the send was queued): status webhooks name it by that, not WhatsApp's id. */
  queued?: boolean;
  /**
   * An edit or revoke of a message already sent: acknowledged like any message, but no new message
   * of its own (no counter, no status report, no record: its receipts are nobody's concern).
   */
  change?: boolean;
  /** The socket it was last written to, and that write (the ack can beat its completion). */
  socket?: WASocket;
  written?: Promise<unknown>;
  /** The message as last built and written, kept to answer a recipient's retry request. */
  message?: proto.IMessage;
  /** Settles with WhatsApp's ack, or its refusal. */
  acked: Promise<SendResult>;
  resolve(result: SendResult): void;
  reject(error: LinkError): void;
  ackTimer?: NodeJS.Timeout;
}

export class Sender {
  private readonly ctx: SenderContext;
  totalSent = 0;
  /** By WhatsApp message id, in the order they were first written. */
  private readonly pending = new Map<string, Pending>();
  private readonly sendingFor = new Map<string, Promise<SendResult>>();
  /** Acknowledged messages whose record is not written yet (a receipt can beat the write), by id. */
  private readonly recording = new Map<string, Sent>();
  private probing?: WASocket;

  constructor(ctx: SenderContext) {
    this.ctx = ctx;
  }

  private get store() {
    return this.ctx.deps.store;
  }

  private get timing() {
    return this.ctx.deps.options.acks;
  }

  /** Loads what survives a restart: the sent counter. */
  async load(sent: string | undefined): Promise<void> {
    this.totalSent = Number(sent ?? 0);
  }

  /** When records written now expire. */
  private expiry(): number {
    return Date.now() + this.ctx.deps.options.retentionMs;
  }

  /** A new socket: WhatsApp's acks arrive on it as `ack` stanzas of class message. */
  attach(sock: WASocket): void {
    sock.ws.on('CB:ack,class:message', (node: BinaryNode) => this.onAck(node));
  }

  /** The connection is open: whatever is still pending from an earlier socket is written again. */
  async resend(sock: WASocket): Promise<void> {
    const stale = [...this.pending.values()].filter((p) => p.socket !== sock);
    if (stale.length) this.ctx.log.info({ count: stale.length }, 'writing unacknowledged messages again');
    for (const pending of stale) {
      if (this.ctx.socket() !== sock) return; // gone again: the next open goes on
      await this.write(pending, sock);
    }
  }

  /** The device logged out or was deleted: nothing pending will be written again. */
  abandon(why: string): void {
    for (const pending of this.pending.values()) {
      this.untrack(pending);
      pending.reject(new LinkError('timeout', `WhatsApp did not confirm the message before ${why}; it may not have been delivered`));
    }
  }

  /**
   * Sends a message and resolves once WhatsApp acknowledged it. With an outbox id the send is
   * idempotent: the id is claimed in the store (with the WhatsApp message id chosen up front)
   * before anything goes out, so a retry gets the first result, joins the pending message, or
   * writes it again under the same WhatsApp id.
   */
  async send(params: SendParams): Promise<SendResult> {
    if (!params.outboxId) return this.sendAs(params, generateMessageIDV2(this.ctx.socket()?.user?.id));
    const inFlight = this.sendingFor.get(params.outboxId);
    if (inFlight) return inFlight;
    const promise = this.sendOnce(params, params.outboxId).finally(() => this.sendingFor.delete(params.outboxId!));
    this.sendingFor.set(params.outboxId, promise);
    return promise;
  }

  private async sendOnce(params: SendParams, outboxId: string): Promise<SendResult> {
    const key = `outbox:${this.ctx.id}:${outboxId}`;
    const claim = await this.store.get(key);
    const previous = claim ? (JSON.parse(claim) as { messageId: string; result?: SendResult }) : undefined;
    if (previous?.result) return previous.result;
    const messageId = previous?.messageId ?? generateMessageIDV2(this.requireSocket().user?.id);
    if (!previous) await this.store.write({ [key]: JSON.stringify({ messageId }) }, { expiresAt: { [key]: this.expiry() } });
    return this.sendAs(params, messageId);
  }

  private requireSocket(): WASocket {
    const sock = this.ctx.socket();
    if (!sock) throw new LinkError('not_connected', 'Device is not connected');
    return sock;
  }

  private async sendAs(params: SendParams, messageId: string): Promise<SendResult> {
    let pending = this.pending.get(messageId);
    if (!pending) {
      this.requireSocket();
      const content = await this.content(params);
      if (params.typingMs) {
        const sock = this.requireSocket();
        await sock.sendPresenceUpdate('composing', params.to);
        await new Promise((resolve) => setTimeout(resolve, params.typingMs));
        await sock.sendPresenceUpdate('paused', params.to);
      }
      pending = this.start(messageId, { to: params.to, content, outboxId: params.outboxId, queued: params.queued });
    }
    return this.settle(pending);
  }

  /** Edits the text of a message this device sent; resolves once WhatsApp acknowledged the edit. */
  async edit(id: string, text: string): Promise<SendResult> {
    const sent = await this.sentMessage(id);
    if (sent.message?.conversation == null && !sent.message?.extendedTextMessage) throw new LinkError('bad_request', `message ${id} is not a text: only a text can be edited`);
    // WhatsApp's edit is the whole new message, so a link in the new text gets its card too.
    const linkPreview = (await this.ctx.deps.linkPreviews.forText(text)) ?? null;
    return this.sendChange(sent.to, { text, edit: sent.key, linkPreview });
  }

  /** Deletes a message this device sent for everyone in the chat (WhatsApp's revoke). */
  async revoke(id: string): Promise<SendResult> {
    const sent = await this.sentMessage(id);
    return this.sendChange(sent.to, { delete: sent.key });
  }

  /** The record of a message this device sent, kept for the retention: the chat it went to names its key. */
  private async sentMessage(id: string): Promise<{ to: string; key: proto.IMessageKey; message?: proto.IMessage }> {
    const raw = await this.store.get(`recent:${this.ctx.id}:${id}`);
    if (!raw) throw new LinkError('not_found', `this device sent no message ${id} (within the retention)`);
    const { to, message } = JSON.parse(raw) as { to: string; message?: object };
    return { to, key: { remoteJid: to, fromMe: true, id }, message: message && proto.Message.fromObject(message) };
  }

  /** An edit or revoke goes out as a message of its own, under its own id: done once WhatsApp acknowledged it. */
  private sendChange(to: string, content: AnyMessageContent): Promise<SendResult> {
    const id = generateMessageIDV2(this.requireSocket().user?.id);
    return this.settle(this.start(id, { to, content, change: true }));
  }

  /** Tracks a message and writes it to the current socket; throws if there is none. */
  private start(id: string, message: Pick<Pending, 'to' | 'content' | 'outboxId' | 'queued' | 'change'>): Pending {
    const pending = this.track(id, message);
    // Nothing has been written while there is no socket: that is a sure "not sent".
    const sock = this.ctx.socket();
    if (!sock) {
      this.untrack(pending);
      throw new LinkError('not_connected', 'Device is not connected');
    }
    // Not awaited: the answer waits for WhatsApp's ack, and a write into a dead connection can
    // hang until the connection is found dead (a refusal rejects the pending message itself).
    void this.write(pending, sock).catch(() => undefined);
    return pending;
  }

  private track(id: string, message: Pick<Pending, 'to' | 'content' | 'outboxId' | 'queued' | 'change'>): Pending {
    let resolve!: Pending['resolve'];
    let reject!: Pending['reject'];
    const acked = new Promise<SendResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Settled without a waiter when the answer went out before the ack did.
    acked.catch(() => undefined);
    const pending: Pending = { id, ...message, acked, resolve, reject };
    this.pending.set(id, pending);
    return pending;
  }

  private untrack(pending: Pending): void {
    clearTimeout(pending.ackTimer);
    this.pending.delete(pending.id);
  }

  /**
   * Writes the message to `sock`. A refusal while the connection is fine is a sure failure; one
   * because the connection went away leaves the message pending: whether it reached WhatsApp is
   * unknown, and it is written again on the next connection.
   */
  private async write(pending: Pending, sock: WASocket): Promise<void> {
    pending.socket = sock;
    // Watched from the start: on a dead connection the write itself can hang (Baileys first asks
    // WhatsApp for the recipient's devices and keys).
    clearTimeout(pending.ackTimer);
    pending.ackTimer = setTimeout(() => void this.overdue(pending, sock), this.timing.ackTimeoutMs);
    const written = sock.sendMessage(pending.to, pending.content, { messageId: pending.id });
    pending.written = written.catch(() => undefined);
    try {
      pending.message = (await written)?.message ?? undefined;
    } catch (error) {
      if (this.ctx.socket() === sock && sock.ws.isOpen) {
        this.untrack(pending);
        pending.reject(new LinkError('send_failed', `WhatsApp refused the message: ${(error as Error).message}`));
      }
    }
  }

  /** No ack in time: ask WhatsApp for a ping; no answer means the connection is dead. */
  private async overdue(pending: Pending, sock: WASocket): Promise<void> {
    if (!this.pending.has(pending.id) || pending.socket !== sock || this.ctx.socket() !== sock) return;
    // Still waiting after a live probe: look again later (WhatsApp may just be slow).
    pending.ackTimer = setTimeout(() => void this.overdue(pending, sock), this.timing.ackTimeoutMs);
    if (this.probing === sock) return;
    this.probing = sock;
    try {
      await sock.query({ tag: 'iq', attrs: { to: S_WHATSAPP_NET, type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }, this.timing.probeTimeoutMs);
    } catch {
      if (this.ctx.socket() === sock) {
        this.ctx.connectionLost(sock, `WhatsApp stopped answering: no acknowledgement for ${this.timing.ackTimeoutMs} ms and no answer to a ping`);
      }
    } finally {
      if (this.probing === sock) this.probing = undefined;
    }
  }

  /** Waits for the ack, at most until the answer deadline; past it the outcome is unknown, not failed. */
  private settle(pending: Pending): Promise<SendResult> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LinkError('timeout', 'WhatsApp has not confirmed the message yet; it stays pending and is written again under the same id once the connection is back')),
        this.timing.answerDeadlineMs,
      );
    });
    return Promise.race([pending.acked, deadline]).finally(() => clearTimeout(timer));
  }

  private onAck(node: BinaryNode): void {
    const pending = this.pending.get(node.attrs.id ?? '');
    if (!pending) return;
    this.untrack(pending);
    if (node.attrs.error) {
      pending.reject(new LinkError('send_failed', `WhatsApp refused the message (error ${node.attrs.error})`));
      return;
    }
    const timestamp = Number(node.attrs.t) || Math.floor(Date.now() / 1000);
    if (pending.change) {
      pending.resolve({ id: pending.id, timestamp, to: pending.to });
      return;
    }
    this.recording.set(pending.id, { outboxId: pending.outboxId, queued: pending.queued });
    void this.confirmed(pending, timestamp)
      .catch((error) => this.ctx.log.error({ err: error, id: pending.id }, 'could not record an acknowledged message'))
      .finally(() => this.recording.delete(pending.id))
      .then(() => pending.resolve({ id: pending.id, timestamp, to: pending.to }));
  }

  /** Records an acknowledged message: the outbox result, the copy kept for retry requests, the counter. */
  private async confirmed(pending: Pending, timestamp: number): Promise<void> {
    const { id, to, outboxId, queued } = pending;
    const result: SendResult = { id, timestamp, to };
    this.totalSent++;
    const device = this.ctx.id;
    await pending.written;
    const message = pending.message && proto.Message.toObject(proto.Message.fromObject(pending.message), { bytes: String });
    const recentKey = `recent:${device}:${id}`;
    const changes: Record<string, string | null> = {
      [`device:${device}:sent`]: String(this.totalSent),
      [recentKey]: JSON.stringify({ to, outboxId, queued, message }),
    };
    const expiresAt: Record<string, number> = { [recentKey]: this.expiry() };
    if (outboxId) {
      const outboxKey = `outbox:${device}:${outboxId}`;
      changes[outboxKey] = JSON.stringify({ messageId: id, result });
      expiresAt[outboxKey] = expiresAt[recentKey]!;
    }
    this.ctx.deps.metrics.messagesSent++;
    this.ctx.changed();
    await this.store.write(changes, { expiresAt });
    await this.reportStatus(id, to, 'sent', timestamp, { outboxId, queued });
  }

  /** What is sent: the message itself, as a reply and with mentions when asked. */
  private async content(params: SendParams): Promise<AnyMessageContent> {
    const message = await this.messageOf(params);
    if (params.reaction) return message;
    const mentions = params.mentions?.length ? { mentions: params.mentions.map((n) => `${n}@s.whatsapp.net`) } : {};
    const reply = params.quotedId ? { contextInfo: await this.replyTo(params.quotedId) } : {};
    return { ...message, ...mentions, ...reply } as AnyMessageContent;
  }

  /** The context that makes a message a reply to `id`, quoting it as WhatsApp shows a quote. */
  private async replyTo(id: string): Promise<proto.IContextInfo> {
    const quoted = await this.storedMessage(id);
    if (!quoted) throw new LinkError('bad_request', `quotedId: this device sent or received no message ${id} (within the retention)`);
    const own = this.ctx.socket()?.user?.id;
    const participant = quoted.fromMe ? (own ? jidNormalizedUser(own) : undefined) : quoted.participant || quoted.chat;
    return { stanzaId: id, participant, quotedMessage: quoted.message };
  }

  private async messageOf(params: SendParams): Promise<AnyMessageContent> {
    if (params.location) {
      const { latitude, longitude, name, address } = params.location;
      return { location: { degreesLatitude: latitude, degreesLongitude: longitude, name, address } };
    }
    if (params.contacts) {
      const cards = params.contacts.map((c) => ({ displayName: c.name, vcard: vcardOf(c) }));
      return { contacts: { displayName: cards.length === 1 ? cards[0]!.displayName : `${cards.length} contacts`, contacts: cards } };
    }
    // WhatsApp's selectable count: 1 for a single choice, 0 for any number.
    if (params.poll) return { poll: { name: params.poll.name, values: params.poll.options, selectableCount: params.poll.multiple ? 0 : 1 } };
    if (params.reaction) return { react: { text: params.reaction.emoji, key: await this.keyOf(params.reaction.messageId) } };
    if (!params.media) {
      if (!params.text) throw new LinkError('bad_request', 'message: a text or a media URL is required');
      // Always set: left undefined, Baileys would fetch the page itself, past the guarded fetcher.
      const linkPreview = params.linkPreview === false ? null : ((await this.ctx.deps.linkPreviews.forText(params.text)) ?? null);
      return { text: params.text, linkPreview };
    }
    const { type, url, upload, fileName, shared, viewOnce } = params.media;
    const { media } = this.ctx.deps.options;
    // A file the edge put here (an upload) is read from the store; a URL is fetched.
    const load = () =>
      upload ? readUpload(this.store, this.ctx.id, upload) : fetchMedia(url!, { type, maxBytes: media.maxBytes, timeoutMs: media.timeoutMs, allowPrivateNetworks: media.allowPrivateNetworks });
    // Fetched and converted once for all the sends of a request.
    const prepare = async () => prepareMedia(type, await load());
    let prepared: PreparedMedia;
    try {
      prepared = await (shared ? this.ctx.deps.sharedMedia.get(`${shared} ${type} ${url ?? upload}`, prepare) : prepare());
    } catch (error) {
      // The file's fault (or its server's) is the caller's to fix; anything else is ours.
      if (error instanceof ConvertError) throw new LinkError('media_error', upload ? `file: the uploaded file ${error.message}` : `url: media at ${displayUrl(url!)} ${error.message}`);
      if (error instanceof RequestError) throw new LinkError('media_error', `url: ${error.message}`);
      throw error;
    }
    const { bytes, mimetype, seconds, waveform, animated } = prepared;
    const caption = params.text || undefined;
    if (type === 'image') return { image: bytes, caption, mimetype, viewOnce };
    if (type === 'video') return { video: bytes, caption, mimetype, viewOnce };
    // Baileys copies `waveform` into the message as it is; passing it (and `seconds`) spares it
    // trying optional packages to compute them.
    if (type === 'voice') return { audio: bytes, mimetype, ptt: true, seconds, waveform } as AnyMessageContent;
    if (type === 'audio') return { audio: bytes, mimetype, ptt: false, seconds };
    if (type === 'sticker') return { sticker: bytes, mimetype, isAnimated: animated, width: 512, height: 512 };
    return { document: bytes, caption, mimetype, fileName: fileName ?? prepared.fileName };
  }

  /** An incoming message, remembered for the retention so a reaction or a reply can name it. */
  async received(id: string, chat: string, participant: string | undefined, message: proto.IMessage | null | undefined): Promise<void> {
    const key = `received:${this.ctx.id}:${id}`;
    const quotable = message ? proto.Message.toObject(proto.Message.fromObject(message), { bytes: String }) : undefined;
    await this.store.write({ [key]: JSON.stringify({ chat, participant, message: quotable }) }, { expiresAt: { [key]: this.expiry() } });
  }

  /** The key of a message this device sent or received within the retention, as WhatsApp names it. */
  private async keyOf(id: string): Promise<proto.IMessageKey> {
    const [sent, got] = await this.store.getMany([`recent:${this.ctx.id}:${id}`, `received:${this.ctx.id}:${id}`]);
    if (sent) return { remoteJid: (JSON.parse(sent) as { to: string }).to, fromMe: true, id };
    if (got) {
      const { chat, participant } = JSON.parse(got) as { chat: string; participant?: string };
      return { remoteJid: chat, fromMe: false, id, participant };
    }
    throw new LinkError('bad_request', `messageId: this device sent or received no message ${id} (within the retention)`);
  }

  /** A message this device sent within the retention, for a recipient that asks for it again. */
  async recentMessage(id: string): Promise<proto.IMessage | undefined> {
    const raw = await this.store.get(`recent:${this.ctx.id}:${id}`);
    return raw ? proto.Message.fromObject(JSON.parse(raw).message) : undefined;
  }

  /**
   * A message this device sent or received within the retention, with who wrote it (a sent one
   * is `fromMe`; a received one names its chat and, in groups, participant): what reading a
   * vote on a poll needs.
   */
  async storedMessage(id: string): Promise<{ message: proto.IMessage; fromMe: boolean; chat: string; participant?: string } | undefined> {
    const [sent, got] = await this.store.getMany([`recent:${this.ctx.id}:${id}`, `received:${this.ctx.id}:${id}`]);
    const raw = sent ?? got;
    const record = raw ? (JSON.parse(raw) as { to?: string; chat?: string; participant?: string; message?: object }) : undefined;
    if (!record?.message) return undefined;
    return { message: proto.Message.fromObject(record.message), fromMe: !!sent, chat: record.to ?? record.chat ?? '', participant: record.participant };
  }

  /** A message this device received within the retention (its media can be downloaded from it). */
  async receivedMessage(id: string): Promise<proto.IMessage | undefined> {
    const raw = await this.store.get(`received:${this.ctx.id}:${id}`);
    const record = raw ? (JSON.parse(raw) as { message?: object }) : undefined;
    return record?.message ? proto.Message.fromObject(record.message) : undefined;
  }

  /**
   * Asks the phone that sent a received file to upload it again (WhatsApp's media hosts dropped
   * it) and remembers where the new upload is; the message as it is now.
   */
  async reuploadReceived(id: string): Promise<proto.IMessage> {
    const sock = this.requireSocket();
    const key = `received:${this.ctx.id}:${id}`;
    const raw = await this.store.get(key);
    const record = raw ? (JSON.parse(raw) as { chat: string; participant?: string; message?: object }) : undefined;
    if (!record?.message) throw new LinkError('not_found', `this device received no message ${id} (within the retention)`);
    const message = { key: { remoteJid: record.chat, fromMe: false, id, participant: record.participant }, message: proto.Message.fromObject(record.message) };
    try {
      // Baileys points the message's media at the new upload, on the media host it last heard of
      // from WhatsApp: asked now, so that is the current one rather than a built-in default.
      await sock.refreshMediaConn();
      await sock.updateMediaMessage(message);
    } catch (error) {
      throw new LinkError('not_found', `media no longer on WhatsApp, and the sender's phone did not upload it again (${(error as Error).message})`);
    }
    const updated = proto.Message.toObject(proto.Message.fromObject(message.message), { bytes: String });
    await this.store.write({ [key]: JSON.stringify({ ...record, message: updated }) }, { expiresAt: { [key]: this.expiry() } });
    return message.message;
  }

  /** A receipt of a sent message (delivered, read, played) from WhatsApp. */
  async onReceipt(id: string, to: string, code: number): Promise<void> {
    const status = RECEIPT_STATUS[code];
    // 'sent' is reported on WhatsApp's ack; Baileys' own server-ack status adds nothing to it.
    if (!status || status === 'sent') return;
    let sent = this.recording.get(id);
    if (!sent) {
      // One read per receipt (a file read, or a Redis round trip): no record means the message
      // was not sent through this host, or is older than the retention.
      const raw = await this.store.get(`recent:${this.ctx.id}:${id}`);
      if (!raw) return;
      sent = JSON.parse(raw) as Sent;
    }
    // The edge knows its messages by its own id until it has recorded WhatsApp's.
    await this.reportStatus(id, to, status, Math.floor(Date.now() / 1000), sent);
  }

  /** Queues a status webhook; the edge also reports through here what only it sees (queued, cancelled). */
  async statusWebhook(change: StatusChange): Promise<void> {
    await this.ctx.webhook({ type: 'status', payload: statusPayload(this.ctx.id, this.ctx.phoneNumber(), change) });
  }

  /** A status change of a sent message (`id`: WhatsApp's): to the device's webhook, and to the edge. */
  private async reportStatus(id: string, to: string, status: MessageStatus, timestamp: number, { outboxId, queued }: Sent): Promise<void> {
    // Receivers match statuses to the id the API answered: the outbox id for a queued send.
    const answered = queued && outboxId ? outboxId : id;
    await this.statusWebhook({ id: answered, stateid: id, messageId: outboxId ?? null, to, status, reason: null, timestamp });
    this.ctx.deps.emit('message.status', { deviceId: this.ctx.id, id, outboxId, to, status, timestamp });
  }
}

/** Where Baileys leaves a reply's context and mentions when the message's first field is not its content. */
const STRAY_CONTEXT_HOLDERS = ['messageContextInfo', 'viewOnceMessage', 'viewOnceMessageV2'] as const;

const hasStrayContext = (message: proto.IMessage) => STRAY_CONTEXT_HOLDERS.some((field) => (message[field] as { contextInfo?: proto.IContextInfo } | null | undefined)?.contextInfo);

/**
 * Baileys writes a reply's context and the mentions onto the first field of the message it
 * builds. For a poll that field is `messageContextInfo` (its vote secret), for a view-once
 * message the wrapper: neither has a place for them, so they would be dropped when the message is
 * encoded. This moves them onto the content (the poll, the wrapped image), where WhatsApp reads
 * them. Given to Baileys as `patchMessageBeforeSending`; it returns copies, because Baileys hands
 * it the recipient's message and the copy for the account's own devices sharing parts.
 */
export function placeContext(message: proto.IMessage): proto.IMessage {
  const own = message.deviceSentMessage;
  if (own?.message) return hasStrayContext(own.message) ? { ...message, deviceSentMessage: { ...own, message: placeContext(own.message) } } : message;
  // Every message passes here on its way out: most have nothing to move, and are not copied.
  if (!hasStrayContext(message)) return message;
  let stray: proto.IContextInfo | undefined;
  const placed: Record<string, unknown> = { ...message };
  for (const field of STRAY_CONTEXT_HOLDERS) {
    const holder = message[field] as ({ contextInfo?: proto.IContextInfo } & object) | null | undefined;
    if (!holder?.contextInfo) continue;
    const { contextInfo, ...rest } = holder;
    stray = { ...stray, ...contextInfo };
    placed[field] = rest;
  }
  if (!stray) return message;
  const wrapper = placed.viewOnceMessage ? 'viewOnceMessage' : placed.viewOnceMessageV2 ? 'viewOnceMessageV2' : undefined;
  const content = (wrapper ? (placed[wrapper] as proto.Message.IFutureProofMessage).message : placed) as Record<string, { contextInfo?: proto.IContextInfo } | undefined>;
  const type = getContentType(content as proto.IMessage);
  if (!type || typeof content[type] !== 'object') return message;
  const withContext = { ...content, [type]: { ...content[type], contextInfo: { ...content[type]!.contextInfo, ...stray } } };
  if (wrapper) placed[wrapper] = { ...(placed[wrapper] as object), message: withContext };
  else Object.assign(placed, withContext);
  return placed as proto.IMessage;
}

/** A contact card as WhatsApp shows it: the number is also its WhatsApp id (`waid`). */
function vcardOf(contact: { name: string; phone: string; organization?: string }): string {
  const text = (value: string) => value.replace(/[\r\n]+/g, ' ').replace(/([\\,;])/g, '\\$1');
  const lines = ['BEGIN:VCARD', 'VERSION:3.0', `FN:${text(contact.name)}`];
  if (contact.organization) lines.push(`ORG:${text(contact.organization)};`);
  lines.push(`TEL;type=CELL;type=VOICE;waid=${contact.phone}:+${contact.phone}`, 'END:VCARD');
  return lines.join('\n');
}

// One WhatsApp device: a Baileys socket and everything around it (status, QR codes, reconnects,
// sending, incoming messages and receipts). The registry owns one of these per device.
import {
  DisconnectReason,
  generateMessageIDV2,
  proto,
  type AnyMessageContent,
  type BaileysEventMap,
  type SignalDataSet,
  type WAMessage,
  type WASocket,
} from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { LinkError, type DeviceSettings, type DeviceState, type DeviceStatus, type MessageStatus, type SendParams, type SendResult } from '../link/protocol.ts';
import { fetchMedia } from '../media.ts';
import { clearAuthState, useStoreAuthState } from '../store/auth-state.ts';
import type { Store } from '../store/store.ts';
import { EventChain } from './event-chain.ts';
import { incomingPayload, isUserMessage, type ConnectionPayload, type StatusPayload } from './payloads.ts';
import type { SessionDeps } from './registry.ts';

/** Persisted per device: what the edge configured, and whether it should be connected. */
export interface StoredSettings extends DeviceSettings {
  autoConnect: boolean;
}

const RECEIPT_STATUS: Partial<Record<number, MessageStatus>> = {
  [proto.WebMessageInfo.Status.SERVER_ACK]: 'sent',
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: 'delivered',
  [proto.WebMessageInfo.Status.READ]: 'read',
  [proto.WebMessageInfo.Status.PLAYED]: 'played',
  [proto.WebMessageInfo.Status.ERROR]: 'failed',
};

/** Close codes after which reconnecting cannot help: someone has to act first. */
const TERMINAL: Partial<Record<number, string>> = {
  [DisconnectReason.loggedOut]: 'logged out from the phone; scan a new QR code to link again',
  [DisconnectReason.connectionReplaced]: 'another session replaced this one (the same device connected elsewhere)',
  [DisconnectReason.forbidden]: 'WhatsApp refused the account (banned or restricted)',
  [DisconnectReason.multideviceMismatch]: 'the phone does not support linked devices',
};

const RECENT_LIMIT = 500;

export class DeviceSession {
  readonly id: string;
  settings: StoredSettings;
  private readonly deps: SessionDeps;
  private readonly log: Logger;

  private sock?: WASocket;
  private status: DeviceStatus = 'DISCONNECTED';
  private qr: string | null = null;
  private reason: string | null = null;
  private phoneNumber: string | null = null;
  private pushName: string | null = null;
  private totalMessagesSent = 0;

  /** True while the user wants this device online; reconnects stop when it is false. */
  private wanted = false;
  private qrCount = 0;
  private attempts = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly statusWaiters = new Set<() => void>();
  private readonly recentIds: string[] = [];
  private readonly seenIncoming = new Set<string>();
  private readonly sendingFor = new Map<string, Promise<SendResult>>();

  constructor(settings: StoredSettings, deps: SessionDeps) {
    this.id = settings.id;
    this.settings = settings;
    this.deps = deps;
    this.log = deps.logger.child({ device: settings.id });
  }

  private get store(): Store {
    return this.deps.store;
  }

  /** Loads what survives a restart: the sent counter, recent message ids, the logged-in identity. */
  async load(): Promise<void> {
    const [sent, creds] = await this.store.getMany([`device:${this.id}:sent`, `auth:${this.id}:creds`]);
    this.totalMessagesSent = Number(sent ?? 0);
    if (creds) this.setIdentity(JSON.parse(creds).me);
    const recent = await this.store.keys(`recent:${this.id}:`);
    this.recentIds.push(...recent.map((k) => k.slice(`recent:${this.id}:`.length)));
  }

  get state(): DeviceState {
    return {
      id: this.id,
      status: this.status,
      qr: this.status === 'QR' ? this.qr : null,
      phoneNumber: this.phoneNumber,
      pushName: this.pushName,
      totalMessagesSent: this.totalMessagesSent,
      reason: this.reason,
    };
  }

  private setIdentity(me: { id?: string; name?: string } | undefined): void {
    if (!me?.id) return;
    this.phoneNumber = me.id.split(/[:@]/)[0] ?? null;
    if (me.name) this.pushName = me.name;
  }

  private setStatus(status: DeviceStatus, reason: string | null = null): void {
    const changed = status !== this.status || reason !== this.reason;
    this.status = status;
    this.reason = reason;
    if (status !== 'QR') this.qr = null;
    if (!changed && status !== 'QR') return;
    this.deps.emit('device.status', this.state);
    for (const wake of this.statusWaiters) wake();
    if (status !== 'QR' && status !== 'CONNECTING') {
      const payload: ConnectionPayload = { event: 'connection', device: this.phoneNumber, deviceId: this.id, status, reason, timestamp: Math.floor(Date.now() / 1000) };
      void this.webhook({ type: 'connection', payload }).catch((error) => this.log.error({ err: error }, 'could not queue connection webhook'));
    }
  }

  // ───────────────────────── lifecycle ─────────────────────────

  /** Starts (or keeps) the session; resolves once it is connecting, showing a QR, or connected. */
  async connect(): Promise<DeviceState> {
    this.wanted = true;
    if (!this.settings.autoConnect) await this.saveSettings({ autoConnect: true });
    if (!this.sock && !this.opening) {
      this.qrCount = 0;
      this.attempts = 0;
      await this.open();
    }
    return this.state;
  }

  private opening = false;
  private auth?: Awaited<ReturnType<typeof useStoreAuthState>>;
  private events?: EventChain;

  private async open(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.setStatus('CONNECTING', null);
    this.opening = true;
    try {
      // One auth state per session, shared by its successive sockets: Baileys updates the creds
      // object in place, and a socket opened after a 515 must see them before they are saved.
      this.auth ??= await useStoreAuthState(this.store, this.id);
    } finally {
      this.opening = false;
    }
    if (!this.wanted) return this.setStatus('DISCONNECTED');
    const auth = this.auth;
    const { state, saveCreds } = auth;
    // A closing socket may still write keys after a logout cleared them; those writes are dropped.
    const keys = { get: state.keys.get, set: async (data: SignalDataSet) => (this.auth === auth ? state.keys.set(data) : undefined) };
    const sock = this.deps.socketFactory({
      // The store's auth state caches reads itself (including misses); no second cache on top.
      auth: { creds: state.creds, keys },
      logger: this.deps.baileysLogger,
      getMessage: (key) => this.recentMessage(key.id ?? ''),
    });
    this.sock = sock;
    this.events ??= new EventChain(this.deps.storeHealth, this.log);
    sock.ev.process((events) => this.events!.run(() => this.onEvents(sock, events, saveCreds)));
  }

  private async onEvents(sock: WASocket, events: Partial<BaileysEventMap>, saveCreds: () => Promise<void>): Promise<void> {
    {
      if (this.sock !== sock) return; // a replaced socket's late events
      if (events['creds.update']) {
        await saveCreds();
        this.setIdentity(sock.authState.creds.me);
      }
      if (events['connection.update']) await this.onConnectionUpdate(sock, events['connection.update']);
      if (events['messages.upsert']) await this.onUpsert(events['messages.upsert'].messages);
      if (events['messages.update']) {
        for (const { key, update } of events['messages.update']) {
          if (key.fromMe && update.status != null) await this.onReceipt(key.id ?? '', key.remoteJid ?? '', update.status);
        }
      }
    }
  }

  private async onConnectionUpdate(sock: WASocket, update: Partial<import('@whiskeysockets/baileys').ConnectionState>): Promise<void> {
    if (update.qr) {
      this.qrCount++;
      if (this.qrCount > this.deps.options.maxQrCodes) {
        this.log.info({ shown: this.qrCount - 1 }, 'QR code not scanned; stopping until the next connect');
        this.stopSocket();
        this.wanted = false;
        this.setStatus('DISCONNECTED', 'QR code not scanned in time; connect again for a new one');
        return;
      }
      this.qr = update.qr;
      this.setStatus('QR');
    }
    if (update.connection === 'open') {
      this.attempts = 0;
      this.qrCount = 0;
      this.setIdentity(sock.authState.creds.me);
      this.setStatus('CONNECTED');
    }
    if (update.connection === 'close') {
      const error = update.lastDisconnect?.error as (Error & { output?: { statusCode?: number } }) | undefined;
      const code = error?.output?.statusCode;
      this.sock = undefined;
      await this.onClose(code, error?.message ?? 'connection closed');
    }
  }

  private async onClose(code: number | undefined, message: string): Promise<void> {
    const loggedIn = !!this.phoneNumber;
    this.log.info({ code, message }, 'connection closed');
    if (!this.wanted) return this.setStatus('DISCONNECTED', null);
    if (code === DisconnectReason.restartRequired) return this.open(); // after pairing: log in now
    if (code === DisconnectReason.loggedOut) {
      this.wanted = false;
      await this.forgetLogin();
      return this.setStatus('LOGGED_OUT', TERMINAL[code]!);
    }
    const terminal = code === undefined ? undefined : TERMINAL[code];
    if (terminal) {
      this.wanted = false;
      return this.setStatus('DISCONNECTED', terminal);
    }
    if (!loggedIn && code === DisconnectReason.timedOut) {
      this.wanted = false;
      return this.setStatus('DISCONNECTED', 'QR code not scanned in time; connect again for a new one');
    }
    // Anything else is transient: back off exponentially, with jitter so devices spread out.
    const { baseMs, maxMs } = this.deps.options.backoff;
    const delay = Math.min(maxMs, baseMs * 2 ** this.attempts++) * (0.5 + Math.random() / 2);
    this.setStatus('CONNECTING', `reconnecting after: ${message}`);
    this.reconnectTimer = setTimeout(() => void (this.wanted && this.open()), delay);
  }

  /** Closes the socket and keeps the login: the next connect resumes without a QR code. */
  async disconnect(): Promise<DeviceState> {
    this.wanted = false;
    await this.saveSettings({ autoConnect: false });
    this.stopSocket();
    this.setStatus('DISCONNECTED');
    return this.state;
  }

  /** Ends the login on the phone too; the device needs a new scan afterwards. */
  async logout(): Promise<DeviceState> {
    // Only a connected socket can tell WhatsApp; a linked device that is offline connects first.
    if (this.phoneNumber && this.status !== 'CONNECTED') {
      await this.connect();
      await this.until((s) => s === 'CONNECTED', 10_000);
    }
    this.wanted = false;
    const sock = this.sock;
    if (sock && this.status === 'CONNECTED') {
      this.sock = undefined;
      await sock.logout().catch((error) => this.log.warn({ err: error }, 'logout request failed; forgetting the login anyway'));
    }
    this.stopSocket();
    await this.forgetLogin();
    await this.saveSettings({ autoConnect: false });
    this.setStatus('LOGGED_OUT', 'logged out');
    return this.state;
  }

  /** Stops everything for a host shutdown: the socket closes, the login stays. */
  shutdown(): void {
    this.wanted = false;
    this.stopSocket();
  }

  private stopSocket(): void {
    clearTimeout(this.reconnectTimer);
    const sock = this.sock;
    this.sock = undefined;
    sock?.end(undefined);
  }

  private async forgetLogin(): Promise<void> {
    await (this.auth ? this.auth.clear() : clearAuthState(this.store, this.id));
    this.auth = undefined;
    this.phoneNumber = null;
    this.pushName = null;
  }

  /**
   * The store lost its data: writes back what this session holds (settings, counter, the login
   * if it was opened in this process) and sets the status reason `notice` gives for the outcome.
   */
  async rewriteState(notice: (login: 'kept' | 'lost' | 'none') => string): Promise<number> {
    await this.saveSettings({});
    await this.store.write({ [`device:${this.id}:sent`]: String(this.totalMessagesSent) });
    const keys = (await this.auth?.rewrite()) ?? 0;
    this.setStatus(this.status, notice(!this.phoneNumber ? 'none' : keys ? 'kept' : 'lost'));
    return keys;
  }

  async saveSettings(changes: Partial<StoredSettings>): Promise<void> {
    this.settings = { ...this.settings, ...changes };
    await this.store.write({ [`device:${this.id}:settings`]: JSON.stringify(this.settings) });
  }

  /** Deletes the device's whole state: login, settings, counters, caches. */
  async destroy(): Promise<void> {
    await this.logout();
    for (const prefix of [`device:${this.id}:`, `recent:${this.id}:`, `outbox:${this.id}:`]) await this.store.deletePrefix(prefix);
  }

  /** Asks WhatsApp for a pairing code for `phone`, to be typed on the phone instead of scanning. */
  async pairingCode(phone: string): Promise<string> {
    if (this.status === 'CONNECTED') throw new LinkError('bad_request', 'device is already connected');
    if (this.phoneNumber) throw new LinkError('bad_request', 'device is already linked; disconnect or log out first');
    // The code can only be requested once the handshake is done, i.e. when the first QR arrives.
    if (this.status !== 'QR') {
      await this.connect();
      await this.until((s) => s === 'QR', 20_000);
    }
    if (this.status !== 'QR' || !this.sock) throw new LinkError('not_connected', `device could not start pairing: ${this.reason ?? this.status}`);
    return this.sock.requestPairingCode(phone);
  }

  /** Resolves once the status satisfies `done` (or is terminal), or after `ms` at the latest. */
  until(done: (status: DeviceStatus) => boolean, ms: number): Promise<DeviceState> {
    const settled = () => done(this.status) || (!this.wanted && this.status !== 'CONNECTING');
    if (settled()) return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.statusWaiters.delete(check);
        resolve(this.state);
      };
      const check = () => settled() && finish();
      const timer = setTimeout(finish, ms);
      this.statusWaiters.add(check);
    });
  }

  /** Resolves when the device is connected, waiting for a scan, or stopped. */
  untilSettled(ms: number): Promise<DeviceState> {
    return this.until((s) => s === 'CONNECTED' || s === 'QR', ms);
  }

  // ───────────────────────── sending ─────────────────────────

  /**
   * Sends a message. With an outbox id the send is idempotent: the id is claimed in the store
   * (with the WhatsApp message id chosen up front) before anything goes out, so a retry after an
   * ambiguous failure gets the first result, or resends under the same WhatsApp id, which
   * recipients treat as the same message.
   */
  async send(params: SendParams): Promise<SendResult> {
    if (!params.outboxId) return this.sendNow(params, undefined);
    const inFlight = this.sendingFor.get(params.outboxId);
    if (inFlight) return inFlight;
    const promise = this.sendOnce(params, params.outboxId).finally(() => this.sendingFor.delete(params.outboxId!));
    this.sendingFor.set(params.outboxId, promise);
    return promise;
  }

  private async sendOnce(params: SendParams, outboxId: string): Promise<SendResult> {
    const key = `outbox:${this.id}:${outboxId}`;
    const claim = await this.store.get(key);
    const previous = claim ? (JSON.parse(claim) as { messageId: string; result?: SendResult }) : undefined;
    if (previous?.result) return previous.result;
    this.requireConnected();
    const messageId = previous?.messageId ?? generateMessageIDV2(this.sock!.user?.id);
    if (!previous) await this.store.write({ [key]: JSON.stringify({ messageId }) });
    const result = await this.sendNow(params, messageId);
    await this.store.write({ [key]: JSON.stringify({ messageId, result }) });
    return result;
  }

  private requireConnected(): void {
    if (this.status !== 'CONNECTED' || !this.sock) throw new LinkError('not_connected', 'Device is not connected');
  }

  private async sendNow(params: SendParams, messageId: string | undefined): Promise<SendResult> {
    this.requireConnected();
    const content = await this.content(params);
    const sock = this.sock!;
    if (params.typingMs) {
      await sock.sendPresenceUpdate('composing', params.to);
      await new Promise((resolve) => setTimeout(resolve, params.typingMs));
      await sock.sendPresenceUpdate('paused', params.to);
    }
    let sent: WAMessage | undefined;
    try {
      sent = await sock.sendMessage(params.to, content, messageId ? { messageId } : {});
    } catch (error) {
      throw new LinkError('send_failed', `WhatsApp refused the message: ${(error as Error).message}`);
    }
    if (!sent?.key.id) throw new LinkError('send_failed', 'WhatsApp did not accept the message');
    this.totalMessagesSent++;
    const recentKey = `recent:${this.id}:${sent.key.id}`;
    const changes: Record<string, string | null> = {
      [`device:${this.id}:sent`]: String(this.totalMessagesSent),
      [recentKey]: JSON.stringify({ to: params.to, outboxId: params.outboxId, message: proto.Message.toObject(proto.Message.fromObject(sent.message ?? {}), { bytes: String }) }),
    };
    this.recentIds.push(sent.key.id);
    while (this.recentIds.length > RECENT_LIMIT) changes[`recent:${this.id}:${this.recentIds.shift()}`] = null;
    await this.store.write(changes);
    this.deps.metrics.messagesSent++;
    this.deps.emit('device.status', this.state);
    const timestamp = Number(sent.messageTimestamp ?? Math.floor(Date.now() / 1000));
    await this.reportStatus(sent.key.id, params.to, 'sent', timestamp, params.outboxId);
    return { id: sent.key.id, timestamp, to: params.to };
  }

  private async content(params: SendParams): Promise<AnyMessageContent> {
    if (!params.media) {
      if (!params.text) throw new LinkError('bad_request', 'message: a text or a media URL is required');
      return { text: params.text };
    }
    const { type, url, fileName } = params.media;
    const { media } = this.deps.options;
    let fetched: Awaited<ReturnType<typeof fetchMedia>>;
    try {
      fetched = await fetchMedia(url, { type, maxBytes: media.maxBytes, timeoutMs: media.timeoutMs, allowPrivateNetworks: media.allowPrivateNetworks });
    } catch (error) {
      throw new LinkError('media_error', (error as Error).message);
    }
    const caption = params.text || undefined;
    if (type === 'image') return { image: fetched.bytes, caption, mimetype: fetched.mimetype };
    if (type === 'video') return { video: fetched.bytes, caption, mimetype: fetched.mimetype };
    return { document: fetched.bytes, caption, mimetype: fetched.mimetype, fileName: fileName ?? fetched.fileName };
  }

  private async recentMessage(id: string): Promise<proto.IMessage | undefined> {
    const raw = await this.store.get(`recent:${this.id}:${id}`);
    return raw ? proto.Message.fromObject(JSON.parse(raw).message) : undefined;
  }

  async groups(): Promise<{ id: string; name: string }[]> {
    this.requireConnected();
    const groups = await this.sock!.groupFetchAllParticipating();
    return Object.values(groups).map((g) => ({ id: g.id, name: g.subject }));
  }

  // ───────────────────────── incoming ─────────────────────────

  private async onUpsert(messages: WAMessage[]): Promise<void> {
    for (const message of messages) {
      const id = message.key.id ?? '';
      if (message.key.fromMe) {
        // A receipt that lands while Baileys buffers its own send is folded into the upsert.
        if (message.status != null && message.status > proto.WebMessageInfo.Status.SERVER_ACK) await this.onReceipt(id, message.key.remoteJid ?? '', message.status);
        continue;
      }
      if (!isUserMessage(message) || this.seenIncoming.has(id)) continue;
      const payload = incomingPayload(this.id, this.phoneNumber, message);
      // Persist the webhook first: once queued, the message survives a crash. Seen only then, so
      // a batch run again after a store outage queues what it could not queue the first time.
      await this.webhook({ type: 'message', payload });
      this.seenIncoming.add(id);
      if (this.seenIncoming.size > 5000) this.seenIncoming.delete(this.seenIncoming.values().next().value!);
      this.deps.metrics.messagesReceived++;
      this.deps.emit('message.incoming', { deviceId: this.id, id, from: payload.sender, chat: payload.chat, type: payload.type, text: payload.message, timestamp: payload.timestamp });
    }
  }

  private async onReceipt(id: string, to: string, code: number): Promise<void> {
    const status = RECEIPT_STATUS[code];
    // 'sent' was reported when the send returned; Baileys' server ack adds nothing to it.
    if (!status || status === 'sent' || !this.recentIds.includes(id)) return;
    // The edge knows its messages by its own id until it has recorded WhatsApp's.
    const outboxId = JSON.parse((await this.store.get(`recent:${this.id}:${id}`)) ?? '{}').outboxId as string | undefined;
    await this.reportStatus(id, to, status, Math.floor(Date.now() / 1000), outboxId);
  }

  /** Queues a webhook, unless the device has nowhere to send it (which is then not worth a write). */
  private async webhook(event: Parameters<SessionDeps['webhooks']['enqueue']>[1]): Promise<void> {
    if (this.settings.webhookUrl && this.settings.webhookSecret) await this.deps.webhooks.enqueue(this.id, event);
  }

  /** Queues a status webhook; the edge also reports through here what only it sees (queued, cancelled). */
  async statusWebhook(change: { id: string; messageId: string | null; to: string; status: StatusPayload['status']; reason: string | null; timestamp: number }): Promise<void> {
    const payload: StatusPayload = { event: 'status', device: this.phoneNumber, deviceId: this.id, stateid: change.id, state: change.status, ...change };
    await this.webhook({ type: 'status', payload });
  }

  /** A status change of a sent message: to the device's webhook, and to the edge. */
  private async reportStatus(id: string, to: string, status: MessageStatus, timestamp: number, outboxId: string | undefined): Promise<void> {
    await this.statusWebhook({ id, messageId: outboxId ?? null, to, status, reason: null, timestamp });
    this.deps.emit('message.status', { deviceId: this.id, id, outboxId, to, status, timestamp });
  }
}

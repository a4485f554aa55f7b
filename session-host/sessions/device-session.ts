// One WhatsApp device: its Baileys socket's lifecycle (status, QR codes, reconnects, logout),
// with sending (sender.ts) and receiving (receiver.ts) beside it. The registry owns one per device.
import { DisconnectReason, type BaileysEventMap, type SignalDataSet, type WASocket } from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { LinkError, type DeviceSettings, type DeviceState, type DeviceStatus, type SendParams, type SendResult } from '../link/protocol.ts';
import { clearAuthState, useStoreAuthState } from '../store/auth-state.ts';
import type { Store } from '../store/store.ts';
import { Chats } from './chats.ts';
import { EventChain } from './event-chain.ts';
import { connectionPayload } from './payloads.ts';
import { Receiver } from './receiver.ts';
import type { SessionDeps } from './registry.ts';
import { Sender } from './sender.ts';
import { webhookUrlFor } from '../webhooks/urls.ts';

/** Persisted per device: what the edge configured, and whether it should be connected. */
export interface StoredSettings extends DeviceSettings {
  autoConnect: boolean;
}

/** Close codes after which reconnecting cannot help: someone has to act first. */
const TERMINAL: Partial<Record<number, string>> = {
  [DisconnectReason.loggedOut]: 'logged out from the phone; scan a new QR code to link again',
  [DisconnectReason.connectionReplaced]: 'another session replaced this one (the same device connected elsewhere)',
  [DisconnectReason.forbidden]: 'WhatsApp refused the account (banned or restricted)',
  [DisconnectReason.multideviceMismatch]: 'the phone does not support linked devices',
};

/**
 * The sent counter reaches the edge at most this often: an event per message would cost a journal
 * write, a link frame and a D1 write for every send. (The edge's heartbeat reads it too.)
 */
const COUNTER_REPORT_MS = 1_000;

export class DeviceSession {
  readonly id: string;
  settings: StoredSettings;
  private readonly deps: SessionDeps;
  private readonly log: Logger;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly chatOps: Chats;

  private sock?: WASocket;
  private status: DeviceStatus = 'DISCONNECTED';
  private qr: string | null = null;
  private reason: string | null = null;
  private phoneNumber: string | null = null;
  private pushName: string | null = null;

  /** True while the user wants this device online; reconnects stop when it is false. */
  private wanted = false;
  private qrCount = 0;
  private attempts = 0;
  private counterTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly statusWaiters = new Set<() => void>();

  constructor(settings: StoredSettings, deps: SessionDeps) {
    this.id = settings.id;
    this.settings = settings;
    this.deps = deps;
    this.log = deps.logger.child({ device: settings.id });
    const webhook = (event: Parameters<SessionDeps['webhooks']['enqueue']>[1]) => this.webhook(event);
    const phoneNumber = () => this.phoneNumber;
    this.sender = new Sender({
      id: this.id,
      deps,
      log: this.log,
      socket: () => (this.status === 'CONNECTED' ? this.sock : undefined),
      connectionLost: (sock, why) => this.connectionLost(sock, why),
      phoneNumber,
      webhook,
      changed: () => this.counterChanged(),
    });
    const account = () => this.sock?.authState.creds.me;
    const phoneOfLid = async (lid: string) => (await this.sock?.signalRepository.lidMapping.getPNForLID(lid)) ?? null;
    this.receiver = new Receiver({ id: this.id, deps, log: this.log, sender: this.sender, phoneNumber, account, phoneOfLid, webhook });
    this.chatOps = new Chats({ id: this.id, store: deps.store, socket: () => (this.status === 'CONNECTED' ? this.sock : undefined) });
  }

  private get store(): Store {
    return this.deps.store;
  }

  /** Loads what survives a restart: the sent counter, the logged-in identity. */
  async load(): Promise<void> {
    const [sent, creds] = await this.store.getMany([`device:${this.id}:sent`, `auth:${this.id}:creds`]);
    await this.sender.load(sent);
    if (creds) this.setIdentity(JSON.parse(creds).me);
  }

  get state(): DeviceState {
    return {
      id: this.id,
      status: this.status,
      qr: this.status === 'QR' ? this.qr : null,
      phoneNumber: this.phoneNumber,
      pushName: this.pushName,
      totalMessagesSent: this.sender.totalSent,
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
      const payload = connectionPayload(this.id, this.phoneNumber, status, reason);
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
      getMessage: (key) => this.sender.recentMessage(key.id ?? ''),
    });
    this.sock = sock;
    this.sender.attach(sock);
    this.events ??= new EventChain(this.deps.storeHealth, this.log);
    sock.ev.process((events) => this.events!.run(() => this.onEvents(sock, events, saveCreds)));
  }

  private async onEvents(sock: WASocket, events: Partial<BaileysEventMap>, saveCreds: () => Promise<void>): Promise<void> {
    if (this.sock !== sock) return; // a replaced socket's late events
    if (events['creds.update']) {
      await saveCreds();
      this.setIdentity(sock.authState.creds.me);
    }
    if (events['connection.update']) await this.onConnectionUpdate(sock, events['connection.update']);
    if (events['messages.upsert']) await this.receiver.onUpsert(events['messages.upsert'].messages);
    if (events['messages.update']) {
      for (const { key, update } of events['messages.update']) {
        if (key.fromMe && update.status != null) await this.sender.onReceipt(key.id ?? '', key.remoteJid ?? '', update.status);
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
      this.sender.resend(sock).catch((error) => this.log.warn({ err: error }, 'could not write unacknowledged messages again'));
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
    this.reconnectTimer = setTimeout(() => {
      if (!this.wanted) return;
      // Opening can fail before any socket exists (the store unreachable): back off and try again.
      this.open().catch((error) => void this.onClose(undefined, `could not reconnect: ${(error as Error).message}`));
    }, delay);
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

  /** The sent counter went up: reported with the next state event, or on its own within a second. */
  private counterChanged(): void {
    this.counterTimer ??= setTimeout(() => {
      this.counterTimer = undefined;
      this.deps.emit('device.status', this.state);
    }, COUNTER_REPORT_MS);
  }

  /** Stops everything for a host shutdown: the socket closes, the login stays. */
  shutdown(): void {
    this.wanted = false;
    clearTimeout(this.counterTimer);
    this.stopSocket();
  }

  private stopSocket(): void {
    clearTimeout(this.reconnectTimer);
    const sock = this.sock;
    this.sock = undefined;
    sock?.end(undefined);
  }

  /** The sender found the connection dead (no ack, no answer to a ping): drop it and reconnect. */
  private connectionLost(sock: WASocket, why: string): void {
    if (this.sock !== sock) return;
    this.log.warn({ why }, 'connection lost');
    // Baileys reports this as a close like any other, so the usual reconnect (with backoff) follows.
    sock.end(Object.assign(new Error(why), { output: { statusCode: DisconnectReason.connectionLost } }) as never);
  }

  private async forgetLogin(): Promise<void> {
    this.sender.abandon('the device logged out');
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
    await this.store.write({ [`device:${this.id}:sent`]: String(this.sender.totalSent) });
    const keys = (await this.auth?.rewrite()) ?? 0;
    this.setStatus(this.status, notice(!this.phoneNumber ? 'none' : keys ? 'kept' : 'lost'));
    return keys;
  }

  async saveSettings(changes: Partial<StoredSettings>): Promise<void> {
    this.settings = { ...this.settings, ...changes };
    await this.store.write({ [`device:${this.id}:settings`]: JSON.stringify(this.settings) });
  }

  /** Deletes the device's whole state: login, settings, counters, caches, uploaded files. */
  async destroy(): Promise<void> {
    clearTimeout(this.counterTimer);
    await this.logout();
    for (const prefix of [`device:${this.id}:`, `recent:${this.id}:`, `received:${this.id}:`, `outbox:${this.id}:`, `checked:${this.id}:`, `upload:${this.id}:`]) {
      await this.store.deletePrefix(prefix);
    }
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

  // ───────────────────────── sending and receiving ─────────────────────────

  /** Sends a message; resolves once WhatsApp acknowledged it (see sender.ts). */
  send(params: SendParams): Promise<SendResult> {
    return this.sender.send(params);
  }

  /** Edits a text this device sent; resolves once WhatsApp acknowledged the edit. */
  edit(id: string, text: string): Promise<SendResult> {
    return this.sender.edit(id, text);
  }

  /** Deletes a message this device sent for everyone; resolves once WhatsApp acknowledged it. */
  revoke(id: string): Promise<SendResult> {
    return this.sender.revoke(id);
  }

  /** A status change only the edge sees (queued, cancelled), for the device's webhook. */
  statusWebhook(change: Parameters<Sender['statusWebhook']>[0]): Promise<void> {
    return this.sender.statusWebhook(change);
  }

  /** A message this device received within the retention, for downloading its media. */
  receivedMessage(id: string): ReturnType<Sender['receivedMessage']> {
    return this.sender.receivedMessage(id);
  }

  /** Asks the sender's phone to upload a received file again (see Sender.reuploadReceived). */
  reuploadReceived(id: string): ReturnType<Sender['reuploadReceived']> {
    return this.sender.reuploadReceived(id);
  }

  private requireConnected(): void {
    if (this.status !== 'CONNECTED' || !this.sock) throw new LinkError('not_connected', 'Device is not connected');
  }

  async groups(): Promise<{ id: string; name: string }[]> {
    this.requireConnected();
    const groups = await this.sock!.groupFetchAllParticipating();
    return Object.values(groups).map((g) => ({ id: g.id, name: g.subject }));
  }

  /** Number checks, read receipts, presence, profile pictures and group management (chats.ts). */
  chats(): Chats {
    return this.chatOps;
  }

  /**
   * Raises a webhook's body as a live event for the edge, and queues it for the device's webhook
   * unless the device has nowhere to send it (which is then not worth a write).
   */
  private async webhook(event: Parameters<SessionDeps['webhooks']['enqueue']>[1]): Promise<void> {
    this.deps.emit('webhook', { deviceId: this.id, type: event.type, body: event.payload as Record<string, unknown> });
    if (webhookUrlFor(this.settings, event.type) && this.settings.webhookSecret) await this.deps.webhooks.enqueue(this.id, event);
  }
}

// All devices of this host: created from the edge's settings, restored at start, one Baileys
// socket each, built through an injectable factory (tests point it at the simulator).
import type { UserFacingSocketConfig, WASocket } from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { LinkError, type DeviceSettings, type DeviceState, type EventData, type EventName } from '../link/protocol.ts';
import { hasCreds } from '../store/auth-state.ts';
import type { LinkPreviews } from '../link-preview.ts';
import type { SharedMedia } from '../shared-media.ts';
import type { Store } from '../store/store.ts';
import { DeviceSession, type StoredSettings } from './device-session.ts';
import type { StoreAvailability } from './event-chain.ts';
import type { WebhookEventType } from '../webhooks/queue.ts';
import { webhookUrlFor } from '../webhooks/urls.ts';

export type SocketFactory = (config: Pick<UserFacingSocketConfig, 'auth' | 'logger' | 'getMessage'>) => WASocket;

export interface WebhookSink {
  enqueue(deviceId: string, event: { type: 'message' | 'status' | 'connection' | 'group'; payload: object }): Promise<string>;
}

export interface SessionOptions {
  /** QR codes shown per connect before the device gives up and waits for a new connect. */
  maxQrCodes: number;
  backoff: { baseMs: number; maxMs: number };
  media: { maxBytes: number; timeoutMs: number; allowPrivateNetworks: boolean };
  /**
   * Devices reconnecting at once when the host starts. A reconnect mostly waits on WhatsApp's
   * handshake, so a few dozen at once keep the host busy (300 devices back within seconds)
   * without hundreds of logins hitting WhatsApp in the same moment.
   */
  restoreConcurrency: number;
  /**
   * WhatsApp's acks: a message not acknowledged within `ackTimeoutMs` makes the session ping
   * WhatsApp, and no answer within `probeTimeoutMs` means the connection is dead. A send answers
   * at most `answerDeadlineMs` after it was written; past that its outcome is unknown.
   */
  acks: { ackTimeoutMs: number; probeTimeoutMs: number; answerDeadlineMs: number };
  /** RETENTION_DAYS: how long a sent message's records (outbox claim, copy for retries) live. */
  retentionMs: number;
}

export interface SessionDeps {
  store: Store;
  /** Files downloaded once for all the sends of one request. */
  sharedMedia: SharedMedia;
  /** Link preview cards, made once per URL for a while. */
  linkPreviews: LinkPreviews;
  logger: Logger;
  baileysLogger: Logger;
  socketFactory: SocketFactory;
  webhooks: WebhookSink;
  emit: <E extends EventName>(event: E, data: EventData<E>) => void;
  options: SessionOptions;
  metrics: { messagesSent: number; messagesReceived: number };
  /** Event batches that failed on an unavailable store wait on this before running again. */
  storeHealth: StoreAvailability;
}

/** What a device's status reason says after the store lost its data, by what became of its login. */
const STORE_EMPTIED: Record<'kept' | 'lost' | 'none', string> = {
  kept: "the session host's store lost its data; the login was saved again (no new QR needed), but contacts whose encryption sessions were not in memory renegotiate them",
  lost: "the session host's store lost its data, including this device's login; scan a new QR code to link it again",
  none: "the session host's store lost its data; the device's settings were saved again",
};

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  maxQrCodes: 5,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  media: { maxBytes: 64 * 1024 * 1024, timeoutMs: 30_000, allowPrivateNetworks: false },
  restoreConcurrency: 32,
  acks: { ackTimeoutMs: 3_000, probeTimeoutMs: 3_000, answerDeadlineMs: 10_000 },
  retentionMs: 7 * 86_400_000,
};

export class SessionRegistry {
  private readonly sessions = new Map<string, DeviceSession>();
  private readonly deps: SessionDeps;

  constructor(deps: SessionDeps) {
    this.deps = deps;
  }

  get(id: string): DeviceSession {
    const session = this.sessions.get(id);
    if (!session) throw new LinkError('not_found', `no device ${id} on this host`);
    return session;
  }

  list(): DeviceState[] {
    return [...this.sessions.values()].map((s) => s.state);
  }

  /** Creates the device or updates its settings (name, webhook URL and secret). */
  async upsert(settings: DeviceSettings): Promise<DeviceSession> {
    const existing = this.sessions.get(settings.id);
    if (existing) {
      await existing.saveSettings(settings);
      return existing;
    }
    const session = new DeviceSession({ autoConnect: false, ...settings }, this.deps);
    await session.saveSettings({});
    this.sessions.set(settings.id, session);
    return session;
  }

  async delete(id: string): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    await session.destroy();
    return true;
  }

  /** Where the device's `type` events go now (see webhookUrlFor); undefined: nowhere. */
  webhookTarget(deviceId: string, type: WebhookEventType): { url: string; secret: string } | undefined {
    const settings = this.sessions.get(deviceId)?.settings;
    const url = settings && webhookUrlFor(settings, type);
    return url && settings.webhookSecret ? { url, secret: settings.webhookSecret } : undefined;
  }

  /** The edge's public base URL as the edge last told it for this device (links in webhooks point there). */
  edgeUrlOf(deviceId: string): string | undefined {
    return this.sessions.get(deviceId)?.settings.edgeUrl;
  }

  /** Loads every stored device (settings, counters), without connecting anything yet. */
  async load(): Promise<void> {
    const keys = await this.deps.store.keys('device:');
    const values = await this.deps.store.getMany(keys.filter((k) => k.endsWith(':settings')));
    for (const raw of values) {
      if (!raw) continue;
      const session = new DeviceSession(JSON.parse(raw) as StoredSettings, this.deps);
      await session.load();
      this.sessions.set(session.id, session);
    }
  }

  /**
   * Reconnects the logged-in devices that were meant to be online, a few at a time so a host
   * with many devices does not hit WhatsApp with all of them at once.
   */
  async reconnectAll(): Promise<void> {
    const queue: DeviceSession[] = [];
    for (const session of this.sessions.values()) {
      if (session.settings.autoConnect && (await hasCreds(this.deps.store, session.id))) queue.push(session);
    }
    const worker = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        await s.connect();
        await s.untilSettled(15_000);
      }
    };
    await Promise.all(Array.from({ length: this.deps.options.restoreConcurrency }, worker));
  }

  /**
   * For a store that came back empty: every device writes back what it holds and says so in its
   * status reason (and a `connection` webhook). Returns a summary for the host's health report.
   */
  async rewriteAll(): Promise<string> {
    let keys = 0;
    for (const session of this.sessions.values()) keys += await session.rewriteState((login) => STORE_EMPTIED[login]);
    return `${this.sessions.size} devices' settings and counters, ${keys} login and encryption keys held in memory`;
  }

  shutdown(): void {
    for (const session of this.sessions.values()) session.shutdown();
  }
}

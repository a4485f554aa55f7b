// The session host, wired together: store, webhook queue, device sessions, the link server and
// the HTTP endpoints (/healthz, /metrics, /link). Only /link, /link/challenge and /healthz answer
// without credentials, so the port can face the internet (a tunnel); /metrics takes a Bearer token.
import makeWASocket, { WA_CERT_DETAILS, type UserFacingSocketConfig } from '@whiskeysockets/baileys';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerRefusal } from './bearer.ts';
import type { Config } from './config.ts';
import { EventJournal } from './link/journal.ts';
import { LinkDialer, type DialerOptions } from './link/dialer.ts';
import { LinkServer, type Handlers } from './link/server.ts';
import { LINK_PATHS, LinkError, type EventData, type EventName } from './link/protocol.ts';
import { createLogger, type Logger } from './logger.ts';
import { MediaDownloads, mediaLinker } from './media-download.ts';
import { renderMetrics } from './metrics.ts';
import { LinkPreviews } from './link-preview.ts';
import { SharedMedia } from './shared-media.ts';
import { placeContext } from './sessions/sender.ts';
import { DEFAULT_SESSION_OPTIONS, SessionRegistry, type SessionOptions, type SocketFactory } from './sessions/registry.ts';
import { StoreMonitor } from './store/health.ts';
import { openStore, RedisStore } from './store/index.ts';
import { StoreUnavailableError, type Store } from './store/store.ts';
import { putUploadPiece } from './uploads.ts';
import { HOST_VERSION } from './version.ts';
import { WebhookQueue } from './webhooks/queue.ts';

export interface HostOptions {
  config: Config;
  logger?: Logger;
  /** Builds Baileys sockets (default: `defaultSocketFactory(config)`). */
  socketFactory?: SocketFactory;
  /** An already open store to use instead of the one the config names (left open at stop). */
  store?: Store;
  sessionOptions?: Partial<SessionOptions>;
  /** How many unacknowledged events the link journal keeps (default 10,000). */
  journalMax?: number;
  /** Link challenge lifetime and cap (tests shorten the lifetime). */
  linkChallenges?: { ttlMs?: number; max?: number };
  /** Dial-out timings (keep-alive, backoff), for tests. */
  dialer?: Pick<DialerOptions, 'pingMs' | 'minBackoffMs' | 'maxBackoffMs'>;
  /** Webhook retry timing, in milliseconds (tests shorten it). */
  webhookRetry?: ConstructorParameters<typeof WebhookQueue>[0]['retry'];
}

/** How long a stop waits for the edge's requests in flight (sends waiting for WhatsApp's ack). */
const STOP_REQUESTS_MS = 10_000;

export interface Host {
  url: string;
  server: Server;
  store: Store;
  registry: SessionRegistry;
  webhooks: WebhookQueue;
  link: LinkServer;
  storeHealth: StoreMonitor;
  journal: EventJournal;
  /** Resolves once stored devices have been reconnected (in the background after start). */
  restored: Promise<void>;
  /** Closes sockets without logging devices out, lets webhooks in flight finish, keeps the rest queued. */
  stop(): Promise<void>;
}

/**
 * The production socket factory: WhatsApp itself, or the endpoint WA_WS_URL names. `overrides`
 * adds Baileys options (tests pass a `fetchAgent` trusting the simulator's media certificate).
 */
export function defaultSocketFactory(config: Config, overrides: Partial<UserFacingSocketConfig> = {}): SocketFactory {
  if (config.waWebSocketUrl && config.waRootKey) {
    // A custom endpoint (the simulator) signs its Noise certificates with its own root key.
    WA_CERT_DETAILS.PUBLIC_KEY = config.waRootKey;
  }
  return (socket) =>
    makeWASocket({
      ...socket,
      ...(config.waWebSocketUrl ? { waWebSocketUrl: config.waWebSocketUrl } : {}),
      // A gateway needs no chat history: skipping it saves memory and a 20 s wait at first login.
      shouldSyncHistoryMessage: () => false,
      syncFullHistory: false,
      markOnlineOnConnect: false,
      // Baileys' default (30 s) notices an idle connection's death only after up to 65 s.
      keepAliveIntervalMs: 10_000,
      // A poll's or a view-once message's reply context and mentions, where WhatsApp reads them.
      patchMessageBeforeSending: placeContext,
      ...overrides,
    });
}

export async function startHost(options: HostOptions): Promise<Host> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  // Baileys is chatty at info (it logs every routine 515 as an error, too); at info and warn only
  // its warnings and worse are kept, other levels apply as set.
  const baileysLevel = ['info', 'warn'].includes(config.logLevel) ? 'warn' : config.logLevel;
  const baileysLogger = logger.child({ component: 'baileys' }, { level: baileysLevel });
  const store = options.store ?? (await openStore({ redisUrl: config.redisUrl, dataDir: config.dataDir, expiryResolutionMs: expiryResolution(config.retentionMs) }));

  // Loaded before any device can raise an event, so new entries queue behind the old ones.
  const journal = new EventJournal({ store, logger, max: options.journalMax });
  await journal.load();
  let link: LinkServer | undefined;
  // A live event's body gets what its webhook delivery gets (a signed link to incoming media); in
  // one chain, so they reach the edge in the order they were raised.
  const prepareBody = mediaLinker(config.hostSecret, (deviceId) => config.edgeUrl ?? registry.edgeUrlOf(deviceId));
  let live = Promise.resolve();
  const emit = <E extends EventName>(event: E, data: EventData<E>) => {
    if (event !== 'webhook') return link!.broadcast(event, data);
    const { deviceId, type, body } = data as EventData<'webhook'>;
    live = live
      .then(async () => link!.broadcast('webhook', { deviceId, type, body: (await prepareBody(deviceId, type, body)) as Record<string, unknown> }))
      .catch((error) => logger.warn({ err: error }, 'live event not sent'));
  };
  const metrics = { messagesSent: 0, messagesReceived: 0 };
  let registry!: SessionRegistry;
  let webhooks!: WebhookQueue;
  const storeHealth = new StoreMonitor({
    store,
    backend: store instanceof RedisStore ? 'redis' : 'files',
    logger,
    intervalMs: config.storeCheckMs,
    onEmptied: async () => {
      const devices = await registry.rewriteAll();
      const jobs = await webhooks.rewrite();
      return `written back: ${devices}, ${jobs} webhook jobs; lost: one-time pre-keys, encryption sessions not in memory, messages kept for resends, outbox claims`;
    },
  });
  webhooks = new WebhookQueue({
    store,
    logger,
    target: (deviceId, type) => registry.webhookTarget(deviceId, type),
    allowPrivateNetworks: config.mediaAllowPrivateNetworks,
    retry: { initialDelayMs: config.webhookRetryInitialMs, ...options.webhookRetry },
    historyRetentionMs: options.sessionOptions?.retentionMs ?? config.retentionMs,
    prepare: prepareBody,
  });
  registry = new SessionRegistry({
    store,
    logger,
    baileysLogger,
    socketFactory: options.socketFactory ?? defaultSocketFactory(config),
    webhooks,
    emit,
    metrics,
    storeHealth,
    // Ten minutes covers a request's sends spread by the outbox's delay; 256 MB bounds it.
    sharedMedia: new SharedMedia({ ttlMs: 10 * 60_000, maxBytes: 256 * 1024 * 1024 }),
    // A preview is a nicety: a slow page delays the text by at most this, twice (page, image).
    linkPreviews: new LinkPreviews({ timeoutMs: 3_000, allowPrivateNetworks: config.mediaAllowPrivateNetworks }),
    options: {
      ...DEFAULT_SESSION_OPTIONS,
      media: { maxBytes: config.mediaMaxBytes, timeoutMs: config.mediaTimeoutMs, allowPrivateNetworks: config.mediaAllowPrivateNetworks },
      retentionMs: config.retentionMs,
      ...options.sessionOptions,
    },
  });

  /** A device's chat operations; a device this host does not have is, to a client, not connected (a 404 means the group or chat). */
  const chatsOf = (deviceId: string) => {
    try {
      return registry.get(deviceId).chats();
    } catch (error) {
      if (error instanceof LinkError && error.code === 'not_found') throw new LinkError('not_connected', 'Device is not connected');
      throw error;
    }
  };
  const mediaDownloads = new MediaDownloads({
    lookup: (deviceId, messageId) => registry.get(deviceId).receivedMessage(messageId),
    reupload: (deviceId, messageId) => registry.get(deviceId).reuploadReceived(messageId),
    logger,
  });

  // The link before the devices: events raised while they load are journaled too.
  const handlers: Handlers = {
    'host.status': async () => ({ publicUrl: config.publicUrl ?? null, devices: registry.list(), version: HOST_VERSION }),
    'device.upsert': async (settings) => (await registry.upsert(settings)).state,
    'device.delete': async ({ id }) => ({ deleted: await registry.delete(id) }),
    'device.connect': async ({ id }) => {
      const session = registry.get(id);
      await session.connect();
      return session.untilSettled(10_000);
    },
    'device.pairingCode': async ({ id, phone }) => ({ code: await registry.get(id).pairingCode(phone) }),
    'device.disconnect': async ({ id }) => registry.get(id).disconnect(),
    'device.logout': async ({ id }) => registry.get(id).logout(),
    'message.send': async (params) => {
      // Nothing goes out that could not be recorded: refuse at once, before WhatsApp sees it.
      storeHealth.require();
      return registry.get(params.deviceId).send(params);
    },
    'message.edit': async ({ deviceId, id, text }) => {
      storeHealth.require();
      return registry.get(deviceId).edit(id, text);
    },
    'message.revoke': async ({ deviceId, id }) => {
      storeHealth.require();
      return registry.get(deviceId).revoke(id);
    },
    'groups.list': async ({ deviceId }) => ({ groups: await registry.get(deviceId).groups() }),
    // Chat operations and WhatsApp groups (sessions/chats.ts).
    'chat.checkNumbers': async ({ deviceId, numbers }) => ({ results: await chatsOf(deviceId).checkNumbers(numbers) }),
    'chat.read': async ({ deviceId, ...request }) => ({ read: await chatsOf(deviceId).read(request) }),
    'chat.presence': async ({ deviceId, to, state }) => {
      await chatsOf(deviceId).presence(to, state);
      return { sent: true };
    },
    'chat.profilePicture': async ({ deviceId, jid }) => ({ url: await chatsOf(deviceId).profilePicture(jid) }),
    'group.create': async ({ deviceId, subject, participants }) => chatsOf(deviceId).createGroup(subject, participants),
    'group.get': async ({ deviceId, groupId }) => chatsOf(deviceId).group(groupId),
    'group.update': async ({ deviceId, groupId, ...changes }) => chatsOf(deviceId).updateGroup(groupId, changes),
    'group.participants': async ({ deviceId, groupId, action, participants }) => ({ results: await chatsOf(deviceId).participants(groupId, action, participants) }),
    'group.inviteLink': async ({ deviceId, groupId }) => ({ code: await chatsOf(deviceId).inviteCode(groupId, false) }),
    'group.revokeInvite': async ({ deviceId, groupId }) => ({ code: await chatsOf(deviceId).inviteCode(groupId, true) }),
    'group.join': async ({ deviceId, code }) => ({ id: await chatsOf(deviceId).join(code) }),
    'group.leave': async ({ deviceId, groupId }) => {
      await chatsOf(deviceId).leave(groupId);
      return { left: true };
    },
    'webhook.status': async ({ deviceId, messageId, ...change }) => {
      // Not sent (yet): the only id is the one the API answered.
      await registry.get(deviceId).statusWebhook({ id: messageId, stateid: null, messageId, ...change });
      return { queued: true };
    },
    // Webhook deliveries per device, and retry now (webhooks/deliveries.ts).
    'webhooks.deliveries': async ({ deviceId, limit, status }) => {
      registry.get(deviceId); // not_found for a device this host does not have
      return { deliveries: await webhooks.deliveries(deviceId, { limit, status }) };
    },
    'webhooks.retry': async ({ deviceId, id }) => {
      registry.get(deviceId);
      return webhooks.retryNow(deviceId, id);
    },
    'media.download': (params) => mediaDownloads.chunk(params),
    // A file sent with a request (Fonnte's `file`), piece by piece, before the sends that name it.
    'media.put': async (params) => {
      storeHealth.require();
      registry.get(params.deviceId); // not_found for a device this host does not have
      const retentionMs = options.sessionOptions?.retentionMs ?? config.retentionMs;
      return putUploadPiece(store, params, Date.now() + retentionMs);
    },
  };
  link = new LinkServer({ secret: config.hostSecret, handlers: storeFailuresAsLinkErrors(handlers), logger, publicUrl: config.publicUrl, challenges: options.linkChallenges, journal });
  // Dial-out: the host opens the link itself and takes none on /link (one link, one direction).
  const dialer = config.hostId && config.edgeUrl ? new LinkDialer({ edgeUrl: config.edgeUrl, hostId: config.hostId, secret: config.hostSecret, server: link, logger, ...options.dialer }) : undefined;

  // Devices first: the webhook queue asks the registry where each stored job goes.
  await registry.load();
  await webhooks.start();
  await storeHealth.start();

  const metricsTokens = [config.hostSecret, ...(config.metricsToken ? [config.metricsToken] : [])];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    if (req.method === 'GET' && path === '/healthz') {
      const store = storeHealth.report;
      const up = store.status === 'up';
      const edge = dialer && { dialing: config.edgeUrl, up: dialer.isUp, lastError: dialer.lastError || null };
      const body = { status: !up ? 'down' : store.emptied ? 'degraded' : 'ok', ...(up ? {} : { down: ['store'] }), store, devices: registry.list().length, links: link!.connected, ...(edge && { edge }) };
      res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (req.method === 'GET' && path === LINK_PATHS.challenge && !dialer) {
      // Never cached: each answer is good for one upgrade.
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(link!.challenge()));
    } else if (req.method === 'GET' && path === '/metrics') {
      const refusal = bearerRefusal(req.headers.authorization, metricsTokens);
      if (refusal) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="metrics"' }).end(JSON.stringify({ error: refusal }));
        return;
      }
      const store = { up: storeHealth.up, emptied: storeHealth.emptiedCount };
      const text = renderMetrics({ devices: registry.list(), ...metrics, webhooks: webhooks.stats, linksConnected: link!.connected, store, journal: journal.stats });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found' }));
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://host').pathname === LINK_PATHS.socket && !dialer) link!.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const url = `http://${config.host}:${(server.address() as AddressInfo).port}`;
  logger.info({ url, store: config.redisUrl ? 'redis' : 'files' }, 'session host listening');

  dialer?.start();
  const restored = registry.reconnectAll().catch((error) => logger.error({ err: error }, 'restoring devices failed'));

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Sends in flight get their answer first (WhatsApp's ack), then the sockets close.
      await link!.drain(STOP_REQUESTS_MS);
      logger.info('stopping: closing WhatsApp sockets (devices stay logged in)');
      registry.shutdown();
      mediaDownloads.close();
      storeHealth.stop();
      dialer?.stop();
      link!.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await webhooks.stop();
      await journal.settled();
      if (!options.store) await store.close();
    })());

  return { url, server, store, registry, webhooks, link, storeHealth, journal, restored, stop };
}

/**
 * How late past the retention a record may go (the file store's sweep interval): a hundredth of
 * it, between 0.1 s and an hour (so ~170 expiry buckets for the default week).
 */
export function expiryResolution(retentionMs: number): number {
  return Math.min(3_600_000, Math.max(100, Math.round(retentionMs / 100)));
}

/** Handlers whose store failures reach the edge as `store_unavailable` (a 503), not as a 500. */
function storeFailuresAsLinkErrors(handlers: Handlers): Handlers {
  const wrapped: Record<string, (params: never) => Promise<unknown>> = {};
  for (const [method, handler] of Object.entries(handlers) as [string, (params: never) => Promise<unknown>][]) {
    wrapped[method] = async (params) => {
      try {
        return await handler(params);
      } catch (error) {
        if (error instanceof StoreUnavailableError) throw new LinkError('store_unavailable', error.message);
        throw error;
      }
    };
  }
  return wrapped as Handlers;
}

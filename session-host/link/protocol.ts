// The link between the edge and a session host: an authenticated WebSocket carrying JSON frames.
// Defined once here and imported by both ends; every frame is validated on receipt.
//
// Handshake. Either side dials: the edge dials a host's public URL (`<url>/link`), or a host with
// EDGE_URL and HOST_ID dials the edge (`<edge>/link/<host id>`, accepted by the host's Durable
// Object with the Hibernation API). The steps are the same, with the sides as arguments:
//   1. The dialler asks the acceptor for a challenge: `GET <link path>/challenge` answers
//      `{challenge, expiresInMs}`, 32 random bytes the acceptor keeps for CHALLENGE_TTL_MS, at
//      most MAX_CHALLENGES of them (see `Challenges`).
//   2. The dialler's upgrade request to `/link` carries `x-link-challenge`, `x-link-nonce` (its
//      own random hex) and `x-link-sig` = hex HMAC-SHA256(secret,
//      "wa-gateway-link/2\n<dialler side>\ndial\n<challenge>\n<nonce>"). The acceptor takes the
//      challenge out of its book whatever the outcome (single use), and refuses (401, no upgrade)
//      a challenge it did not issue, one that expired or was used, or a wrong signature.
//   3. The acceptor's first frame is `welcome` with its own nonce and sig = hex HMAC-SHA256(secret,
//      "wa-gateway-link/2\n<acceptor side>\nwelcome\n<challenge>\n<dialler nonce>\n<acceptor nonce>"),
//      so the dialler knows it reached a holder of the secret before it sends anything.
// The secret never crosses the wire. Each proof names the side that makes it and what it is for,
// so no proof can be passed off as another (the host's welcome as the edge's dial, say).
//
// Why a challenge the acceptor issues, rather than a timestamp and a nonce the dialler picks: a
// nonce check needs the acceptor to remember every nonce it saw, and a restart forgets them, so
// a captured handshake opened a link again. A restart forgets challenges too, but that refuses
// every old proof instead. Why a separate GET rather than a challenge frame on the socket: the
// acceptor upgrades nobody before they prove the secret (an unproven socket would hold a
// connection open, and on the edge wake a Durable Object); a plain GET passes Cloudflare Tunnel
// and a Durable Object's fetch alike; and it costs one round trip per (re)connect, which is rare.
//
// After the handshake, events the host journals (see journal.ts) carry a `seq`; the edge applies
// events in order and answers `{ack: seq}` once it has applied everything up to that one.
import { z } from 'zod';

export const LINK_PROTOCOL = 'wa-gateway-link/2';
/** Where a host accepts the edge's link. */
export const LINK_PATHS = { socket: '/link', challenge: '/link/challenge' } as const;
/** Where the edge accepts a host that dials it. */
export const edgeLinkPaths = (hostId: string) => {
  const socket = `/link/${encodeURIComponent(hostId)}`;
  return { socket, challenge: `${socket}/challenge` };
};
/** Host ids as the edge names them (`default`, `host_…`); also what HOST_ID accepts. */
export const hostIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * The dialling host's keep-alive: it sends this text frame and the edge answers PONG without
 * waking its Durable Object (a WebSocket auto-response), so an idle link costs the edge nothing.
 */
export const PING = 'ping';
export const PONG = 'pong';
export const LINK_HEADERS = { challenge: 'x-link-challenge', nonce: 'x-link-nonce', signature: 'x-link-sig' } as const;
/** Long enough for the dialler's next request (one round trip), short enough to be useless later. */
export const CHALLENGE_TTL_MS = 10_000;
/** Challenges waiting at once; one dialler needs one, so this only bounds a flood of GETs. */
export const MAX_CHALLENGES = 256;

/** The two ends of a link: the side that proves something names itself in the proof. */
export type LinkSide = 'edge' | 'host';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits');
export const challengeReply = z.object({ challenge: hex64, expiresInMs: z.number().int().positive() });
export type ChallengeReply = z.infer<typeof challengeReply>;

export const dialProofMessage = (dialler: LinkSide, challenge: string, nonce: string) => `${LINK_PROTOCOL}\n${dialler}\ndial\n${challenge}\n${nonce}`;
export const welcomeProofMessage = (acceptor: LinkSide, challenge: string, diallerNonce: string, acceptorNonce: string) =>
  `${LINK_PROTOCOL}\n${acceptor}\nwelcome\n${challenge}\n${diallerNonce}\n${acceptorNonce}`;

/**
 * The acceptor's outstanding challenges, in memory on purpose: one is good for a single upgrade
 * within `ttlMs`, and none survives a restart. Bounded by `max`: when full, issuing a new one
 * forgets the oldest. The alternative, refusing new ones, would let anyone who sends `max` GETs
 * per `ttlMs` lock the real dialler out; evicting means a flood must outpace the dialler's own
 * round trip between its GET and its upgrade, and then it only makes that dial fail and retry.
 */
export class Challenges {
  private readonly issued = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? CHALLENGE_TTL_MS;
    this.max = options.max ?? MAX_CHALLENGES;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.issued.size;
  }

  issue(): ChallengeReply {
    const now = this.now();
    // Insertion order is expiry order: expired ones are all at the front.
    for (const [challenge, expires] of this.issued) {
      if (expires > now && this.issued.size < this.max) break;
      this.issued.delete(challenge);
    }
    const challenge = randomHex(32);
    this.issued.set(challenge, now + this.ttlMs);
    return { challenge, expiresInMs: this.ttlMs };
  }

  /** Consumes a challenge: 'ok' only the first time, and only before it expires. */
  take(challenge: string): 'ok' | 'expired' | 'unknown' {
    const expires = this.issued.get(challenge);
    if (expires === undefined) return 'unknown';
    this.issued.delete(challenge);
    return expires > this.now() ? 'ok' : 'expired';
  }
}

// Web Crypto, which Node and the Workers runtime both have, so both sides run the same code.
const encoder = new TextEncoder();
export const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const randomHex = (bytes: number) => toHex(crypto.getRandomValues(new Uint8Array(bytes)));

export async function hmac(secret: string, message: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
}

/** Compares an HMAC with a hex signature in time that depends on neither's content. */
export function sameMac(mac: Uint8Array, hex: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(hex) || mac.length !== 32) return false;
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= mac[i]! ^ Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return diff === 0;
}

/** The dialler's upgrade headers over a challenge the acceptor issued; keep `nonce` to check the welcome. */
export async function dialHeaders(secret: string, dialler: LinkSide, challenge: string): Promise<{ headers: Record<string, string>; nonce: string }> {
  const nonce = randomHex(16);
  const sig = toHex(await hmac(secret, dialProofMessage(dialler, challenge, nonce)));
  return { headers: { [LINK_HEADERS.challenge]: challenge, [LINK_HEADERS.nonce]: nonce, [LINK_HEADERS.signature]: sig }, nonce };
}

export type DialCheck = { ok: true; challenge: string; nonce: string } | { ok: false; reason: string };

/**
 * The acceptor's check of an upgrade request; `header` reads one request header. The reason of
 * a refusal names what was wrong and never repeats what the dialler sent, so it is safe to log.
 */
export async function checkDial(secret: string, dialler: LinkSide, challenges: Challenges, header: (name: string) => string | null | undefined): Promise<DialCheck> {
  const challenge = header(LINK_HEADERS.challenge);
  const nonce = header(LINK_HEADERS.nonce);
  const sig = header(LINK_HEADERS.signature);
  if (!challenge || !nonce || !sig) return { ok: false, reason: 'missing link authentication headers' };
  if (!/^[0-9a-f]{64}$/.test(challenge) || !/^[0-9a-f]{16,128}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: 'malformed link authentication headers' };
  const taken = challenges.take(challenge);
  if (taken === 'unknown') return { ok: false, reason: 'unknown challenge (never issued here, already used, or issued before a restart)' };
  if (taken === 'expired') return { ok: false, reason: 'expired challenge' };
  if (!sameMac(await hmac(secret, dialProofMessage(dialler, challenge, nonce)), sig)) return { ok: false, reason: 'bad signature' };
  return { ok: true, challenge, nonce };
}

/** The acceptor's first frame, proving it holds the secret too. */
export async function welcomeFor(secret: string, acceptor: LinkSide, challenge: string, diallerNonce: string, publicUrl: string | null): Promise<WelcomeFrame> {
  const nonce = randomHex(16);
  const sig = toHex(await hmac(secret, welcomeProofMessage(acceptor, challenge, diallerNonce, nonce)));
  return { type: 'welcome', nonce, sig, publicUrl };
}

/** The dialler's check of the acceptor's first frame; the parsed welcome when it holds. */
export async function checkWelcome(secret: string, acceptor: LinkSide, challenge: string, diallerNonce: string, frame: unknown): Promise<WelcomeFrame | undefined> {
  const parsed = welcomeFrame.safeParse(frame);
  if (!parsed.success || !/^[0-9a-f]{16,128}$/.test(parsed.data.nonce)) return undefined;
  const mac = await hmac(secret, welcomeProofMessage(acceptor, challenge, diallerNonce, parsed.data.nonce));
  return sameMac(mac, parsed.data.sig) ? parsed.data : undefined;
}

// ───────────── shared shapes ─────────────

export const deviceStatus = z.enum(['DISCONNECTED', 'CONNECTING', 'QR', 'CONNECTED', 'LOGGED_OUT']);
export type DeviceStatus = z.infer<typeof deviceStatus>;

/** A device as the host reports it (the seed's `/api/status` fields that the host knows). */
export const deviceState = z.object({
  id: z.string(),
  status: deviceStatus,
  qr: z.string().nullable(),
  phoneNumber: z.string().nullable(),
  pushName: z.string().nullable(),
  totalMessagesSent: z.number().int().nonnegative(),
  /** Why the device is not connected, when that is worth telling (e.g. "QR not scanned in time"). */
  reason: z.string().nullable(),
});
export type DeviceState = z.infer<typeof deviceState>;

const deviceId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'device ids are 1-64 letters, digits, _ or -');

export const deviceSettings = z.object({
  id: deviceId,
  name: z.string().max(100).optional(),
  webhookUrl: z.string().url().or(z.literal('')).optional(),
  /** Message statuses and device status changes: null (or absent) goes to webhookUrl, "" sends none. */
  statusWebhookUrl: z.string().url().or(z.literal('')).nullable().optional(),
  connectionWebhookUrl: z.string().url().or(z.literal('')).nullable().optional(),
  webhookSecret: z.string().min(16).optional(),
  /** The edge's public base URL, for links in webhooks (incoming media); the host's EDGE_URL wins. */
  edgeUrl: z.string().url().optional(),
});
export type DeviceSettings = z.infer<typeof deviceSettings>;

export const mediaType = z.enum(['image', 'video', 'document', 'audio', 'voice', 'sticker']);
export type MediaType = z.infer<typeof mediaType>;

/** A recipient as WhatsApp addresses it: `<digits>@s.whatsapp.net` or a group `<id>@g.us`. */
export const recipientJid = z.string().regex(/^(\d{5,20}@s\.whatsapp\.net|[\d-]{5,40}@g\.us)$/, 'a WhatsApp JID (digits@s.whatsapp.net or id@g.us)');

// ───────────── uploads (a file the client sent with its request) ─────────────

/** Fonnte's limit for a `file` part: "file size must under 4MB". */
export const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
/** An upload crosses the link in pieces this size (as downloads do), so no frame gets large. */
export const UPLOAD_CHUNK_BYTES = 256 * 1024;
export const uploadId = z.string().regex(/^up_[0-9a-f]{32}$/, 'an upload id (up_ + 32 hex digits)');

export const sendParams = z.object({
  deviceId,
  to: recipientJid,
  /** Sent from the edge's outbox: the API answered with `outboxId`, so status webhooks name the message by it. */
  queued: z.boolean().optional(),
  text: z.string().max(65_536).optional(),
  media: z
    .object({
      type: mediaType,
      url: z.string().url().optional(),
      /** Instead of `url`: a file the edge put on this host with `media.put`. */
      upload: uploadId.optional(),
      fileName: z.string().max(255).optional(),
      /** Sends of one request carry the same key: the host downloads the file once for all of them. */
      shared: z.string().max(100).optional(),
      /** An image or video the recipient can open once. */
      viewOnce: z.boolean().optional(),
    })
    .refine((m) => (m.url === undefined) !== (m.upload === undefined), 'either url or upload, not both')
    .optional(),
  /** A pin on the map instead of a text. */
  location: z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180), name: z.string().max(256).optional(), address: z.string().max(1024).optional() }).optional(),
  /** Contact cards (vCards) instead of a text. */
  contacts: z
    .array(z.object({ name: z.string().min(1).max(256), phone: z.string().regex(/^\d{5,20}$/), organization: z.string().max(256).optional() }))
    .min(1)
    .max(20)
    .optional(),
  /** A poll instead of a text: `multiple` lets a voter pick more than one option. */
  poll: z.object({ name: z.string().min(1).max(255), options: z.array(z.string().min(1).max(100)).min(2).max(12), multiple: z.boolean() }).optional(),
  /** A reaction to a message this device sent or received (an empty emoji takes it back). */
  reaction: z.object({ messageId: z.string().min(1).max(128), emoji: z.string().max(32) }).optional(),
  /** Sent as a reply to this message (one this device sent or received). */
  quotedId: z.string().min(1).max(128).optional(),
  /** Numbers shown as @mentions (in groups they notify). */
  mentions: z
    .array(z.string().regex(/^\d{5,20}$/))
    .max(256)
    .optional(),
  /** A URL in the text gets WhatsApp's preview card (title, description, thumbnail) unless false. */
  linkPreview: z.boolean().optional(),
  /** The edge's id for this send: the host never sends the same outbox id twice. */
  outboxId: z.string().max(100).optional(),
  /** Show "typing…" for this long before sending. */
  typingMs: z.number().int().min(0).max(30_000).optional(),
});
export type SendParams = z.infer<typeof sendParams>;

export const sendResult = z.object({ id: z.string(), timestamp: z.number().int(), to: z.string() });
export type SendResult = z.infer<typeof sendResult>;

export const waGroup = z.object({ id: z.string(), name: z.string() });

// ───────────── chat operations and WhatsApp groups ─────────────

/** A person's WhatsApp address: `<digits>@s.whatsapp.net`. */
const personJid = z.string().regex(/^\d{5,20}@s\.whatsapp\.net$/, 'a phone JID (digits@s.whatsapp.net)');
const groupJid = z.string().regex(/^[\d-]{5,40}@g\.us$/, 'a group JID (id@g.us)');
const groupRef = z.object({ deviceId, groupId: groupJid });

export const presenceState = z.enum(['composing', 'recording', 'paused', 'available', 'unavailable']);
export const groupRole = z.enum(['superadmin', 'admin', 'member']);
export const groupAction = z.enum(['add', 'remove', 'promote', 'demote']);

/** A WhatsApp group as the device sees it; numbers are digits with country code. */
export const waGroupInfo = z.object({
  id: z.string(),
  subject: z.string(),
  description: z.string().nullable(),
  /** The creator's number, when WhatsApp tells it. */
  owner: z.string().nullable(),
  /** Unix seconds. */
  creation: z.number().int().nullable(),
  /** `number` is null for a member WhatsApp shows only by LID (a hidden number). */
  participants: z.array(z.object({ number: z.string().nullable(), lid: z.string().nullable(), role: groupRole })),
});
export type WaGroupInfo = z.infer<typeof waGroupInfo>;

export const numberCheck = z.object({ number: z.string(), exists: z.boolean(), jid: z.string().nullable(), lid: z.string().nullable() });
export type NumberCheck = z.infer<typeof numberCheck>;

const chatMethods = {
  /** Which numbers are on WhatsApp; each answer is cached on the host for a day. */
  'chat.checkNumbers': {
    params: z.object({
      deviceId,
      numbers: z
        .array(z.string().regex(/^\d{5,20}$/))
        .min(1)
        .max(50),
    }),
    result: z.object({ results: z.array(numberCheck) }),
  },
  /** Blue ticks for messages this device received (within the retention). */
  'chat.read': { params: z.object({ deviceId, chat: recipientJid, messageIds: z.array(z.string().min(1).max(128)).min(1).max(100) }), result: z.object({ read: z.number().int() }) },
  'chat.presence': { params: z.object({ deviceId, to: recipientJid, state: presenceState }), result: z.object({ sent: z.boolean() }) },
  /** Null when there is none, or its owner hides it. */
  'chat.profilePicture': { params: z.object({ deviceId, jid: recipientJid }), result: z.object({ url: z.string().nullable() }) },
  'group.create': { params: z.object({ deviceId, subject: z.string().min(1).max(100), participants: z.array(personJid).min(1).max(1024) }), result: waGroupInfo },
  'group.get': { params: groupRef, result: waGroupInfo },
  'group.update': { params: groupRef.extend({ subject: z.string().min(1).max(100).optional(), description: z.string().max(2048).optional() }), result: waGroupInfo },
  /** WhatsApp answers per participant: 200 done, else its code (403, 404, 408, 409 …). */
  'group.participants': {
    params: groupRef.extend({ action: groupAction, participants: z.array(personJid).min(1).max(1024) }),
    result: z.object({ results: z.array(z.object({ number: z.string(), status: z.number().int() })) }),
  },
  'group.inviteLink': { params: groupRef, result: z.object({ code: z.string() }) },
  'group.revokeInvite': { params: groupRef, result: z.object({ code: z.string() }) },
  'group.join': { params: z.object({ deviceId, code: z.string().regex(/^[A-Za-z0-9_-]{6,64}$/) }), result: z.object({ id: z.string() }) },
  'group.leave': { params: groupRef, result: z.object({ left: z.boolean() }) },
} as const;

// ───────────── webhook deliveries (issue #14, part 5) ─────────────

/** One webhook of a device as people see it (session-host/webhooks/deliveries.ts); times in ms since the epoch. */
export const webhookDelivery = z.object({
  id: z.string(),
  event: z.string(),
  url: z.string().nullable(),
  status: z.enum(['pending', 'failed', 'delivered', 'dropped']),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  attempts: z.number().int(),
  createdAt: z.number(),
  lastAttemptAt: z.number().nullable(),
  nextAttemptAt: z.number().nullable(),
  deliveredAt: z.number().nullable(),
  messageId: z.string().nullable(),
  retryable: z.boolean(),
});
export type WebhookDelivery = z.infer<typeof webhookDelivery>;
export const webhookDeliveryFilter = z.enum(['pending', 'failed', 'delivered']);

const webhookDeliveryMethods = {
  /** The device's recent webhooks, newest first. */
  'webhooks.deliveries': {
    params: z.object({ deviceId, limit: z.number().int().min(1).max(200).optional(), status: webhookDeliveryFilter.optional() }),
    result: z.object({ deliveries: z.array(webhookDelivery) }),
  },
  /** A queued webhook's next attempt made due now (one given up: queued again, once); its state after. */
  'webhooks.retry': { params: z.object({ deviceId, id: z.string().min(1).max(100) }), result: webhookDelivery },
} as const;

// ───────────── requests: method → params and result ─────────────

export const methods = {
  // `version`: the host's package version (absent from hosts older than it).
  'host.status': { params: z.object({}), result: z.object({ publicUrl: z.string().nullable(), devices: z.array(deviceState), version: z.string().max(64).optional() }) },
  'device.upsert': { params: deviceSettings, result: deviceState },
  'device.delete': { params: z.object({ id: deviceId }), result: z.object({ deleted: z.boolean() }) },
  'device.connect': { params: z.object({ id: deviceId }), result: deviceState },
  'device.pairingCode': { params: z.object({ id: deviceId, phone: z.string().regex(/^\d{6,15}$/, 'digits only, with country code') }), result: z.object({ code: z.string() }) },
  'device.disconnect': { params: z.object({ id: deviceId }), result: deviceState },
  'device.logout': { params: z.object({ id: deviceId }), result: deviceState },
  'message.send': { params: sendParams, result: sendResult },
  // Changes to a message this device sent (`id`: its WhatsApp id); the result is the change's own message.
  'message.edit': { params: z.object({ deviceId, id: z.string().min(1).max(128), text: z.string().min(1).max(65_536) }), result: sendResult },
  'message.revoke': { params: z.object({ deviceId, id: z.string().min(1).max(128) }), result: sendResult },
  'groups.list': { params: z.object({ deviceId }), result: z.object({ groups: z.array(waGroup) }) },
  ...chatMethods,
  /** A status change only the edge sees (queued, failed before sending, cancelled), for the device's webhook. */
  'webhook.status': {
    params: z.object({ deviceId, messageId: z.string(), to: z.string(), status: z.enum(['queued', 'failed']), reason: z.string().nullable(), timestamp: z.number().int() }),
    result: z.object({ queued: z.boolean() }),
  },
  /**
   * Part of an incoming media file, decrypted: `length` bytes from `offset` (fewer at the end).
   * `total` is the whole file's size (null when WhatsApp did not say); `data` is base64.
   */
  'media.download': {
    params: z.object({
      deviceId,
      messageId: z.string().min(1).max(128),
      offset: z.number().int().nonnegative(),
      length: z
        .number()
        .int()
        .positive()
        .max(512 * 1024),
    }),
    result: z.object({ total: z.number().int().nonnegative().nullable(), mimetype: z.string(), fileName: z.string().nullable(), data: z.string() }),
  },
  /**
   * Part of a file the edge received with a send request, `data` (base64) at `offset` of a file of
   * `total` bytes; every piece but the last is UPLOAD_CHUNK_BYTES. Sends name it by `upload`.
   */
  'media.put': {
    params: z.object({
      deviceId,
      upload: uploadId,
      offset: z.number().int().nonnegative().multipleOf(UPLOAD_CHUNK_BYTES),
      total: z.number().int().positive().max(MAX_UPLOAD_BYTES),
      data: z
        .string()
        .max(Math.ceil(UPLOAD_CHUNK_BYTES / 3) * 4)
        .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
      mimetype: z.string().min(1).max(255),
      fileName: z.string().min(1).max(255),
    }),
    result: z.object({ stored: z.number().int().nonnegative() }),
  },
  ...webhookDeliveryMethods,
} as const;

export type Method = keyof typeof methods;
export type Params<M extends Method> = z.infer<(typeof methods)[M]['params']>;
export type Result<M extends Method> = z.infer<(typeof methods)[M]['result']>;

// ───────────── events: host → edge ─────────────

export const messageStatus = z.enum(['sent', 'delivered', 'read', 'played', 'failed']);
export type MessageStatus = z.infer<typeof messageStatus>;

export const events = {
  'device.status': deviceState,
  'message.status': z.object({ deviceId: z.string(), id: z.string(), outboxId: z.string().optional(), to: z.string(), status: messageStatus, timestamp: z.number().int() }),
  'message.incoming': z.object({
    deviceId: z.string(),
    id: z.string(),
    from: z.string(),
    chat: z.string(),
    type: z.string(),
    text: z.string(),
    timestamp: z.number().int(),
    // ── the inbox (#14): what the edge keeps of a received message. Optional, so an older host's events still validate.
    /** Who wrote, in a group (a number, or a LID); absent in a private chat, where it is `from`. */
    author: z.string().max(128).optional(),
    /** The sender's WhatsApp name (push name). */
    name: z.string().max(256).optional(),
    /** Written by the account itself, from its phone. */
    fromMe: z.boolean().optional(),
    quotedId: z.string().max(128).nullable().optional(),
    mentions: z.array(z.string().max(128)).max(256).optional(),
    /** An attachment's description (the bytes stay with WhatsApp: GET /api/media fetches them). */
    media: z.object({ mimetype: z.string().nullable(), fileName: z.string().nullable(), size: z.number().nullable(), seconds: z.number().nullable(), ptt: z.boolean() }).nullable().optional(),
    /** Per type, the webhook's structured description: `place`, `contacts`, `poll`, `vote`, `reaction`, `edit` or `revoke`. */
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  // Live events (GET /api/events): every webhook body as the device's webhook gets it (`type`:
  // message, status, connection, group), raised whether or not the device has a webhook URL.
  // Not journaled: a live stream shows what happens now; the webhooks are what must not be lost.
  webhook: z.object({ deviceId: z.string(), type: z.string(), body: z.record(z.string(), z.unknown()) }),
} as const;

export type EventName = keyof typeof events;
export type EventData<E extends EventName> = z.infer<(typeof events)[E]>;

// ───────────── frames ─────────────

/**
 * Error codes a request can fail with; the edge maps them to HTTP statuses. `store_unavailable`:
 * the host's store (Redis) is down, so the host refused before doing anything; safe to retry.
 * `forbidden`: WhatsApp refused for lack of a right (not a group admin, not in the group).
 */
export const errorCode = z.enum(['bad_request', 'not_found', 'not_connected', 'media_error', 'send_failed', 'timeout', 'host_offline', 'store_unavailable', 'internal', 'forbidden']);
export type ErrorCode = z.infer<typeof errorCode>;

export const requestFrame = z.object({ id: z.string().min(1).max(100), method: z.string(), params: z.unknown() });
export const replyFrame = z.union([
  z.object({ id: z.string(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.string(), ok: z.literal(false), error: z.object({ code: errorCode, message: z.string() }) }),
]);
/** `seq` is set on journaled events (see journal.ts): the edge acknowledges it once applied. */
export const eventFrame = z.object({ event: z.string(), data: z.unknown(), seq: z.number().int().nonnegative().optional() });
/** Edge → host: every journaled event up to `ack` has been applied. */
export const ackFrame = z.object({ ack: z.number().int().nonnegative() });
export const welcomeFrame = z.object({ type: z.literal('welcome'), nonce: z.string(), sig: z.string(), publicUrl: z.string().nullable() });

export type RequestFrame = z.infer<typeof requestFrame>;
export type ReplyFrame = z.infer<typeof replyFrame>;
export type EventFrame = z.infer<typeof eventFrame>;
export type AckFrame = z.infer<typeof ackFrame>;
export type WelcomeFrame = z.infer<typeof welcomeFrame>;

/** A typed failure that crosses the link: thrown on one side, rebuilt from `{code, message}` on the other. */
export class LinkError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'LinkError';
    this.code = code;
  }
}

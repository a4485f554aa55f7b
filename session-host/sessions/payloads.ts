// Webhook payloads. A Fonnte receiver finds every field Fonnte sends, filled as Fonnte fills them
// (`device`, `sender`, `member`, `message`, `text`, `location`, `pollname`, `choices`, `url`,
// `inboxid`, `isgroup`…, and the Indonesian aliases `pesan`/`pengirim`); what Fonnte lacks is
// added beside them: the message type, media details, the sender's JID and LID, and per type a
// structured description (a place, a poll's options, the message a reaction or an edit is about…).
import { getContentType, jidDecode, normalizeMessageContent, proto, type WAMessage } from '@whiskeysockets/baileys';
import type { DeviceState, MessageStatus } from '../link/protocol.ts';
import { extensionOfMime } from '../media.ts';
import { type Poll, pollOf } from './polls.ts';

export type MediaType = 'image' | 'video' | 'audio' | 'voice' | 'document' | 'sticker';
export type IncomingType = 'text' | MediaType | 'location' | 'contact' | 'reaction' | 'poll' | 'poll_vote' | 'edit' | 'revoke' | 'other';

export interface IncomingMedia {
  mimetype: string | null;
  fileName: string | null;
  size: number | null;
  sha256: string | null;
  /** Length of audio and video. */
  seconds: number | null;
  /** A voice note (push to talk) rather than an audio file. */
  ptt: boolean;
  /** A signed link on the edge that downloads the file (null when the edge's URL is unknown); set at delivery. */
  url: string | null;
}

interface IncomingBase {
  event: 'message';
  device: string | null;
  deviceId: string;
  id: string;
  /**
   * Where to answer: in a group its id (`…@g.us`), else the sender's phone number (a LID's digits
   * only when WhatsApp hides the number and the device never learned it).
   */
  sender: string;
  /** Fonnte's alias of `sender`. */
  pengirim: string;
  senderJid: string;
  senderLid: string | null;
  chat: string;
  isGroup: boolean;
  /** Fonnte's spelling of `isGroup`. */
  isgroup: boolean;
  /** In a group, who wrote: a phone number (or LID); "" in a private chat. */
  member: string;
  name: string;
  /** What a person reads: the text or caption, an emoji, a place or poll name, chosen options, an edit's new text. */
  message: string;
  /** Fonnte's alias of `message`. */
  pesan: string;
  /** Fonnte's: the chosen button's or list row's text in a reply to one, else "non-button message". */
  text: string;
  /** Fonnte's "lat,long" of a location; "" for other messages. */
  location: string;
  /** Fonnte's poll vote fields: the poll's name and the chosen options ("" and [] for other messages). */
  pollname: string;
  choices: string[];
  media: IncomingMedia | null;
  /** Fonnte's field for an attachment's link: the same as `media.url`; "" without media (or without a known edge URL). */
  url: string;
  /** The attachment's file name (its own, else `<id>.<extension>`) and extension; "" without media. */
  filename: string;
  extension: string;
  /** WhatsApp's message id, as `/send`'s `inboxid` takes it to quote this message. */
  inboxid: string;
  isforwarded: boolean;
  /** Fonnte's quick-reply flag: the gateway has no quick replies. */
  quick: false;
  /** The message this one replies to. */
  quotedId: string | null;
  /** Numbers (or LIDs, when WhatsApp hides the number) @mentioned in the message. */
  mentions: string[];
  /** Sent "view once": the recipient's app shows it a single time. */
  viewOnce: boolean;
  timestamp: number;
}

export interface IncomingLocation {
  latitude: number;
  longitude: number;
  name: string | null;
  address: string | null;
}

export interface IncomingContact {
  name: string;
  /** The card's phone numbers, digits only (WhatsApp's `waid` when the card has one). */
  numbers: string[];
}

export interface IncomingVote {
  /** The poll voted on. */
  pollId: string;
  pollName: string | null;
  voter: string;
  /** The chosen options' names ([] when the vote was withdrawn); null when this device does not
   * have the poll (not sent or received by it, or older than the retention) and cannot read the vote. */
  options: string[] | null;
}

export type IncomingPayload = IncomingBase &
  (
    | { type: 'text' | 'other' }
    | { type: MediaType; media: IncomingMedia }
    | { type: 'location'; place: IncomingLocation }
    | { type: 'contact'; contacts: IncomingContact[] }
    | { type: 'poll'; poll: Poll }
    | { type: 'poll_vote'; vote: IncomingVote }
    /** `emoji` is empty when the reaction was removed. */
    | { type: 'reaction'; reaction: { emoji: string; messageId: string } }
    | { type: 'edit'; edit: { messageId: string; text: string } }
    /** Deleted for everyone. */
    | { type: 'revoke'; revoke: { messageId: string } }
  );

export type GroupAction = 'add' | 'remove' | 'promote' | 'demote' | 'subject' | 'description';

interface GroupBase {
  event: 'group';
  device: string | null;
  deviceId: string;
  /** WhatsApp's id of the notification (the same on a re-offer). */
  id: string;
  /** The group's id, `…@g.us`, as send routes take it. */
  group: string;
  /** Who made the change: a number (or LID), null when WhatsApp does not say. */
  author: string | null;
  timestamp: number;
}

export type GroupPayload = GroupBase &
  /** A participant who removed themselves left the group. */
  ({ action: 'add' | 'remove' | 'promote' | 'demote'; participants: string[] } | { action: 'subject'; subject: string } | { action: 'description'; description: string | null });

/**
 * Fonnte's `status` of a message: "pending" while it waits to be sent, "sent" from then on (its
 * delivery moves on in `state`), "failed" when it could not be sent.
 */
export type FonnteStatus = 'pending' | 'sent' | 'failed';
export type DeliveryState = MessageStatus | 'queued';

const FONNTE_STATUS: Record<DeliveryState, FonnteStatus> = { queued: 'pending', sent: 'sent', delivered: 'sent', read: 'sent', played: 'sent', failed: 'failed' };

/** A status change of a message, as the sender (or the edge, for what only it sees) reports it. */
export interface StatusChange {
  /** The id the API answered the send with (see StatusPayload.id). */
  id: string;
  /** WhatsApp's id; null until the message is sent. */
  stateid: string | null;
  messageId: string | null;
  to: string;
  status: DeliveryState;
  reason: string | null;
  timestamp: number;
}

export interface StatusPayload {
  event: 'status';
  device: string | null;
  deviceId: string;
  /**
   * The id the API answered the send with, so a Fonnte receiver's `UPDATE … WHERE id = $id` finds
   * it: the log id (`msg_…`) for a queued send, WhatsApp's id for one sent at once.
   */
  id: string;
  /** WhatsApp's message id; null until the message is sent (queued, or failed before sending). */
  stateid: string | null;
  /** The gateway's log id of messages sent through the API (null for others). */
  messageId: string | null;
  /** Fonnte's word (see FonnteStatus). */
  status: FonnteStatus;
  /** Where the message is: queued, sent, delivered, read, played or failed. */
  state: DeliveryState;
  to: string;
  reason: string | null;
  timestamp: number;
}

export function statusPayload(deviceId: string, devicePhone: string | null, change: StatusChange): StatusPayload {
  return { event: 'status', device: devicePhone, deviceId, ...change, status: FONNTE_STATUS[change.status], state: change.status };
}

/**
 * A device's connection changed. Fonnte's body also has the device's `token`: it cannot be given,
 * since the gateway keeps only a hash of each key.
 */
export interface ConnectionPayload {
  event: 'connection';
  device: string | null;
  deviceId: string;
  /** Fonnte's word: "connect" once connected, "disconnect" for any way of losing it (logged out too). */
  status: 'connect' | 'disconnect';
  /** The gateway's: CONNECTED, DISCONNECTED or LOGGED_OUT. */
  state: DeviceState['status'];
  reason: string | null;
  timestamp: number;
}

export function connectionPayload(deviceId: string, devicePhone: string | null, state: DeviceState['status'], reason: string | null): ConnectionPayload {
  const status = state === 'CONNECTED' ? 'connect' : 'disconnect';
  return { event: 'connection', device: devicePhone, deviceId, status, state, reason, timestamp: Math.floor(Date.now() / 1000) };
}

const user = (jid: string | null | undefined) => (jid ? (jidDecode(jid)?.user ?? null) : null);

const TYPES: Record<string, IncomingType> = {
  conversation: 'text',
  extendedTextMessage: 'text',
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
  locationMessage: 'location',
  liveLocationMessage: 'location',
  contactMessage: 'contact',
  contactsArrayMessage: 'contact',
  reactionMessage: 'reaction',
  pollCreationMessage: 'poll',
  pollCreationMessageV2: 'poll',
  pollCreationMessageV3: 'poll',
  pollUpdateMessage: 'poll_vote',
};

const { REVOKE, MESSAGE_EDIT } = proto.Message.ProtocolMessage.Type;
/** Protocol messages a person caused: the rest (key shares, history sync, settings) are the apps talking. */
const PERSON_PROTOCOL: Partial<Record<number, IncomingType>> = { [REVOKE]: 'revoke', [MESSAGE_EDIT]: 'edit' };

type AnyMedia = proto.Message.IImageMessage & proto.Message.IDocumentMessage & proto.Message.IAudioMessage;

/** Whether an upserted message is something a person sent (not a key share or the apps' own bookkeeping). */
export function isUserMessage(message: WAMessage): boolean {
  const content = normalizeMessageContent(message.message);
  const type = content && getContentType(content);
  if (!type || type === 'senderKeyDistributionMessage' || message.key.remoteJid === 'status@broadcast') return false;
  return type !== 'protocolMessage' || PERSON_PROTOCOL[content.protocolMessage?.type ?? -1] !== undefined;
}

/** The text of a message: plain, extended, or a caption. */
function textOf(content: proto.IMessage | null | undefined): string {
  const media = content?.imageMessage ?? content?.videoMessage ?? content?.documentMessage;
  return content?.conversation ?? content?.extendedTextMessage?.text ?? media?.caption ?? '';
}

/** View once arrives wrapped (possibly inside a disappearing-message wrapper), its media flagged. */
function isViewOnce(message: proto.IMessage | null | undefined, media: AnyMedia | undefined): boolean {
  const inner = message?.ephemeralMessage?.message;
  const wrapped = (m: proto.IMessage | null | undefined) => !!(m?.viewOnceMessage ?? m?.viewOnceMessageV2 ?? m?.viewOnceMessageV2Extension);
  return wrapped(message) || wrapped(inner) || (media as proto.Message.IImageMessage | undefined)?.viewOnce === true;
}

/** A contact card: its name, and the numbers of its TEL lines (WhatsApp's `waid` parameter when there). */
function contactOf(card: proto.Message.IContactMessage): IncomingContact {
  const vcard = (card.vcard ?? '').replace(/\r?\n[ \t]/g, ''); // unfold continuation lines
  const numbers = [...vcard.matchAll(/^(?:[\w-]+\.)?TEL([^:\r\n]*):([^\r\n]*)$/gim)].map(([, params, value]) => /waid=(\d+)/i.exec(params ?? '')?.[1] ?? (value ?? '').replace(/\D/g, ''));
  const fullName = /^FN[^:\r\n]*:([^\r\n]*)$/im.exec(vcard)?.[1];
  return { name: card.displayName || fullName || '', numbers: numbers.filter((n) => n) };
}

/** What the type adds to the payload, and the `message` text a person reads for it. */
function detailsOf(type: IncomingType, content: proto.IMessage, vote: DecryptedVote | undefined, voter: string): { text: string; fields: object } {
  const location = content.locationMessage ?? content.liveLocationMessage;
  if (type === 'location' && location) {
    const name = content.locationMessage?.name ?? content.liveLocationMessage?.caption ?? null;
    const place = { latitude: location.degreesLatitude ?? 0, longitude: location.degreesLongitude ?? 0, name, address: content.locationMessage?.address ?? null };
    // `location` is Fonnte's "lat,long"; `place` says it all.
    const coordinates = `${place.latitude},${place.longitude}`;
    return { text: name ?? coordinates, fields: { location: coordinates, place } };
  }
  if (type === 'contact') {
    const cards = content.contactMessage ? [content.contactMessage] : (content.contactsArrayMessage?.contacts ?? []);
    const contacts = cards.map(contactOf);
    return { text: contacts.map((c) => c.name).join(', '), fields: { contacts } };
  }
  if (type === 'poll') {
    const poll = pollOf(content)!;
    return { text: poll.name, fields: { poll } };
  }
  if (type === 'poll_vote') {
    const pollId = content.pollUpdateMessage?.pollCreationMessageKey?.id ?? '';
    const options = vote?.options ?? null;
    return { text: options?.join(', ') ?? '', fields: { vote: { pollId, pollName: vote?.pollName ?? null, voter, options } } };
  }
  if (type === 'reaction') {
    const emoji = content.reactionMessage?.text ?? '';
    return { text: emoji, fields: { reaction: { emoji, messageId: content.reactionMessage?.key?.id ?? '' } } };
  }
  const protocol = content.protocolMessage;
  if (type === 'edit') {
    const text = textOf(normalizeMessageContent(protocol?.editedMessage));
    return { text, fields: { edit: { messageId: protocol?.key?.id ?? '', text } } };
  }
  if (type === 'revoke') return { text: '', fields: { revoke: { messageId: protocol?.key?.id ?? '' } } };
  return { text: textOf(content), fields: {} }; // text and media: the common fields say it all
}

/** A poll vote as the receiver could read it (see polls.ts). */
export interface DecryptedVote {
  pollName: string | null;
  options: string[] | null;
}

/** The JIDs of who wrote a message: in 7.x one may be a LID, with the phone number as the "alt" JID, or vice versa. */
export function senderJidsOf(message: WAMessage): { pn: string | null; lid: string | null } {
  const key = message.key as WAMessage['key'] & { remoteJidAlt?: string; participantAlt?: string };
  const chat = key.remoteJid ?? '';
  const jids = chat.endsWith('@g.us') ? [key.participant, key.participantAlt] : [chat, key.remoteJidAlt];
  return { pn: jids.find((j) => j?.endsWith('@s.whatsapp.net')) ?? null, lid: jids.find((j) => j?.endsWith('@lid')) ?? null };
}

/** The chosen button's or list row's text of a reply to buttons or a list; null for other messages. */
function buttonReplyOf(content: proto.IMessage): string | null {
  return content.buttonsResponseMessage?.selectedDisplayText ?? content.templateButtonReplyMessage?.selectedDisplayText ?? content.listResponseMessage?.title ?? null;
}

/** An attachment's file name and extension as Fonnte gives them: its own name, else one made of the message id. */
function fileOf(id: string, media: IncomingMedia | null): { filename: string; extension: string } {
  if (!media) return { filename: '', extension: '' };
  const own = media.fileName ?? '';
  const dot = own.lastIndexOf('.');
  const extension = dot > 0 ? own.slice(dot + 1).toLowerCase() : extensionOfMime(media.mimetype ?? '');
  return { filename: own || (extension ? `${id}.${extension}` : id), extension };
}

/**
 * `senderPn`: the sender's phone number JID when the message names them only by LID and the device
 * knows the number (Baileys' LID mapping), so `sender` is a number whenever it can be.
 */
export function incomingPayload(deviceId: string, devicePhone: string | null, message: WAMessage, vote?: DecryptedVote, senderPn?: string | null): IncomingPayload {
  const key = message.key;
  const chat = key.remoteJid ?? '';
  const isGroup = chat.endsWith('@g.us');
  const jids = senderJidsOf(message);
  const pn = jids.pn ?? senderPn ?? null;
  const lid = jids.lid;
  const content = normalizeMessageContent(message.message) ?? {};
  const contentType = getContentType(content) ?? '';
  const inner = (content as Record<string, unknown>)[contentType] as (AnyMedia & { contextInfo?: proto.IContextInfo | null }) | undefined;
  let type: IncomingType = contentType === 'protocolMessage' ? (PERSON_PROTOCOL[content.protocolMessage?.type ?? -1] ?? 'other') : (TYPES[contentType] ?? 'other');
  if (type === 'audio' && inner?.ptt) type = 'voice';
  const isMedia = ['image', 'video', 'audio', 'voice', 'document', 'sticker'].includes(type);
  const media: IncomingMedia | null =
    isMedia && inner
      ? {
          mimetype: inner.mimetype ?? null,
          fileName: inner.fileName ?? null,
          size: inner.fileLength == null ? null : Number(inner.fileLength),
          sha256: inner.fileSha256 ? Buffer.from(inner.fileSha256).toString('hex') : null,
          seconds: inner.seconds ?? null,
          ptt: !!inner.ptt,
          url: null,
        }
      : null;
  const senderNumber = user(pn) ?? user(lid) ?? '';
  const context = inner?.contextInfo;
  const { text, fields } = detailsOf(type, content, vote, senderNumber);
  const buttonReply = buttonReplyOf(content);
  const id = key.id ?? '';
  const sender = isGroup ? chat : senderNumber;
  const said = text || buttonReply || '';
  return {
    event: 'message',
    device: devicePhone,
    deviceId,
    id,
    sender,
    pengirim: sender,
    senderJid: pn ?? lid ?? '',
    senderLid: lid,
    chat,
    isGroup,
    isgroup: isGroup,
    member: isGroup ? senderNumber : '',
    name: message.pushName ?? '',
    message: said,
    pesan: said,
    text: buttonReply ?? 'non-button message',
    location: '',
    pollname: type === 'poll_vote' ? (vote?.pollName ?? '') : '',
    choices: type === 'poll_vote' ? (vote?.options ?? []) : [],
    type,
    media,
    url: '',
    ...fileOf(id, media),
    inboxid: id,
    isforwarded: !!context?.isForwarded,
    quick: false,
    quotedId: context?.stanzaId ?? null,
    mentions: (context?.mentionedJid ?? []).map((jid) => user(jid) ?? jid),
    viewOnce: isViewOnce(message.message, inner),
    timestamp: Number(message.messageTimestamp ?? Math.floor(Date.now() / 1000)),
    ...fields,
  } as IncomingPayload;
}

/** The webhook payload's type-specific part (a place, contacts, a poll…), by the name the webhook gives it. */
const DETAIL_FIELDS = ['place', 'contacts', 'poll', 'vote', 'reaction', 'edit', 'revoke'] as const;

/**
 * What the edge's inbox keeps of an incoming message, taken from its webhook payload so both say
 * the same: who wrote, quote, mentions, the media's description (not the file, and not its
 * signed URL: the dashboard fetches media with its own key), and the type's details.
 */
export function inboxFieldsOf(payload: IncomingPayload) {
  const record = payload as unknown as Record<string, unknown>;
  const details = Object.fromEntries(DETAIL_FIELDS.filter((field) => record[field] !== undefined).map((field) => [field, record[field]]));
  const media = payload.media && { mimetype: payload.media.mimetype, fileName: payload.media.fileName, size: payload.media.size, seconds: payload.media.seconds, ptt: payload.media.ptt };
  return {
    ...(payload.member ? { author: payload.member } : {}),
    name: payload.name,
    quotedId: payload.quotedId,
    mentions: payload.mentions,
    media: media ?? null,
    details,
  };
}

// ───────────────────────── group changes ─────────────────────────

const Stub = proto.WebMessageInfo.StubType;
const GROUP_ACTIONS: Partial<Record<number, GroupAction>> = {
  [Stub.GROUP_PARTICIPANT_ADD]: 'add',
  [Stub.GROUP_PARTICIPANT_INVITE]: 'add',
  [Stub.GROUP_PARTICIPANT_ADD_REQUEST_JOIN]: 'add',
  [Stub.GROUP_PARTICIPANT_REMOVE]: 'remove',
  [Stub.GROUP_PARTICIPANT_LEAVE]: 'remove',
  [Stub.GROUP_PARTICIPANT_PROMOTE]: 'promote',
  [Stub.GROUP_PARTICIPANT_DEMOTE]: 'demote',
  [Stub.GROUP_CHANGE_SUBJECT]: 'subject',
  [Stub.GROUP_CHANGE_DESCRIPTION]: 'description',
};

/** A participant as Baileys records it in a group change: its JID, and the other JID when known. */
interface StubParticipant {
  id?: string;
  phoneNumber?: string;
  lid?: string;
}

/** The number of a participant: the phone number when WhatsApp gives it, else the LID. */
function numberOf({ id, phoneNumber }: StubParticipant): string {
  const pn = [phoneNumber, id].find((j) => j?.endsWith('@s.whatsapp.net'));
  return user(pn) ?? user(id) ?? '';
}

/** Whether an upserted message is a group change this gateway reports (see groupPayload). */
export function isGroupChange(message: WAMessage): boolean {
  return GROUP_ACTIONS[message.messageStubType ?? -1] !== undefined && !!message.key.remoteJid?.endsWith('@g.us');
}

/**
 * A group change, from the message Baileys makes of WhatsApp's group notification (`w:gp2`): the
 * same record its group events come from, with the notification's id and time. That record keeps
 * only one JID of the author; `authorPn` is its phone number when the author is named by LID and
 * the device knows their number.
 */
export function groupPayload(deviceId: string, devicePhone: string | null, message: WAMessage, authorPn?: string | null): GroupPayload {
  const action = GROUP_ACTIONS[message.messageStubType ?? -1]!; // the caller checked isGroupChange
  const key = message.key;
  const params = message.messageStubParameters ?? [];
  const base = {
    event: 'group' as const,
    device: devicePhone,
    deviceId,
    id: key.id ?? '',
    group: key.remoteJid ?? '',
    author: key.participant ? numberOf({ id: key.participant, phoneNumber: authorPn ?? undefined }) : null,
    timestamp: Number(message.messageTimestamp ?? Math.floor(Date.now() / 1000)),
  };
  if (action === 'subject') return { ...base, action, subject: params[0] ?? '' };
  if (action === 'description') return { ...base, action, description: params[0] ?? null };
  // Baileys records each participant as JSON; a bare JID (as older records have) is read too.
  const participants = params.map((p: string) => numberOf(p.startsWith('{') ? (JSON.parse(p) as StubParticipant) : { id: p }));
  return { ...base, action, participants };
}

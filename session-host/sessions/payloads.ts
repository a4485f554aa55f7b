// Webhook payloads. A Fonnte user recognises the fields (`device`, `sender`, `message`, `name`,
// `member`, `timestamp`…); what Fonnte lacks is added beside them: the message id and type, media
// details, the sender's phone number and LID, and per type a structured description (a location's
// coordinates, a poll's options, the message a reaction, an edit or a delete is about…).
import { getContentType, jidDecode, normalizeMessageContent, proto, type WAMessage } from '@whiskeysockets/baileys';
import type { DeviceState, MessageStatus } from '../link/protocol.ts';
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
  sender: string;
  senderJid: string;
  senderLid: string | null;
  chat: string;
  isGroup: boolean;
  member: string | null;
  name: string;
  /** What a person reads: the text or caption, an emoji, a place or poll name, chosen options, an edit's new text. */
  message: string;
  media: IncomingMedia | null;
  /** Fonnte's field for an attachment's link: the same as `media.url`; null without media. */
  url: string | null;
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
    | { type: 'location'; location: string; place: IncomingLocation }
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

export interface StatusPayload {
  event: 'status';
  device: string | null;
  deviceId: string;
  /** WhatsApp's message id once it has one; until then the gateway's own message id. */
  id: string;
  stateid: string;
  /** The gateway's message id (as the API answered it) for messages sent through the API. */
  messageId: string | null;
  status: MessageStatus | 'queued';
  state: MessageStatus | 'queued';
  to: string;
  reason: string | null;
  timestamp: number;
}

export interface ConnectionPayload {
  event: 'connection';
  device: string | null;
  deviceId: string;
  status: DeviceState['status'];
  reason: string | null;
  timestamp: number;
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

export function incomingPayload(deviceId: string, devicePhone: string | null, message: WAMessage, vote?: DecryptedVote): IncomingPayload {
  const key = message.key as WAMessage['key'] & { remoteJidAlt?: string; participantAlt?: string };
  const chat = key.remoteJid ?? '';
  const isGroup = chat.endsWith('@g.us');
  // In 7.x a sender may be addressed by LID, with the phone number as the "alt" JID, or vice versa.
  const senderJids = isGroup ? [key.participant, key.participantAlt] : [chat, key.remoteJidAlt];
  const pn = senderJids.find((j) => j?.endsWith('@s.whatsapp.net')) ?? null;
  const lid = senderJids.find((j) => j?.endsWith('@lid')) ?? null;
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
  return {
    event: 'message',
    device: devicePhone,
    deviceId,
    id: key.id ?? '',
    sender: isGroup ? (user(chat) ?? '') : senderNumber,
    senderJid: pn ?? lid ?? '',
    senderLid: lid,
    chat,
    isGroup,
    member: isGroup ? senderNumber : null,
    name: message.pushName ?? '',
    message: text,
    type,
    media,
    url: null,
    quotedId: context?.stanzaId ?? null,
    mentions: (context?.mentionedJid ?? []).map((jid) => user(jid) ?? jid),
    viewOnce: isViewOnce(message.message, inner),
    timestamp: Number(message.messageTimestamp ?? Math.floor(Date.now() / 1000)),
    ...fields,
  } as IncomingPayload;
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

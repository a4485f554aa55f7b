// Webhook payloads. A Fonnte user recognises the fields (`device`, `sender`, `message`, `name`,
// `member`, `timestamp`…); what Fonnte lacks is added beside them: the message id and type, media
// details, and the sender's phone number and LID.
import { getContentType, jidDecode, normalizeMessageContent, type proto, type WAMessage } from '@whiskeysockets/baileys';
import type { DeviceState, MessageStatus } from '../link/protocol.ts';

export type IncomingType = 'text' | 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contact' | 'reaction' | 'poll' | 'other';

export interface IncomingPayload {
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
  message: string;
  type: IncomingType;
  /** `url`: a signed link on the edge that downloads the file (null when the edge's URL is unknown); set at delivery. */
  media: { mimetype: string | null; fileName: string | null; size: number | null; sha256: string | null; url: string | null } | null;
  /** Fonnte's field for an attachment's link: the same as `media.url`; null without media. */
  url: string | null;
  quotedId: string | null;
  timestamp: number;
}

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
  pollCreationMessageV3: 'poll',
};

type AnyMedia = proto.Message.IImageMessage & proto.Message.IDocumentMessage;

/** Whether an upserted message is something a person sent (not a protocol or key-sharing message). */
export function isUserMessage(message: WAMessage): boolean {
  const content = normalizeMessageContent(message.message);
  const type = content && getContentType(content);
  return !!type && type !== 'protocolMessage' && type !== 'senderKeyDistributionMessage' && message.key.remoteJid !== 'status@broadcast';
}

export function incomingPayload(deviceId: string, devicePhone: string | null, message: WAMessage): IncomingPayload {
  const key = message.key as WAMessage['key'] & { remoteJidAlt?: string; participantAlt?: string };
  const chat = key.remoteJid ?? '';
  const isGroup = chat.endsWith('@g.us');
  // In 7.x a sender may be addressed by LID, with the phone number as the "alt" JID, or vice versa.
  const senderJids = isGroup ? [key.participant, key.participantAlt] : [chat, key.remoteJidAlt];
  const pn = senderJids.find((j) => j?.endsWith('@s.whatsapp.net')) ?? null;
  const lid = senderJids.find((j) => j?.endsWith('@lid')) ?? null;
  const content = normalizeMessageContent(message.message) ?? {};
  const contentType = getContentType(content) ?? '';
  const media = (content as Record<string, unknown>)[contentType] as AnyMedia | undefined;
  const isMedia = ['image', 'video', 'audio', 'document', 'sticker'].includes(TYPES[contentType] ?? '');
  const text = content.conversation ?? content.extendedTextMessage?.text ?? media?.caption ?? content.reactionMessage?.text ?? content.locationMessage?.name ?? content.contactMessage?.displayName ?? '';
  const quoted = content.extendedTextMessage?.contextInfo?.stanzaId ?? (media as proto.Message.IImageMessage | undefined)?.contextInfo?.stanzaId;
  const senderNumber = user(pn) ?? user(lid) ?? '';
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
    type: TYPES[contentType] ?? 'other',
    media:
      isMedia && media
        ? {
            mimetype: media.mimetype ?? null,
            fileName: media.fileName ?? null,
            size: media.fileLength == null ? null : Number(media.fileLength),
            sha256: media.fileSha256 ? Buffer.from(media.fileSha256).toString('hex') : null,
            url: null,
          }
        : null,
    url: null,
    quotedId: quoted ?? null,
    timestamp: Number(message.messageTimestamp ?? Math.floor(Date.now() / 1000)),
  };
}

// The inbox: a device's chats, one chat's conversation, replies through the send routes, and
// received media fetched with the admin key (a link in an <img> cannot carry the key).
import { ApiError } from './http.ts';
import type { MediaType } from './messages.ts';
import { api, session } from './session.ts';

export interface Chat {
  chat: string;
  name: string | null;
  isGroup: boolean;
  lastMessage: { id: string; sender: string; type: string; text: string; timestamp: string };
  lastAt: string;
}

export interface ReceivedMedia {
  mimetype: string | null;
  fileName: string | null;
  size: number | null;
  seconds: number | null;
  ptt: boolean;
}

export interface Received {
  direction: 'in';
  id: string;
  sender: string;
  senderName: string | null;
  fromMe: boolean;
  type: string;
  text: string;
  quotedId: string | null;
  mentions: string[];
  media: ReceivedMedia | null;
  details: Record<string, unknown> | null;
  editedAt: string | null;
  deletedAt: string | null;
  timestamp: string;
}

export interface Sent {
  direction: 'out';
  id: string;
  logId: string;
  type: string;
  text: string;
  status: 'queued' | 'sent' | 'delivered' | 'read' | 'failed';
  error: string | null;
  deleted: boolean;
  timestamp: string;
}

export type ChatMessage = Received | Sent;

const query = (params: Record<string, string>) => new URLSearchParams(params).toString();

export async function listChats(deviceId: string, signal?: AbortSignal): Promise<Chat[]> {
  const { chats } = await api<{ chats: Chat[] }>('GET', `/api/chats?${query({ deviceId, limit: '100' })}`, undefined, signal);
  return chats;
}

/** The newest messages of a chat, newest first. */
export async function loadConversation(deviceId: string, chat: string, signal?: AbortSignal): Promise<ChatMessage[]> {
  const { messages } = await api<{ messages: ChatMessage[] }>('GET', `/api/chats/${encodeURIComponent(chat)}/messages?${query({ deviceId, limit: '50' })}`, undefined, signal);
  return messages;
}

export interface Reply {
  deviceId: string;
  chat: string;
  text: string;
  /** A public URL: sent as media with `text` as its caption. */
  mediaUrl?: string;
  type?: MediaType;
  /** WhatsApp's id of the message replied to. */
  quotedId?: string;
}

/** Sends through the routes an API client uses. */
export function sendReply(reply: Reply): Promise<{ id: string }> {
  const { deviceId, chat: to, text, mediaUrl, type, quotedId } = reply;
  if (mediaUrl) return api('POST', '/api/send-media', { deviceId, to, url: mediaUrl, type, quotedId, ...(text && { caption: text }) });
  return api('POST', '/api/send-message', { deviceId, to, message: text, quotedId });
}

/** A received file as a blob URL the page may show or offer; the caller revokes it when done. */
export async function mediaBlobUrl(deviceId: string, messageId: string): Promise<string> {
  const current = session.value;
  if (current.state !== 'signed-in') throw new ApiError(401, 'Signed out');
  const res = await fetch(`/api/media/${encodeURIComponent(deviceId)}/${encodeURIComponent(messageId)}`, { headers: { authorization: `Bearer ${current.key}` } });
  if (!res.ok) {
    const said = ((await res.json().catch(() => undefined)) as { error?: unknown } | undefined)?.error;
    throw new ApiError(res.status, typeof said === 'string' ? said : `The file could not be fetched (${res.status})`);
  }
  return URL.createObjectURL(await res.blob());
}

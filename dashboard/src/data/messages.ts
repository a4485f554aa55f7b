import { api } from './session.ts';

export type MediaType = 'image' | 'video' | 'document' | 'audio' | 'voice' | 'sticker';

export interface TestMessage {
  deviceId: string;
  to: string;
  message: string;
  /** A public URL: sent as media, with `message` as its caption. */
  mediaUrl?: string;
  type?: MediaType;
}

/** Sent (with WhatsApp's id and time), or queued for a device that is offline (with the log's id). */
export interface Dispatched {
  success: true;
  message: string;
  id: string;
  to: string;
  timestamp?: number;
  queued?: true;
}

/** Sends through the same seed routes an API client uses, so the test proves them. */
export function sendTestMessage({ deviceId, to, message, mediaUrl, type }: TestMessage): Promise<Dispatched> {
  if (mediaUrl) return api('POST', '/api/send-media', { deviceId, to, url: mediaUrl, type, ...(message && { caption: message }) });
  return api('POST', '/api/send-message', { deviceId, to, message });
}

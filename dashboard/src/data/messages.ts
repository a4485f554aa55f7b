import { api } from './session.ts';

export type MediaType = 'image' | 'video' | 'document' | 'audio' | 'voice' | 'sticker';

interface Addressed {
  deviceId: string;
  to: string;
}

interface TextOrMedia {
  kind: 'message';
  message: string;
  /** A public URL: sent as media, with `message` as its caption. */
  mediaUrl?: string;
  type?: MediaType;
}

/** What Send Test Message can send: a text (or media with it as caption), a pin, or a poll. */
export type TestMessage =
  | (Addressed & TextOrMedia)
  | (Addressed & { kind: 'location'; latitude: number; longitude: number; name?: string; address?: string })
  | (Addressed & { kind: 'poll'; name: string; options: string[]; multiple: boolean });

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
export function sendTestMessage(test: TestMessage): Promise<Dispatched> {
  const { deviceId, to } = test;
  switch (test.kind) {
    case 'location':
      return api('POST', '/api/send-location', { deviceId, to, latitude: test.latitude, longitude: test.longitude, name: test.name, address: test.address });
    case 'poll':
      return api('POST', '/api/send-poll', { deviceId, to, name: test.name, options: test.options, multiple: test.multiple });
    default:
      if (test.mediaUrl) return api('POST', '/api/send-media', { deviceId, to, url: test.mediaUrl, type: test.type, ...(test.message && { caption: test.message }) });
      return api('POST', '/api/send-message', { deviceId, to, message: test.message });
  }
}

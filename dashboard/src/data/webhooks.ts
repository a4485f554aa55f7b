// Webhook deliveries of one device: what its session host posted to the webhook URLs lately.
import { api } from './session.ts';

export interface WebhookDelivery {
  id: string;
  event: string;
  url: string | null;
  /** pending: not tried yet; failed: the last attempt failed (nextAttemptAt null: given up). */
  status: 'pending' | 'failed' | 'delivered' | 'dropped';
  statusCode: number | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  messageId: string | null;
  retryable: boolean;
}

const path = (deviceId: string, rest = '') => `/api/devices/${encodeURIComponent(deviceId)}/webhooks${rest}`;

export async function listDeliveries(deviceId: string, signal?: AbortSignal): Promise<WebhookDelivery[]> {
  const { deliveries } = await api<{ deliveries: WebhookDelivery[] }>('GET', path(deviceId, '?limit=100'), undefined, signal);
  return deliveries;
}

export const retryDelivery = (deviceId: string, id: string) => api<WebhookDelivery>('POST', path(deviceId, `/${encodeURIComponent(id)}/retry`));

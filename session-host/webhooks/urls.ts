// Which URL a device's event goes to. Fonnte gives each kind of event its own URL (incoming chat,
// message status, device status); a receiver written for one kind breaks on the others (an
// autoreply bot answering delivery receipts), so each kind can be sent apart or not at all.
import type { DeviceSettings } from '../link/protocol.ts';
import type { WebhookEventType } from './queue.ts';

type Urls = Pick<DeviceSettings, 'webhookUrl' | 'statusWebhookUrl' | 'connectionWebhookUrl'>;

/**
 * The URL for `type`, or undefined when that kind is not sent. Messages and group changes go to
 * `webhookUrl`; statuses and connection changes to their own URL, where null (or unset) falls back
 * to `webhookUrl` and "" sends nothing.
 */
export function webhookUrlFor(settings: Urls, type: WebhookEventType): string | undefined {
  const own = type === 'status' ? settings.statusWebhookUrl : type === 'connection' ? settings.connectionWebhookUrl : undefined;
  return (own ?? settings.webhookUrl) || undefined;
}

// Prometheus text exposition for /metrics, written by hand: a handful of gauges and counters.
import type { DeviceState } from './link/protocol.ts';

export interface MetricsSnapshot {
  devices: DeviceState[];
  messagesSent: number;
  messagesReceived: number;
  webhooks: { depth: number; delivered: number; failures: number; dropped: number; held: number };
  linksConnected: number;
  store: { up: boolean; emptied: number };
  journal: { depth: number; dropped: number };
}

const STATUSES: DeviceState['status'][] = ['DISCONNECTED', 'CONNECTING', 'QR', 'CONNECTED', 'LOGGED_OUT'];

export function renderMetrics(m: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric(
    'wa_sessions',
    'gauge',
    'Devices on this host by status.',
    STATUSES.map((s) => [`{status="${s}"}`, m.devices.filter((d) => d.status === s).length]),
  );
  metric('wa_messages_sent_total', 'counter', 'Messages sent since the host started.', [['', m.messagesSent]]);
  metric('wa_messages_received_total', 'counter', 'Incoming messages received since the host started.', [['', m.messagesReceived]]);
  metric('wa_webhook_queue_depth', 'gauge', 'Webhook deliveries waiting (including retries).', [['', m.webhooks.depth]]);
  metric('wa_webhook_delivered_total', 'counter', 'Webhooks delivered since the host started.', [['', m.webhooks.delivered]]);
  metric('wa_webhook_failures_total', 'counter', 'Failed webhook delivery attempts since the host started.', [['', m.webhooks.failures]]);
  metric('wa_webhook_dropped_total', 'counter', 'Webhooks given up on (expired, or no URL configured).', [['', m.webhooks.dropped]]);
  metric('wa_webhook_held', 'gauge', 'Webhook jobs only in memory, waiting for the store to come back.', [['', m.webhooks.held]]);
  metric('wa_store_up', 'gauge', "Whether the host's store (Redis or files) answers: 1 up, 0 down.", [['', m.store.up ? 1 : 0]]);
  metric('wa_store_emptied_total', 'counter', 'Times the store was found to have lost its data since the host started.', [['', m.store.emptied]]);
  metric('wa_link_connected', 'gauge', 'Authenticated links from the edge.', [['', m.linksConnected]]);
  metric('wa_link_journal_events', 'gauge', 'Receipts and incoming messages the edge has not acknowledged yet.', [['', m.journal.depth]]);
  metric('wa_link_journal_dropped_total', 'counter', 'Unacknowledged events dropped because the journal was full.', [['', m.journal.dropped]]);
  const memory = process.memoryUsage();
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the host process.', [['', memory.rss]]);
  metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [['', memory.heapUsed]]);
  return `${lines.join('\n')}\n`;
}

// Events survive the link, end to end: the real Worker under `wrangler dev` (stopped and started
// again on its persisted state), the real session host process and the WhatsApp simulator. The
// recipient's receipts arrive while no link is up; once it is back, the message log shows them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, createLinkedDevice, type EdgeCall, startSimStack, until } from '../support/e2e.ts';
import { hostMetrics } from '../support/host.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('link-events', { stack: { hostEnv: { MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' } } }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);

/** The host's own view: links up, and events waiting for the edge's acknowledgement. */
async function hostState() {
  const health = (await (await fetch(`${stack.hostUrl}/healthz`)).json()) as { links: number };
  const metrics = await hostMetrics(stack.hostUrl, stack.hostSecret);
  return { links: health.links, journaled: Number(/^wa_link_journal_events (\d+)$/m.exec(metrics)?.[1]) };
}

describe('host events while the link is down', () => {
  it('reach the message log once the edge is back: a message sent before the edge stopped ends up read', async () => {
    const device = await createLinkedDevice(stack, sim, { name: 'Receipts' });

    const sent = await call('POST', '/api/send-message', { key: device.apiKey, json: { to: '6281300000101', message: 'read me later' } });
    expect(sent.status).toBe(200);
    const [logged] = (await call('GET', '/api/messages?limit=1', { key: device.apiKey })).json.messages;
    expect(logged).toMatchObject({ status: 'sent', waMessageId: sent.json.id });

    await stack.stopEdge();
    await until(async () => (await hostState()).links === 0, 'the link to go down');
    // One receipt at a time: Baileys folds receipts for one message that arrive together.
    sim.sendReceipt(sent.json.id, 'delivery');
    await until(async () => (await hostState()).journaled === 1, 'the delivery receipt journaled');
    sim.sendReceipt(sent.json.id, 'read');
    await until(async () => (await hostState()).journaled === 2, 'the read receipt journaled');

    await stack.startEdge();
    const read = await until(
      async () => {
        const { json } = await call('GET', `/api/messages/${logged.id}`, { key: device.apiKey });
        return json.status === 'read' && json;
      },
      'the message log to show read',
      90_000,
    );
    expect(read).toMatchObject({ status: 'read', deliveredAt: expect.any(String), readAt: expect.any(String) });
    // Applied, then acknowledged: the host keeps nothing more.
    await until(async () => (await hostState()).journaled === 0, 'the journal to be acknowledged');
  });
});

import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { contactGroupsTable, contactsTable, devicesTable, hostsTable, messagesTable } from '../../edge/db/schema.ts';

describe('D1 migrations', () => {
  const db = drizzle(env.DB);

  it('create every table in the schema', async () => {
    for (const table of [hostsTable, devicesTable, contactsTable, contactGroupsTable, messagesTable]) {
      expect(await db.select().from(table)).toEqual([]);
    }
  });

  it('store a device with its defaults and its message log', async () => {
    await db.insert(devicesTable).values({
      id: 'device_test',
      name: 'Test Device',
      apiKeyHash: 'hash',
      apiKeyMasked: 'wa_f1e2…1100',
      webhookSecret: 'whsec_test',
    });
    await db.insert(messagesTable).values({ id: 'msg_1', deviceId: 'device_test', to: '628123456789', type: 'text' });

    const [device] = await db.select().from(devicesTable).where(eq(devicesTable.id, 'device_test'));
    expect(device).toMatchObject({ status: 'DISCONNECTED', webhookUrl: '', totalMessagesSent: 0, hostId: null });
    expect(device?.createdAt).toBeInstanceOf(Date);

    const log = await db.select().from(messagesTable).where(eq(messagesTable.deviceId, 'device_test'));
    expect(log).toMatchObject([{ id: 'msg_1', status: 'queued', waMessageId: null }]);
  });
});

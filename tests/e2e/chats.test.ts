// Chat operations and WhatsApp group management, end to end: the real Worker under `wrangler dev`,
// the real session host and Baileys, and the simulator showing what WhatsApp got.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEdge, type EdgeCall, linkDevice, startSimStack, until } from '../support/e2e.ts';
import type { Stack } from '../../bin/stack.ts';
import type { WaSim } from '../wa-sim/index.ts';

let sim: WaSim;
let stack: Stack;

beforeAll(async () => {
  ({ sim, stack } = await startSimStack('chats'));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const call = (method: string, path: string, options?: EdgeCall) => callEdge(stack.edgeUrl, method, path, options);
const admin = () => `Bearer ${stack.adminKey}`;

interface Device {
  id: string;
  apiKey: string;
  phone: string;
}

async function createDevice(name: string): Promise<Device> {
  const { json } = await call('POST', '/api/devices', { key: admin(), json: { name } });
  return { id: json.id, apiKey: json.apiKey, phone: '' };
}

/** Links a device: the simulator's phone scans its QR code. */
async function link(device: Device, name: string): Promise<void> {
  device.phone = (await linkDevice(stack, sim, device.id, { name })).phone;
}

let shop: Device;
let branch: Device;
const bearer = (device: Device) => `Bearer ${device.apiKey}`;

describe('chat operations', () => {
  it('refuse a device that is not connected (503) and a device key naming another device (403)', async () => {
    shop = await createDevice('Toko Chat');
    branch = await createDevice('Toko Cabang Chat');
    const offline = await call('POST', `/api/devices/${branch.id}/check-numbers`, { key: bearer(branch), json: { numbers: ['6281300000001'] } });
    expect(offline.status).toBe(503);
    expect(offline.json.error).toMatch(/not connected/);

    await link(shop, 'Toko Chat WA');
    for (const [method, path, json] of [
      ['POST', 'check-numbers', { numbers: ['6281300000001'] }],
      ['POST', 'presence', { to: '6281300000001', state: 'composing' }],
      ['GET', 'profile-picture?number=6281300000001', undefined],
      ['GET', 'wa-groups/120363000000000001', undefined],
      ['POST', 'wa-groups', { subject: 'x', participants: ['6281300000001'] }],
    ] as const) {
      const res = await call(method, `/api/devices/${shop.id}/${path}`, { key: bearer(branch), json });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.error).toMatch(/another device/);
    }
  }, 90_000);

  it('check numbers: exists with jid and lid, or not; a repeated check is answered from the cache', async () => {
    sim.notOnWhatsApp('6281300000002');
    const before = sim.contactQueries;
    const first = await call('POST', `/api/devices/${shop.id}/check-numbers`, { key: bearer(shop), json: { numbers: ['081300000001', '+62 813-0000-0002'] } });
    expect(first.status).toBe(200);
    expect(first.json).toEqual({
      results: [
        { number: '6281300000001', exists: true, jid: '6281300000001@s.whatsapp.net', lid: sim.people.get('6281300000001')!.lidJid },
        { number: '6281300000002', exists: false, jid: null, lid: null },
      ],
    });
    expect(sim.contactQueries).toBe(before + 1);

    const again = await call('POST', `/api/devices/${shop.id}/check-numbers`, { key: bearer(shop), json: { numbers: ['6281300000002', '6281300000001'] } });
    expect(again.json.results.map((r: { number: string; exists: boolean }) => [r.number, r.exists])).toEqual([
      ['6281300000002', false],
      ['6281300000001', true],
    ]);
    expect(sim.contactQueries).toBe(before + 1); // nothing asked of WhatsApp
    const byAdmin = await call('POST', `/api/devices/${shop.id}/check-numbers`, { key: admin(), json: { numbers: ['6281300000001'] } });
    expect(byAdmin.json.results).toEqual([first.json.results[0]]);
    expect(sim.contactQueries).toBe(before + 1);

    // Only the number not seen yet goes to WhatsApp.
    const mixed = await call('POST', `/api/devices/${shop.id}/check-numbers`, { key: bearer(shop), json: { numbers: ['6281300000001', '6281300000003'] } });
    expect(mixed.json.results.map((r: { exists: boolean }) => r.exists)).toEqual([true, true]);
    expect(sim.contactQueries).toBe(before + 2);
  });

  it('check numbers refuses more than 50, an empty list, and what is not a number, naming the field', async () => {
    const tooMany = Array.from({ length: 51 }, (_, i) => `62813000010${String(i).padStart(2, '0')}`);
    for (const numbers of [tooMany, [], ['not-a-number']]) {
      const res = await call('POST', `/api/devices/${shop.id}/check-numbers`, { key: bearer(shop), json: { numbers } });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatch(/^numbers(\.0)?: /);
    }
  });

  it('marks a received message read: WhatsApp gets a read receipt for it; an unknown id is a 400 naming messageIds', async () => {
    const { id } = await sim.sendIncoming(shop.phone, '6281300000010', 'Halo, stok masih ada?');
    // The host remembers the message once Baileys handed it over: a moment after WhatsApp's receipt.
    const read = await until(async () => {
      const res = await call('POST', `/api/devices/${shop.id}/read`, { key: bearer(shop), json: { chat: '6281300000010', messageIds: [id] } });
      return res.status === 200 && res;
    }, 'the read to be accepted');
    expect(read.json).toEqual({ success: true, read: 1 });
    const receipt = await until(() => sim.clientReceipts.find((r) => r.id === id && r.type === 'read'), 'a read receipt');
    expect(receipt.to).toBe('6281300000010@s.whatsapp.net');

    const unknown = await call('POST', `/api/devices/${shop.id}/read`, { key: bearer(shop), json: { chat: '6281300000010', messageIds: ['3EB0NOSUCHMESSAGE'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatch(/^messageIds: .*3EB0NOSUCHMESSAGE/);
    const otherChat = await call('POST', `/api/devices/${shop.id}/read`, { key: bearer(shop), json: { chat: '6281300000011', messageIds: [id] } });
    expect(otherChat.status).toBe(400);
    expect(otherChat.json.error).toMatch(/^messageIds: /);
  });

  it('shows typing and recording in a chat, and online status', async () => {
    for (const state of ['composing', 'recording', 'paused'] as const) {
      const res = await call('POST', `/api/devices/${shop.id}/presence`, { key: bearer(shop), json: { to: '081300000010', state } });
      expect(res.json).toEqual({ success: true, to: '6281300000010', state });
    }
    const states = await until(() => {
      const sent = sim.presences.filter((p) => p.tag === 'chatstate' && p.attrs.to === '6281300000010@s.whatsapp.net');
      return sent.length >= 3 && sent;
    }, 'three chat states');
    expect(states.map((p) => [p.attrs.state, p.attrs.media])).toEqual([
      ['composing', undefined],
      ['composing', 'audio'],
      ['paused', undefined],
    ]);

    const online = await call('POST', `/api/devices/${shop.id}/presence`, { key: bearer(shop), json: { to: '6281300000010', state: 'available' } });
    expect(online.status).toBe(200);
    await until(() => sim.presences.find((p) => p.tag === 'presence' && p.attrs.type === 'available'), 'available');

    const bad = await call('POST', `/api/devices/${shop.id}/presence`, { key: bearer(shop), json: { to: '6281300000010', state: 'dancing' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^state: /);
  });

  it('gives a profile picture URL, and null for a hidden or missing one', async () => {
    const url = 'https://pps.whatsapp.net/v/t61.24694-24/123_456_n.jpg?oh=abc';
    sim.addContact({ phone: '6281300000020' });
    sim.addContact({ phone: '6281300000021' });
    sim.setProfilePicture('6281300000020', url);
    sim.setProfilePicture('6281300000021', null);
    const picture = (number: string) => call('GET', `/api/devices/${shop.id}/profile-picture?number=${number}`, { key: bearer(shop) });
    expect((await picture('6281300000020')).json).toEqual({ url });
    expect((await picture('6281300000021')).json).toEqual({ url: null });
    expect((await picture('6281300000022')).json).toEqual({ url: null });
    const bad = await picture('abc');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^number: /);
  });
});

describe('WhatsApp groups', () => {
  let groupId: string;
  let link1: string;
  let link2: string;
  const groupPath = (id = groupId) => `/api/devices/${shop.id}/wa-groups/${id}`;
  const simGroup = () => sim.groups.get(groupId.replace(/@g\.us$/, ''))!;

  it('creates a group with the device as superadmin; the simulator has it with those participants', async () => {
    const res = await call('POST', `/api/devices/${shop.id}/wa-groups`, { key: bearer(shop), json: { subject: 'Reseller Jabar', participants: ['081300000030', '6281300000031'] } });
    expect(res.status).toBe(201);
    groupId = res.json.id;
    expect(groupId).toMatch(/^\d+@g\.us$/);
    expect(simGroup()).toMatchObject({ subject: 'Reseller Jabar', participants: [shop.phone, '6281300000030', '6281300000031'], admins: [shop.phone] });
    expect(res.json).toMatchObject({ subject: 'Reseller Jabar', description: null, owner: shop.phone });
    // WhatsApp tells the group's linked devices (here the shop's own) what happened.
    expect(sim.groupServer.notifications).toContainEqual({ to: expect.stringMatching(new RegExp(`^${shop.phone}:\\d+@`)), group: groupId, change: 'create', actor: shop.phone });
  });

  it('shows subject, description and participants with their roles (the id with or without @g.us)', async () => {
    for (const id of [groupId, encodeURIComponent(groupId), groupId.replace(/@g\.us$/, '')]) {
      const res = await call('GET', groupPath(id), { key: bearer(shop) });
      expect(res.status).toBe(200);
      expect(res.json.id).toBe(groupId);
      expect(res.json.participants).toEqual([
        { number: shop.phone, lid: expect.stringMatching(/@lid$/), role: 'superadmin' },
        { number: '6281300000030', lid: sim.people.get('6281300000030')!.lidJid, role: 'member' },
        { number: '6281300000031', lid: sim.people.get('6281300000031')!.lidJid, role: 'member' },
      ]);
    }
    const missing = await call('GET', groupPath('120363999999999999'), { key: bearer(shop) });
    expect(missing.status).toBe(404);
    for (const id of ['not-a-group', '%25']) {
      const bad = await call('GET', groupPath(id), { key: bearer(shop) });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/^groupId: /);
    }
  });

  it('changes subject and description', async () => {
    const res = await call('PATCH', groupPath(), { key: bearer(shop), json: { subject: 'Reseller Jawa Barat', description: 'Harga grosir tiap Senin' } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ subject: 'Reseller Jawa Barat', description: 'Harga grosir tiap Senin' });
    expect(simGroup()).toMatchObject({ subject: 'Reseller Jawa Barat', description: 'Harga grosir tiap Senin' });
    // A second change names the description it replaces, as WhatsApp requires.
    const again = await call('PATCH', groupPath(), { key: bearer(shop), json: { description: 'Harga grosir tiap Selasa' } });
    expect(again.json.description).toBe('Harga grosir tiap Selasa');
    const empty = await call('PATCH', groupPath(), { key: bearer(shop), json: {} });
    expect(empty.status).toBe(400);
    expect(empty.json.error).toMatch(/subject, description/);
  });

  it('adds, removes, promotes and demotes, answered per participant', async () => {
    const update = (action: string, participants: string[]) => call('POST', `${groupPath()}/participants`, { key: bearer(shop), json: { action, participants } });
    const added = await update('add', ['6281300000032', '6281300000030']);
    expect(added.status).toBe(200);
    expect(added.json).toEqual({
      success: true,
      action: 'add',
      results: [
        { number: '6281300000032', status: 200, reason: 'ok' },
        { number: '6281300000030', status: 409, reason: 'already in the group' },
      ],
    });
    expect(simGroup().participants).toContain('6281300000032');

    const removed = await update('remove', ['6281300000032', '6281300000099']);
    expect(removed.json.results).toEqual([
      { number: '6281300000032', status: 200, reason: 'ok' },
      { number: '6281300000099', status: 404, reason: 'not in the group' },
    ]);
    expect(simGroup().participants).not.toContain('6281300000032');
    expect((await update('add', ['6281300000032'])).json.results).toEqual([{ number: '6281300000032', status: 408, reason: 'left the group recently' }]);

    expect((await update('promote', ['6281300000031'])).json.results).toEqual([{ number: '6281300000031', status: 200, reason: 'ok' }]);
    expect(simGroup().admins).toContain('6281300000031');
    const roles = (await call('GET', groupPath(), { key: bearer(shop) })).json.participants.map((p: { number: string; role: string }) => [p.number, p.role]);
    expect(roles).toContainEqual(['6281300000031', 'admin']);
    expect((await update('demote', ['6281300000031'])).json.results).toEqual([{ number: '6281300000031', status: 200, reason: 'ok' }]);
    expect(simGroup().admins).not.toContain('6281300000031');

    const bad = await update('kick', ['6281300000031']);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^action: /);
  });

  it('gives the invite link; revoking gives a different one', async () => {
    const first = await call('GET', `${groupPath()}/invite-link`, { key: bearer(shop) });
    expect(first.status).toBe(200);
    link1 = first.json.link;
    expect(link1).toMatch(/^https:\/\/chat\.whatsapp\.com\/[\w-]+$/);
    expect((await call('GET', `${groupPath()}/invite-link`, { key: bearer(shop) })).json.link).toBe(link1);
    const revoked = await call('POST', `${groupPath()}/invite-link/revoke`, { key: bearer(shop) });
    link2 = revoked.json.link;
    expect(link2).toMatch(/^https:\/\/chat\.whatsapp\.com\/[\w-]+$/);
    expect(link2).not.toBe(link1);
  });

  it('another account joins by the invite link, may not change the group (403), and leaves', async () => {
    await link(branch, 'Toko Cabang WA');
    const join = (invite: string) => call('POST', `/api/devices/${branch.id}/wa-groups/join`, { key: bearer(branch), json: { invite } });
    const revoked = await join(link1);
    expect(revoked.status).toBe(404);
    const bad = await join('https://example.com/nope');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^invite: /);

    const joined = await join(link2);
    expect(joined.json).toEqual({ success: true, id: groupId });
    expect(simGroup().participants).toContain(branch.phone);
    expect(sim.groupServer.notifications.at(-1)).toMatchObject({ group: groupId, change: 'add', actor: branch.phone });

    const branchPath = `/api/devices/${branch.id}/wa-groups/${groupId}`;
    const refused = await call('PATCH', branchPath, { key: bearer(branch), json: { subject: 'Diambil alih' } });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatch(/not-authorized/);
    expect(simGroup().subject).toBe('Reseller Jawa Barat');
    const noLink = await call('GET', `${branchPath}/invite-link`, { key: bearer(branch) });
    expect(noLink.status).toBe(403);

    const left = await call('POST', `${branchPath}/leave`, { key: bearer(branch) });
    expect(left.json).toEqual({ success: true, id: groupId });
    expect(simGroup().participants).not.toContain(branch.phone);
    expect((await call('GET', branchPath, { key: bearer(branch) })).status).toBe(403);
  }, 90_000);

  it('the seed’s list of groups keeps its shape and shows the new group', async () => {
    const res = await call('GET', `/api/devices/${shop.id}/wa-groups`, { key: bearer(shop) });
    expect(res.json.success).toBe(true);
    expect(res.json.groups).toContainEqual({ id: groupId, name: 'Reseller Jawa Barat' });
  });
});

import { describe, expect, it } from 'vitest';
import { admin } from './client.ts';

const names = (body: { contacts: { name: string }[] }) => body.contacts.map((c) => c.name);

describe('contact groups', () => {
  it('are created, listed, renamed and deleted', async () => {
    const created = await admin('POST', '/api/groups', { json: { name: 'Customers' } });
    expect(created).toEqual({ status: 201, body: { id: expect.stringMatching(/^group_/), name: 'Customers' } });
    const id = created.body.id;
    expect((await admin('GET', '/api/groups')).body.groups).toContainEqual({ id, name: 'Customers' });
    expect(await admin('PATCH', `/api/groups/${id}`, { json: { name: 'VIP' } })).toEqual({ status: 200, body: { id, name: 'VIP' } });
    expect(await admin('DELETE', `/api/groups/${id}`)).toEqual({ status: 200, body: { success: true, id } });
    expect((await admin('GET', '/api/groups')).body.groups).not.toContainEqual(expect.objectContaining({ id }));
  });

  it('refuse a missing name and unknown ids', async () => {
    expect(await admin('POST', '/api/groups', { json: {} })).toEqual({ status: 400, body: { error: 'name: required' } });
    expect(await admin('PATCH', '/api/groups/group_nope', { json: { name: 'x' } })).toEqual({ status: 404, body: { error: 'Group not found: group_nope' } });
    expect(await admin('DELETE', '/api/groups/group_nope')).toEqual({ status: 404, body: { error: 'Group not found: group_nope' } });
  });
});

describe('contacts', () => {
  it('are stored with their number normalised', async () => {
    const { status, body } = await admin('POST', '/api/contacts', { json: { name: 'Budi', number: '0812-3456-789' } });
    expect(status).toBe(201);
    expect(body).toEqual({ id: expect.stringMatching(/^contact_/), name: 'Budi', number: '628123456789', groupId: null });
  });

  it('refuse invalid input, naming the field and value', async () => {
    const cases: [unknown, string][] = [
      [{ number: '628123456789' }, 'name: required'],
      [{ name: 'Ani', number: 'call me' }, 'number: must be a phone number like 628123456789, got "call me"'],
      [{ name: 'Ani', number: '628123456789', groupId: 'group_nope' }, 'groupId: no contact group with id "group_nope"'],
    ];
    for (const [json, error] of cases) expect(await admin('POST', '/api/contacts', { json })).toEqual({ status: 400, body: { error } });
  });

  it('are searched by name or number, and filtered by group', async () => {
    const group = (await admin('POST', '/api/groups', { json: { name: 'Suppliers' } })).body;
    for (const [name, number, groupId] of [
      ['Siti Rahma', '628111000111', group.id],
      ['Rahmat', '628222000222', null],
      ['Joko', '628333000333', group.id],
    ]) {
      expect((await admin('POST', '/api/contacts', { json: { name, number, groupId } })).status).toBe(201);
    }
    expect(names((await admin('GET', '/api/contacts?q=rahm')).body)).toEqual(['Rahmat', 'Siti Rahma']);
    // Numbers are found the way people type them: national, with separators.
    expect(names((await admin('GET', '/api/contacts?q=0822-2000')).body)).toEqual(['Rahmat']);
    expect(names((await admin('GET', '/api/contacts?q=628333')).body)).toEqual(['Joko']);
    expect(names((await admin('GET', `/api/contacts?groupId=${group.id}`)).body)).toEqual(['Joko', 'Siti Rahma']);
    expect(names((await admin('GET', `/api/contacts?groupId=${group.id}&q=siti`)).body)).toEqual(['Siti Rahma']);
    expect(names((await admin('GET', '/api/contacts?q=nobody')).body)).toEqual([]);
    // Wildcards are plain characters.
    expect(names((await admin('GET', '/api/contacts?q=%25')).body)).toEqual([]);
  });

  it('are changed and deleted; deleting their group leaves them without one', async () => {
    const group = (await admin('POST', '/api/groups', { json: { name: 'Family' } })).body;
    const contact = (await admin('POST', '/api/contacts', { json: { name: 'Ibu', number: '628444000444', groupId: group.id } })).body;

    const changed = await admin('PATCH', `/api/contacts/${contact.id}`, { json: { name: 'Mama', number: '+62 855 000 555' } });
    expect(changed).toEqual({ status: 200, body: { ...contact, name: 'Mama', number: '62855000555' } });
    expect((await admin('PATCH', `/api/contacts/${contact.id}`, { json: { number: 'x' } })).status).toBe(400);

    await admin('DELETE', `/api/groups/${group.id}`);
    expect((await admin('GET', '/api/contacts?q=mama')).body.contacts).toEqual([{ ...changed.body, groupId: null }]);

    expect(await admin('DELETE', `/api/contacts/${contact.id}`)).toEqual({ status: 200, body: { success: true, id: contact.id } });
    expect(await admin('DELETE', `/api/contacts/${contact.id}`)).toEqual({ status: 404, body: { error: `Contact not found: ${contact.id}` } });
    expect((await admin('PATCH', `/api/contacts/${contact.id}`, { json: { name: 'x' } })).status).toBe(404);
  });
});

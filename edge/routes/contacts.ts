// Contacts (admin API): people to message, with their number normalised, optionally in a group.
import { and, asc, eq, or, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { body, endpoint, query } from '../api/openapi.ts';
import { phoneField } from '../api/phone.ts';
import { randomHex } from '../crypto.ts';
import { contactGroupsTable, contactsTable } from '../db/schema.ts';
import type { AppEnv, DB } from '../env.ts';

export const contact = z.object({
  id: z.string().meta({ examples: ['contact_5d41402abc4b2a76'] }),
  name: z.string(),
  number: z.string().meta({ description: 'With country code, digits only', examples: ['628123456789'] }),
  groupId: z.string().nullable(),
});

const groupId = z.string().nullable().optional().meta({ description: 'A contact group, or null for none' });
export const newContact = z.object({ name: z.string().trim().min(1, 'must not be empty').max(100), number: phoneField, groupId });
export const contactChanges = newContact.partial();
export const contactQuery = z.object({
  q: z.string().optional().meta({ description: 'Part of the name (any case) or of the number' }),
  groupId: z.string().optional(),
});

const notFound = (id: string) => new HTTPException(404, { message: `Contact not found: ${id}` });

/** A foreign key failing inside D1 would be a 500; this names the field instead. */
async function requireGroup(db: DB, id: string | null | undefined): Promise<void> {
  if (!id) return;
  const [group] = await db.select({ id: contactGroupsTable.id }).from(contactGroupsTable).where(eq(contactGroupsTable.id, id));
  if (!group) throw new HTTPException(400, { message: `groupId: no contact group with id ${JSON.stringify(id)}` });
}

/** "0812-345" finds 62812345…: numbers are stored with their country code, so leading zeros are dropped. */
function search(q: string) {
  const digits = q.replace(/\D/g, '').replace(/^0+/, '');
  const byName = sql`instr(lower(${contactsTable.name}), ${q.toLowerCase()}) > 0`;
  return digits ? or(byName, sql`instr(${contactsTable.number}, ${digits}) > 0`) : byName;
}

export const contacts = new Hono<AppEnv>()
  .get('/', endpoint({ summary: 'List or search contacts', auth: 'admin', responses: { 200: z.object({ contacts: z.array(contact) }) } }), query(contactQuery), async (c) => {
    const { q, groupId } = c.req.valid('query');
    const rows = await c.var.db
      .select()
      .from(contactsTable)
      .where(and(q?.trim() ? search(q.trim()) : undefined, groupId ? eq(contactsTable.groupId, groupId) : undefined))
      .orderBy(asc(contactsTable.name), asc(contactsTable.id));
    return c.json({ contacts: rows });
  })
  .post('/', endpoint({ summary: 'Create a contact', auth: 'admin', responses: { 201: contact } }), body(newContact), async (c) => {
    const input = c.req.valid('json');
    await requireGroup(c.var.db, input.groupId);
    const [created] = await c.var.db
      .insert(contactsTable)
      .values({ id: `contact_${randomHex(8)}`, ...input })
      .returning();
    return c.json(created!, 201);
  })
  .patch('/:id', endpoint({ summary: 'Change a contact', auth: 'admin', responses: { 200: contact }, errors: { 404: 'No such contact' } }), body(contactChanges), async (c) => {
    const id = c.req.param('id');
    const changes = c.req.valid('json');
    await requireGroup(c.var.db, changes.groupId);
    const [changed] = Object.keys(changes).length
      ? await c.var.db.update(contactsTable).set(changes).where(eq(contactsTable.id, id)).returning()
      : await c.var.db.select().from(contactsTable).where(eq(contactsTable.id, id));
    if (!changed) throw notFound(id);
    return c.json(changed);
  })
  .delete('/:id', endpoint({ summary: 'Delete a contact', auth: 'admin', responses: { 200: z.object({ success: z.literal(true), id: z.string() }) }, errors: { 404: 'No such contact' } }), async (c) => {
    const id = c.req.param('id');
    const [gone] = await c.var.db.delete(contactsTable).where(eq(contactsTable.id, id)).returning();
    if (!gone) throw notFound(id);
    return c.json({ success: true as const, id });
  });

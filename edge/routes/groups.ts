// Contact groups (admin API): named sets of contacts, kept in D1.
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { body, endpoint } from '../api/openapi.ts';
import { randomHex } from '../crypto.ts';
import { contactGroupsTable } from '../db/schema.ts';
import type { AppEnv } from '../env.ts';

export const contactGroup = z.object({ id: z.string().meta({ examples: ['group_3f2a9c1d7b4e8a60'] }), name: z.string() });
export const groupInput = z.object({ name: z.string().trim().min(1, 'must not be empty').max(100) });
const notFound = (id: string) => new HTTPException(404, { message: `Group not found: ${id}` });

export const groups = new Hono<AppEnv>()
  .get('/', endpoint({ summary: 'List contact groups', auth: 'admin', responses: { 200: z.object({ groups: z.array(contactGroup) }) } }), async (c) =>
    c.json({ groups: await c.var.db.select().from(contactGroupsTable).orderBy(asc(contactGroupsTable.name)) }),
  )
  .post('/', endpoint({ summary: 'Create a contact group', auth: 'admin', responses: { 201: contactGroup } }), body(groupInput), async (c) => {
    const [group] = await c.var.db
      .insert(contactGroupsTable)
      .values({ id: `group_${randomHex(8)}`, ...c.req.valid('json') })
      .returning();
    return c.json(group!, 201);
  })
  .patch('/:id', endpoint({ summary: 'Rename a contact group', auth: 'admin', responses: { 200: contactGroup }, errors: { 404: 'No such group' } }), body(groupInput), async (c) => {
    const id = c.req.param('id');
    const [group] = await c.var.db.update(contactGroupsTable).set(c.req.valid('json')).where(eq(contactGroupsTable.id, id)).returning();
    if (!group) throw notFound(id);
    return c.json(group);
  })
  .delete(
    '/:id',
    endpoint({
      summary: 'Delete a contact group',
      description: 'Its contacts stay, without a group.',
      auth: 'admin',
      responses: { 200: z.object({ success: z.literal(true), id: z.string() }) },
      errors: { 404: 'No such group' },
    }),
    async (c) => {
      const id = c.req.param('id');
      const [group] = await c.var.db.delete(contactGroupsTable).where(eq(contactGroupsTable.id, id)).returning();
      if (!group) throw notFound(id);
      return c.json({ success: true as const, id });
    },
  );

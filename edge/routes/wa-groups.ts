// Managing the WhatsApp groups of one device (device key for its own device, or the admin key):
// create, read, rename, describe, participants, invite links, join and leave. Live, through its
// session host. The list of groups (the seed's route) is in devices.ts.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { groupAction, waGroupInfo } from '../../session-host/link/protocol.ts';
import { body, endpoint } from '../api/openapi.ts';
import { phoneField } from '../api/phone.ts';
import { deviceFor } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { relay } from '../link/relay.ts';
import { liveErrors, rethrow } from './chats.ts';

const INVITE_BASE = 'https://chat.whatsapp.com/';

/** `:groupId` as WhatsApp addresses it; the path may leave out `@g.us`. */
function groupJid(param: string): string {
  const id = param.replace(/@g\.us$/, '');
  if (!/^[\d-]{5,40}$/.test(id)) throw new HTTPException(400, { message: `groupId: must be a WhatsApp group id like 120363025246125888@g.us, got ${JSON.stringify(param.slice(0, 60))}` });
  return `${id}@g.us`;
}

const subject = z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters');
const participants = z.array(phoneField).min(1, 'give at least one number').max(1024);
const createInput = z.object({ subject, participants });
const updateInput = z
  .object({ subject: subject.optional(), description: z.string().max(2048, 'at most 2048 characters').optional().meta({ description: 'An empty text removes it' }) })
  .refine((changes) => changes.subject !== undefined || changes.description !== undefined, 'give subject, description or both');
const participantsInput = z.object({ action: groupAction, participants });
const joinInput = z.object({
  invite: z
    .string()
    .trim()
    .transform((value, ctx) => {
      const code = /^(?:(?:https?:\/\/)?chat\.whatsapp\.com\/(?:invite\/)?)?([A-Za-z0-9_-]{6,64})\/?$/.exec(value)?.[1];
      return code ?? (ctx.addIssue({ code: 'custom', message: `must be an invite link like ${INVITE_BASE}AbCdEf123456 or its code` }), z.NEVER);
    })
    .meta({ description: 'An invite link, or only its code', examples: [`${INVITE_BASE}AbCdEf123456`] }),
});

const group = waGroupInfo.meta({ description: 'A WhatsApp group; creation is in Unix seconds, roles are superadmin (the creator), admin or member' });
const inviteLink = z.object({ link: z.string().meta({ examples: [`${INVITE_BASE}AbCdEf123456`] }), code: z.string() });
const participantResult = z.object({
  number: z.string(),
  status: z
    .number()
    .int()
    .meta({ description: "WhatsApp's code: 200 done; 403 the person's privacy settings refuse (send an invite link); 404 not on WhatsApp or not in the group; 408 left recently; 409 already in the group" }),
  reason: z.string(),
});
const groupErrors = { ...liveErrors, 403: 'A device key naming another device, or the device is not an admin (or not in the group)', 404: 'No such device or group' };

/** A word for WhatsApp's per-participant code. */
function reasonOf(action: z.infer<typeof groupAction>, status: number): string {
  if (status === 200) return 'ok';
  if (status === 404) return action === 'add' ? 'not on WhatsApp' : 'not in the group';
  const reasons: Record<number, string> = {
    401: 'not allowed',
    403: 'their privacy settings do not allow being added: send an invite link',
    408: 'left the group recently',
    409: 'already in the group',
  };
  return reasons[status] ?? 'WhatsApp refused';
}

export const waGroups = new Hono<AppEnv>()
  .post(
    '/:deviceId/wa-groups',
    endpoint({ summary: 'Create a WhatsApp group', description: 'The device is its creator (superadmin).', auth: 'device', responses: { 201: group }, errors: groupErrors }),
    body(createInput),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { subject, participants } = c.req.valid('json');
      const created = await relay(c.env, device.hostId, 'group.create', { deviceId: device.id, subject, participants: participants.map((n) => `${n}@s.whatsapp.net`) }).catch(rethrow);
      return c.json(created, 201);
    },
  )
  .post(
    '/:deviceId/wa-groups/join',
    endpoint({
      summary: 'Join a WhatsApp group by its invite link',
      auth: 'device',
      responses: { 200: z.object({ success: z.literal(true), id: z.string() }) },
      errors: { ...groupErrors, 404: 'No such device, or no group with this invite (revoked?)' },
    }),
    body(joinInput),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { id } = await relay(c.env, device.hostId, 'group.join', { deviceId: device.id, code: c.req.valid('json').invite }).catch(rethrow);
      return c.json({ success: true as const, id });
    },
  )
  .get(
    '/:deviceId/wa-groups/:groupId',
    endpoint({ summary: 'A WhatsApp group: subject, description, participants and their roles', auth: 'device', responses: { 200: group }, errors: groupErrors }),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      return c.json(await relay(c.env, device.hostId, 'group.get', { deviceId: device.id, groupId }).catch(rethrow));
    },
  )
  .patch(
    '/:deviceId/wa-groups/:groupId',
    endpoint({ summary: "Change a WhatsApp group's subject or description", description: 'Admins only. Answers the group as it is now.', auth: 'device', responses: { 200: group }, errors: groupErrors }),
    body(updateInput),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      return c.json(await relay(c.env, device.hostId, 'group.update', { deviceId: device.id, groupId, ...c.req.valid('json') }).catch(rethrow));
    },
  )
  .post(
    '/:deviceId/wa-groups/:groupId/participants',
    endpoint({
      summary: 'Add, remove, promote or demote participants',
      description: 'Admins only. WhatsApp answers for each participant: the request succeeds even when some of them were refused.',
      auth: 'device',
      responses: { 200: z.object({ success: z.literal(true), action: groupAction, results: z.array(participantResult) }) },
      errors: groupErrors,
    }),
    body(participantsInput),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { action, participants } = c.req.valid('json');
      const { results } = await relay(c.env, device.hostId, 'group.participants', { deviceId: device.id, groupId, action, participants: participants.map((n) => `${n}@s.whatsapp.net`) }).catch(rethrow);
      return c.json({ success: true as const, action, results: results.map((r) => ({ ...r, reason: reasonOf(action, r.status) })) });
    },
  )
  .get(
    '/:deviceId/wa-groups/:groupId/invite-link',
    endpoint({ summary: "A WhatsApp group's invite link", description: 'Admins only.', auth: 'device', responses: { 200: inviteLink }, errors: groupErrors }),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { code } = await relay(c.env, device.hostId, 'group.inviteLink', { deviceId: device.id, groupId }).catch(rethrow);
      return c.json({ link: INVITE_BASE + code, code });
    },
  )
  .post(
    '/:deviceId/wa-groups/:groupId/invite-link/revoke',
    endpoint({ summary: 'Revoke the invite link and get a new one', description: 'Admins only. The old link stops working.', auth: 'device', responses: { 200: inviteLink }, errors: groupErrors }),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { code } = await relay(c.env, device.hostId, 'group.revokeInvite', { deviceId: device.id, groupId }).catch(rethrow);
      return c.json({ link: INVITE_BASE + code, code });
    },
  )
  .post(
    '/:deviceId/wa-groups/:groupId/leave',
    endpoint({ summary: 'Leave a WhatsApp group', auth: 'device', responses: { 200: z.object({ success: z.literal(true), id: z.string() }) }, errors: groupErrors }),
    async (c) => {
      const groupId = groupJid(c.req.param('groupId'));
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      await relay(c.env, device.hostId, 'group.leave', { deviceId: device.id, groupId }).catch(rethrow);
      return c.json({ success: true as const, id: groupId });
    },
  );

// Chat operations of one device (device key for its own device, or the admin key): which numbers
// are on WhatsApp, blue ticks, presence, profile pictures. Carried out live by its session host.
import { Hono } from 'hono';
import { z } from 'zod';
import { presenceState } from '../../session-host/link/protocol.ts';
import { body, endpoint, query } from '../api/openapi.ts';
import { phoneField, recipientField } from '../api/phone.ts';
import { deviceFor } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { relayFailure } from '../errors.ts';
import { relay } from '../link/relay.ts';

/** For `.catch()` on a relay: its failure as the error the client gets. */
export const rethrow = (error: unknown): never => {
  throw relayFailure(error);
};

/** The errors every live device operation can answer besides its own. */
export const liveErrors = {
  403: 'A device key naming another device, or WhatsApp refused for lack of a right',
  404: 'No such device',
  503: 'Device is not connected, or its session host is offline',
  504: 'Session host did not answer in time',
};

export const MAX_NUMBER_CHECKS = 50;
const checkNumbersInput = z.object({
  numbers: z.array(phoneField).min(1, 'give at least one number').max(MAX_NUMBER_CHECKS, `at most ${MAX_NUMBER_CHECKS} numbers per request`),
});
const numberCheck = z.object({
  number: z.string().meta({ examples: ['628123456789'] }),
  exists: z.boolean(),
  jid: z
    .string()
    .nullable()
    .meta({ examples: ['628123456789@s.whatsapp.net'] }),
  lid: z
    .string()
    .nullable()
    .meta({ description: "The number's LID (WhatsApp's private id), when WhatsApp tells it", examples: ['123456789012345@lid'] }),
});

const readInput = z.object({
  chat: recipientField,
  messageIds: z.array(z.string().min(1).max(128)).min(1, 'give at least one message id').max(100, 'at most 100 message ids per request'),
});
const presenceInput = z.object({ to: recipientField, state: presenceState });
const pictureQuery = z.object({ number: recipientField });

export const chats = new Hono<AppEnv>()
  .post(
    '/:deviceId/check-numbers',
    endpoint({
      summary: 'Which numbers are on WhatsApp',
      description: `Up to ${MAX_NUMBER_CHECKS} numbers. Each answer is kept for 24 hours and reused, so repeated checks do not ask WhatsApp again (bulk lookups get numbers banned).`,
      auth: 'device',
      responses: { 200: z.object({ results: z.array(numberCheck) }) },
      errors: liveErrors,
    }),
    body(checkNumbersInput),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { numbers } = c.req.valid('json');
      const { results } = await relay(c.env, device.hostId, 'chat.checkNumbers', { deviceId: device.id, numbers }).catch(rethrow);
      return c.json({ results });
    },
  )
  .post(
    '/:deviceId/read',
    endpoint({
      summary: 'Mark received messages read (blue ticks)',
      description: 'messageIds are ids of messages this device received, as its webhook gave them, within the retention.',
      auth: 'device',
      responses: { 200: z.object({ success: z.literal(true), read: z.number().int() }) },
      errors: liveErrors,
    }),
    body(readInput),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { chat, messageIds } = c.req.valid('json');
      const { read } = await relay(c.env, device.hostId, 'chat.read', { deviceId: device.id, chat: chat.jid, messageIds }).catch(rethrow);
      return c.json({ success: true as const, read });
    },
  )
  .post(
    '/:deviceId/presence',
    endpoint({
      summary: 'Show typing, recording, or online to a chat',
      description: 'composing, recording and paused are shown in the chat `to`; available and unavailable are the account’s online status.',
      auth: 'device',
      responses: { 200: z.object({ success: z.literal(true), to: z.string(), state: presenceState }) },
      errors: liveErrors,
    }),
    body(presenceInput),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { to, state } = c.req.valid('json');
      await relay(c.env, device.hostId, 'chat.presence', { deviceId: device.id, to: to.jid, state }).catch(rethrow);
      return c.json({ success: true as const, to: to.number, state });
    },
  )
  .get(
    '/:deviceId/profile-picture',
    endpoint({
      summary: "A contact's or group's profile picture",
      description: 'url is null when there is none, or its owner hides it from this device.',
      auth: 'device',
      responses: { 200: z.object({ url: z.string().nullable() }) },
      errors: liveErrors,
    }),
    query(pictureQuery),
    async (c) => {
      const device = await deviceFor(c.var.db, c.var.caller, c.req.param('deviceId'));
      const { number } = c.req.valid('query');
      const { url } = await relay(c.env, device.hostId, 'chat.profilePicture', { deviceId: device.id, jid: number.jid }).catch(rethrow);
      return c.json({ url });
    },
  );

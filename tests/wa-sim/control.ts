// A small HTTP control API for the simulator, for the demo and for manual testing: play the phone
// (scan, pairing code), add contacts and groups, inject incoming messages, read what clients sent,
// send receipts and trigger faults. Served on the simulator's own port, beside the WebSocket.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { OutgoingMessage, WaSim } from './sim.ts';

const phone = z.string().regex(/^\+?[\d\s-]{6,20}$/, 'a phone number in international format');
const disconnectKind = z.union([z.enum(['restart', 'replaced', 'loggedOut', 'streamEnd', 'close', 'silence']), z.string().regex(/^failure:\d{3}$/)]);

const schemas = {
  scan: z.object({ qr: z.string().min(1), phone: phone.optional(), name: z.string().min(1).optional() }),
  pairingCode: z.object({ code: z.string().length(8), phone: phone.optional(), name: z.string().min(1).optional() }),
  contact: z.object({ phone: phone.optional(), name: z.string().min(1).optional() }),
  group: z.object({ subject: z.string().min(1), participants: z.array(phone).min(1), id: z.string().optional() }),
  incoming: z.object({ to: z.string().min(1), from: phone, text: z.string().min(1), group: z.string().optional() }),
  receipt: z.object({ id: z.string().min(1), type: z.enum(['delivery', 'read', 'played']) }),
  fault: z.object({ device: z.string().min(1), kind: disconnectKind }),
};

class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function body<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new ControlError(400, 'body is not valid JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ControlError(400, z.prettifyError(parsed.error));
  return parsed.data;
}

const digits = (value: string) => value.replace(/\D/g, '');

/** What a client sent, as JSON: media bytes in base64 with their size and hash. */
export function outgoingJson(m: OutgoingMessage) {
  return {
    id: m.id,
    to: m.to,
    from: m.from,
    type: m.type,
    at: m.at,
    text: m.text,
    error: m.error,
    media: m.media && {
      type: m.media.type,
      mimetype: m.media.mimetype,
      fileName: m.media.fileName,
      caption: m.media.caption,
      ptt: m.media.ptt,
      seconds: m.media.seconds,
      waveform: m.media.waveform && [...m.media.waveform],
      animated: m.media.animated,
      viewOnce: m.media.viewOnce,
      size: m.media.bytes.length,
      sha256: createHash('sha256').update(m.media.bytes).digest('hex'),
      base64: m.media.bytes.toString('base64'),
    },
  };
}

async function route(sim: WaSim, req: IncomingMessage, url: URL): Promise<unknown> {
  const key = `${req.method} ${url.pathname}`;
  switch (key) {
    case 'GET /api/state':
      return {
        wsUrl: sim.wsUrl,
        rootPublicKey: sim.rootPublicKey,
        mediaHost: sim.media.host,
        devices: sim.devices,
        waitingForScan: sim.pendingRegistrations.length,
        contacts: [...sim.people.values()].map((p) => ({ phone: p.phone, lid: p.lid, name: p.name, linkedDevices: p.companions.size })),
        groups: [...sim.groups.values()].map((g) => ({ id: `${g.id}@g.us`, subject: g.subject, participants: g.participants })),
      };
    case 'POST /api/scan': {
      const { qr, phone: number, name } = await body(req, schemas.scan);
      return sim.scanQr(qr, { phone: number && digits(number), name });
    }
    case 'POST /api/pairing-code': {
      const { code, phone: number, name } = await body(req, schemas.pairingCode);
      return sim.enterPairingCode(code.toUpperCase(), number && digits(number), name);
    }
    case 'POST /api/contacts': {
      const { phone: number, name } = await body(req, schemas.contact);
      const person = sim.addContact({ phone: number && digits(number), name });
      return { phone: person.phone, lid: person.lid, name: person.name, jid: person.jid };
    }
    case 'POST /api/groups': {
      const { subject, participants, id } = await body(req, schemas.group);
      const group = sim.addGroup({ subject, participants: participants.map(digits), id });
      return { id: `${group.id}@g.us`, subject: group.subject, participants: group.participants };
    }
    case 'POST /api/incoming': {
      const { to, from, text, group } = await body(req, schemas.incoming);
      return sim.sendIncoming(to.includes('@') ? to : digits(to), digits(from), text, { group });
    }
    case 'GET /api/outbox': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return { messages: sim.outbox.slice(Number.isFinite(since) ? since : 0).map(outgoingJson), next: sim.outbox.length };
    }
    case 'POST /api/receipts': {
      const { id, type } = await body(req, schemas.receipt);
      sim.sendReceipt(id, type);
      return { ok: true };
    }
    case 'POST /api/faults': {
      const { device, kind } = await body(req, schemas.fault);
      sim.disconnect(device, kind as Parameters<WaSim['disconnect']>[1]);
      return { ok: true };
    }
  }
  throw new ControlError(404, `no route ${key}`);
}

export async function handleControl(sim: WaSim, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  let status = 200;
  let payload: unknown;
  try {
    payload = await route(sim, req, url);
  } catch (error) {
    // The simulator's own refusals (unknown QR, no such device…) are the caller's mistake: 400.
    status = error instanceof ControlError ? error.status : 400;
    payload = { error: (error as Error).message };
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
}

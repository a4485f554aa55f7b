// The offline demo (`npm run demo`) has no phone to scan a QR code with: when the Worker is given
// the WhatsApp simulator's control URL (DEMO_SIM_URL), the dashboard can ask the simulator to play
// the phone. Without it the scan route answers 404, as if it did not exist.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { findDevice } from '../api/devices.ts';
import { endpoint } from '../api/openapi.ts';
import type { AppEnv } from '../env.ts';

// A development-only variable, so it is not among the generated bindings.
const simulatorUrl = (env: Env) => (env as { DEMO_SIM_URL?: string }).DEMO_SIM_URL?.replace(/\/+$/, '') || undefined;

const scanned = z.looseObject({
  deviceJid: z.string().meta({ examples: ['628100000001:1@s.whatsapp.net'] }),
  lid: z.string(),
  phone: z.string().meta({ description: "The simulated phone's number", examples: ['628100000001'] }),
});

export const demo = new Hono<AppEnv>()
  .get('/', endpoint({ summary: 'Whether the simulator demo is on', auth: 'admin', responses: { 200: z.object({ enabled: z.boolean().meta({ description: 'True under npm run demo' }) }) } }), (c) =>
    c.json({ enabled: simulatorUrl(c.env) !== undefined }),
  )
  .post(
    '/devices/:id/scan',
    endpoint({
      summary: "Have the WhatsApp simulator scan a device's QR code",
      description: 'Only under npm run demo (the Worker has DEMO_SIM_URL); otherwise 404.',
      auth: 'admin',
      responses: { 200: scanned },
      errors: {
        400: 'The simulator refused the QR code (it may have just been renewed: try again)',
        404: 'No such device, or the demo is off',
        409: 'The device shows no QR code',
        502: 'The simulator could not be reached',
      },
    }),
    async (c) => {
      const sim = simulatorUrl(c.env);
      if (!sim) throw new HTTPException(404, { message: 'Not found' });
      const device = await findDevice(c.var.db, c.req.param('id'));
      if (!device.qr) throw new HTTPException(409, { message: `Device ${device.id} shows no QR code: connect it first` });

      const res = await fetch(`${sim}/api/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: device.qr, name: device.name }) }).catch(() => {
        throw new HTTPException(502, { message: 'The WhatsApp simulator could not be reached' });
      });
      const answer = (await res.json().catch(() => null)) as { error?: unknown } | null;
      if (!answer) throw new HTTPException(502, { message: `The WhatsApp simulator answered ${res.status} without JSON` });
      if (!res.ok) throw new HTTPException(res.status < 500 ? 400 : 502, { message: `The simulator refused the scan: ${String(answer.error ?? res.status)}` });
      return c.json(answer);
    },
  );

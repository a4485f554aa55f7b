// The offline demo (`npm run demo`) has no phone to scan a QR code with: when the Worker is given
// the WhatsApp simulator's control URL (DEMO_SIM_URL), the dashboard can ask the simulator to play
// the phone. Without it the scan route answers 404, as if it did not exist. Being a development
// aid and not part of the API, these routes stay out of the OpenAPI document (no endpoint()).
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { findDevice } from '../api/devices.ts';
import { requireKey } from '../auth.ts';
import type { AppEnv } from '../env.ts';

// A development-only variable, so it is not among the generated bindings.
const simulatorUrl = (env: Env) => (env as { DEMO_SIM_URL?: string }).DEMO_SIM_URL?.replace(/\/+$/, '') || undefined;

export const demo = new Hono<AppEnv>()
  .use(requireKey('admin'))
  .get('/', (c) => c.json({ enabled: simulatorUrl(c.env) !== undefined }))
  .post('/devices/:id/scan', async (c) => {
    const sim = simulatorUrl(c.env);
    if (!sim) throw new HTTPException(404, { message: 'Not found' });
    const device = await findDevice(c.var.db, c.req.param('id'));
    if (!device.qr) throw new HTTPException(409, { message: `Device ${device.id} shows no QR code: connect it first` });

    const res = await fetch(`${sim}/api/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: device.qr }) }).catch(() => {
      throw new HTTPException(502, { message: 'The WhatsApp simulator could not be reached' });
    });
    const answer = (await res.json().catch(() => null)) as { error?: unknown } | null;
    if (!answer) throw new HTTPException(502, { message: `The WhatsApp simulator answered ${res.status} without JSON` });
    // A QR that rotated or expired meanwhile is refused with a 4xx: the caller may simply retry.
    if (!res.ok) throw new HTTPException(res.status < 500 ? 400 : 502, { message: `The simulator refused the scan: ${String(answer.error ?? res.status)}` });
    return c.json(answer);
  });

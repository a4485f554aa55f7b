// API keys. The admin key (env.ADMIN_KEY) acts on everything; a device key (`wa_` + 32 hex)
// acts only on its own device and is stored only as its SHA-256 hash plus a masked form.
import { eq } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { randomHex, sameSecret, sha256Hex } from './crypto.ts';
import { devicesTable, type Device } from './db/schema.ts';
import type { AppEnv, DB } from './env.ts';
import { errorBody } from './errors.ts';
import { clientOf } from './key-guard.ts';

export type Caller = { admin: true } | { admin: false; device: Device };
export type KeyLevel = 'device' | 'admin';

const DEVICE_KEY = /^wa_[0-9a-f]{32}$/;

export const newDeviceKey = () => `wa_${randomHex(16)}`;
export const hashKey = sha256Hex;
export const maskKey = (key: string) => `${key.slice(0, 7)}…${key.slice(-4)}`;

/** Who an `Authorization` header (`<key>` as Fonnte sends it, or `Bearer <key>`) belongs to, if anyone. */
export async function authenticate(db: DB, env: Env, header: string | undefined): Promise<Caller | null> {
  const key = header?.replace(/^Bearer\s+/i, '').trim();
  if (!key) return null;
  if (env.ADMIN_KEY && (await sameSecret(key, env.ADMIN_KEY))) return { admin: true };
  if (!DEVICE_KEY.test(key)) return null;
  const [device] = await db
    .select()
    .from(devicesTable)
    .where(eq(devicesTable.apiKeyHash, await hashKey(key)));
  return device ? { admin: false, device } : null;
}

export const UNAUTHORIZED = 'Unauthorized: Invalid API Key.';

/**
 * A wrong key as the error to throw: 401, or 429 with Retry-After once the client has got too
 * many wrong (key-guard.ts). A missing key is no guess and is not counted.
 */
async function refused(env: Env, request: Request, path: string, header: string | undefined): Promise<HTTPException> {
  if (!header?.replace(/^Bearer\s*/i, '').trim()) return new HTTPException(401, { message: UNAUTHORIZED });
  const wait = await env.KEY_GUARD.getByName(clientOf(request)).failed();
  if (!wait) return new HTTPException(401, { message: UNAUTHORIZED });
  const res = Response.json(errorBody(path, `Too many wrong API keys: try again in ${wait} s`), { status: 429, headers: { 'retry-after': String(wait) } });
  return new HTTPException(429, { res });
}

export function requireKey(level: KeyLevel): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const caller = await authenticate(c.var.db, c.env, header);
    if (!caller) throw await refused(c.env, c.req.raw, c.req.path, header);
    if (level === 'admin' && !caller.admin) throw new HTTPException(403, { message: 'Forbidden: this route needs the admin key' });
    c.set('caller', caller);
    await next();
  };
}

/**
 * The device a request acts on. A device key may only name its own device (any other id is
 * refused before any lookup, so nothing about other devices leaks); the admin key must name one.
 */
export async function deviceFor(db: DB, caller: Caller, deviceId: string | undefined): Promise<Device> {
  if (!caller.admin) {
    if (deviceId !== undefined && deviceId !== caller.device.id) {
      throw new HTTPException(403, { message: 'Forbidden: this API key belongs to another device' });
    }
    return caller.device;
  }
  if (!deviceId) throw new HTTPException(400, { message: 'deviceId: required with the admin key (a device key sends from its own device)' });
  const [device] = await db.select().from(devicesTable).where(eq(devicesTable.id, deviceId));
  if (!device) throw new HTTPException(404, { message: `Device not found: ${deviceId}` });
  return device;
}

// API keys. The admin key (env.ADMIN_KEY) acts on everything; a device key (`wa_` + 32 hex)
// acts only on its own device and is stored only as its SHA-256 hash plus a masked form.
import { eq } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { randomHex, sameSecret, sha256Hex } from './crypto.ts';
import { devicesTable, type Device } from './db/schema.ts';
import type { AppEnv, DB } from './env.ts';
import { errorBody } from './errors.ts';
import { clientOf } from './key-guard.ts';

export type Caller = { admin: true } | { admin: false; device: Device };
/** Where a device lives: all the send path needs of it. A device never changes host. */
export type DeviceRef = Pick<Device, 'id' | 'hostId'>;
/**
 * The caller of a send route. A device key's device comes from this isolate's cache when it can
 * (then its HostLink checks the key as part of the send), else from D1 (`learned`: the key hash
 * D1 holds, which the HostLink takes for a device it has no record of).
 */
export type Sender = { admin: true } | { admin: false; keyHash: string; device: DeviceRef; learned?: string };
/** `sender`: a device key (or the admin key), checked by the device's HostLink as part of the send, with no D1 read. */
export type KeyLevel = 'device' | 'sender' | 'admin';

const DEVICE_KEY = /^wa_[0-9a-f]{32}$/;

export const newDeviceKey = () => `wa_${randomHex(16)}`;
export const hashKey = sha256Hex;
export const maskKey = (key: string) => `${key.slice(0, 7)}…${key.slice(-4)}`;

const bearer = (header: string | undefined) => header?.replace(/^Bearer\s+/i, '').trim();

/**
 * The key an `Authorization` header (`<key>` as Fonnte sends it, or `Bearer <key>`) holds: the
 * admin key, or the hash of what could be a device key; null for neither.
 */
async function keyIn(env: Env, header: string | undefined): Promise<{ admin: true } | { admin: false; keyHash: string } | null> {
  const key = bearer(header);
  if (!key) return null;
  if (env.ADMIN_KEY && (await sameSecret(key, env.ADMIN_KEY))) return { admin: true };
  return DEVICE_KEY.test(key) ? { admin: false, keyHash: await hashKey(key) } : null;
}

/** Who an `Authorization` header belongs to, if anyone. */
export async function authenticate(db: DB, env: Env, header: string | undefined): Promise<Caller | null> {
  const key = await keyIn(env, header);
  if (!key || key.admin) return key;
  const [device] = await db.select().from(devicesTable).where(eq(devicesTable.apiKeyHash, key.keyHash));
  return device ? { admin: false, device } : null;
}

export const UNAUTHORIZED = 'Unauthorized: Invalid API Key.';

/**
 * The request's wrong key as the error to throw: 401, or 429 with Retry-After once the client has
 * got too many wrong (key-guard.ts). A missing key is no guess and is not counted.
 */
export async function unauthorized(env: Env, request: Request): Promise<HTTPException> {
  if (
    !request.headers
      .get('authorization')
      ?.replace(/^Bearer\s*/i, '')
      .trim()
  )
    return new HTTPException(401, { message: UNAUTHORIZED });
  const wait = await env.KEY_GUARD.getByName(clientOf(request)).failed();
  if (!wait) return new HTTPException(401, { message: UNAUTHORIZED });
  const message = `Too many wrong API keys: try again in ${wait} s`;
  const res = Response.json(errorBody(new URL(request.url).pathname, message), { status: 429, headers: { 'retry-after': String(wait) } });
  return new HTTPException(429, { res });
}

// Per isolate, and only hints: a device key's hash to its device, and a device to its host. A
// regenerated or deleted key is refused by the HostLink whatever an isolate still holds here.
const CACHED = 10_000;
const deviceByKey = new Map<string, DeviceRef>();
const hostOfDevice = new Map<string, string | null>();
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  // Oldest first out: a Map iterates in insertion order.
  if (cache.size > CACHED) cache.delete(cache.keys().next().value!);
}

/** Forgets what this isolate knows of a key hash (the HostLink refused it, or the admin API changed it). */
export const forgetKey = (keyHash: string) => deviceByKey.delete(keyHash);

/** A device key's device, read from D1 (and cached for the next send); undefined if no device has it. */
export async function senderFromD1(db: DB, keyHash: string): Promise<Sender | undefined> {
  const [device] = await db.select({ id: devicesTable.id, hostId: devicesTable.hostId }).from(devicesTable).where(eq(devicesTable.apiKeyHash, keyHash));
  if (!device) return undefined;
  remember(deviceByKey, keyHash, device);
  remember(hostOfDevice, device.id, device.hostId);
  return { admin: false, keyHash, device, learned: keyHash };
}

/** A device the admin key names, with its key hash if read from D1 now; a 404 if there is none. */
export async function adminTarget(db: DB, deviceId: string, fresh = false): Promise<{ device: DeviceRef; learned?: string }> {
  const hostId = fresh ? undefined : hostOfDevice.get(deviceId);
  if (hostId !== undefined) return { device: { id: deviceId, hostId } };
  const [device] = await db.select({ id: devicesTable.id, hostId: devicesTable.hostId, keyHash: devicesTable.apiKeyHash }).from(devicesTable).where(eq(devicesTable.id, deviceId));
  if (!device) throw new HTTPException(404, { message: `Device not found: ${deviceId}` });
  remember(hostOfDevice, device.id, device.hostId);
  return { device: { id: device.id, hostId: device.hostId }, learned: device.keyHash };
}

/** The sender a key is, if it is one: no D1 read for a key this isolate has seen. */
async function senderOf(c: Context<AppEnv>, header: string): Promise<Sender | undefined> {
  const key = await keyIn(c.env, header);
  if (!key) return undefined;
  const device = key.admin ? undefined : deviceByKey.get(key.keyHash);
  return key.admin ? key : device ? { ...key, device } : await senderFromD1(c.var.db, key.keyHash);
}

/**
 * Refuses a wrong key before anything else, and sets `sender`. Fonnte's rotator, several device
 * keys comma-separated, sets `rotator` too (every one must be a device's key; the first is `sender`).
 */
function requireSender(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // Fonnte's URL API (GET /send) carries the key as `token` in the query.
    const header = c.req.header('authorization') ?? (c.req.method === 'GET' ? c.req.query('token') : undefined);
    const keys = header?.includes(',') && c.req.path === '/send' ? header.split(',').map((k) => k.trim()) : [header ?? ''];
    const senders = await Promise.all(keys.map((key) => senderOf(c, key)));
    if (senders.some((s) => !s || (keys.length > 1 && s.admin))) throw await unauthorized(c.env, c.req.raw);
    c.set('sender', senders[0]!);
    if (senders.length > 1) c.set('rotator', senders as Sender[]);
    await next();
  };
}

export function requireKey(level: KeyLevel): MiddlewareHandler<AppEnv> {
  if (level === 'sender') return requireSender();
  return async (c, next) => {
    const caller = await authenticate(c.var.db, c.env, c.req.header('authorization'));
    if (!caller) throw await unauthorized(c.env, c.req.raw);
    if (level === 'admin' && !caller.admin) throw new HTTPException(403, { message: 'Forbidden: this route needs the admin key' });
    c.set('caller', caller);
    await next();
  };
}

/**
 * The id of the device a request acts on: a device key's own (`own`), which it may name but no
 * other (403, before any lookup, so nothing about other devices leaks); the admin key's must be named (400).
 */
export function namedDevice(own: string | undefined, deviceId: string | undefined): string {
  if (own !== undefined) {
    if (deviceId !== undefined && deviceId !== own) throw new HTTPException(403, { message: 'Forbidden: this API key belongs to another device' });
    return own;
  }
  if (!deviceId) throw new HTTPException(400, { message: 'deviceId: required with the admin key (a device key sends from its own device)' });
  return deviceId;
}

/** The device a request acts on, read from D1 for the admin key (see `namedDevice`). */
export async function deviceFor(db: DB, caller: Caller, deviceId: string | undefined): Promise<Device> {
  if (!caller.admin) {
    namedDevice(caller.device.id, deviceId);
    return caller.device;
  }
  const [device] = await db
    .select()
    .from(devicesTable)
    .where(eq(devicesTable.id, namedDevice(undefined, deviceId)));
  if (!device) throw new HTTPException(404, { message: `Device not found: ${deviceId}` });
  return device;
}

// Requests to the Worker under test, as API clients make them.
import { env, exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { until as poll } from '../support/until.ts';

export const ADMIN_KEY = env.ADMIN_KEY;

type Options = {
  key?: string;
  /** Sent as JSON, unless `form` (urlencoded) or `multipart` says otherwise. */
  json?: unknown;
  form?: Record<string, string>;
  multipart?: FormData;
  headers?: Record<string, string>;
  body?: BodyInit;
};

export async function call(method: string, path: string, options: Options = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = options.key;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = new URLSearchParams(options.form);
  } else if (options.multipart) {
    body = options.multipart;
  }
  const res = await exports.default.fetch(`http://gateway.test${path}`, { method, headers, body });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: (await res.json()) as any };
}

export const admin = (method: string, path: string, options: Omit<Options, 'key'> = {}) => call(method, path, { ...options, key: `Bearer ${ADMIN_KEY}` });

/** A new device, as the admin API creates it: with its full key. */
export async function newDevice(name = 'Test device', extra: Record<string, unknown> = {}) {
  const { status, body } = await admin('POST', '/api/devices', { json: { name, ...extra } });
  expect(status).toBe(201);
  return body as { id: string; apiKey: string; name: string; webhookSecret: string; hostId: string | null };
}

/** Waits for `check` inside the runtime: the HostLink's work is quick, so look often and not for long. */
export const until = <T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 10_000) => poll(check, what, timeoutMs, 20);

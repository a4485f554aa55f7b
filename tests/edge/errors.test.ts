import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it, vi } from 'vitest';
import type { AppEnv } from '../../edge/env.ts';
import { notFound, onError } from '../../edge/errors.ts';

const app = new Hono<AppEnv>()
  .get('/expected', () => {
    throw new HTTPException(401, { message: 'Unauthorized: Invalid API Key.' });
  })
  .get('/custom', () => {
    const res = Response.json({ status: false, reason: 'Unauthorized: Invalid API Key.' }, { status: 401 });
    throw new HTTPException(401, { res });
  })
  .get('/unexpected', () => {
    throw new Error('no such table: secrets');
  });
app.onError(onError);
app.notFound(notFound);

describe('error handling', () => {
  it('answers an HTTPException with its status and message', async () => {
    const res = await app.request('/expected');
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'Unauthorized: Invalid API Key.' });
  });

  it('answers an HTTPException that carries a response with that response', async () => {
    const res = await app.request('/custom');
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ status: false, reason: 'Unauthorized: Invalid API Key.' });
  });

  it('hides unexpected errors behind a logged 500', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await app.request('/unexpected');
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"Internal Server Error"}');
    expect(log).toHaveBeenCalledOnce();
    log.mockRestore();
  });
});

import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';

const get = (path: string) => exports.default.fetch(`http://gateway.test${path}`);

describe('edge app', () => {
  it('answers /healthz', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await get('/no/such/route');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: 'Not found' });
  });

  // The asset router sits in front of the Worker and is not reachable through `exports`;
  // the binding serves the same files. Needs the dashboard build (`npm test` runs it).
  it('serves the dashboard from the static assets', async () => {
    const res = await env.ASSETS.fetch('http://gateway.test/');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<wa-app></wa-app>');
  });
});

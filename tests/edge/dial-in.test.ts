// Where hosts dial in, in the Workers runtime: which hosts may, and what a refusal says. The whole
// handshake, with a real host process, is tests/e2e/dial-out.test.ts.
import { describe, expect, it } from 'vitest';
import { call } from './client.ts';

describe('GET /link/<host id>', () => {
  it('is a 404 for a host nobody registered, without waking a Durable Object for it', async () => {
    const res = await call('GET', '/link/host_nobody/challenge');
    expect(res.status).toBe(404);
    expect(res.body.error).toContain('No session host with id host_nobody');
  });

  it('refuses a dial-in for a host the edge dials through its URL (here the default host, HOST_URL)', async () => {
    const res = await call('GET', '/link/default/challenge');
    expect(res.status).toBe(409);
    expect(res.body.error).toContain('registered with a URL, so the edge dials it');
  });
});

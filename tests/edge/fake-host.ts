// A session host stand-in for in-runtime tests. The HostLink dials HOST_URL with fetch; tests
// that need a live host answer that fetch with one end of a WebSocketPair and play the host on
// the other: the signed welcome, then a reply to each request from `handlers`.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import { hostProofMessage, LINK_HEADERS, type DeviceState, type Method, type Params, type Result } from '../../session-host/link/protocol.ts';

type Handler<M extends Method> = (params: Params<M>) => Result<M> | Promise<Result<M>>;
export type Handlers = { [M in Method]?: Handler<M> };

/** A failure the fake host answers with, as the real one does with a LinkError. */
export class HostFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function hmacHex(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return [...new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export const deviceState = (id: string, changes: Partial<DeviceState> = {}): DeviceState => ({
  id,
  status: 'DISCONNECTED',
  qr: null,
  phoneNumber: null,
  pushName: null,
  totalMessagesSent: 0,
  reason: null,
  ...changes,
});

// What the HostLink itself asks on every (re)connect.
const linkDefaults: Handlers = {
  'host.status': () => ({ publicUrl: null, devices: [] }),
  'device.upsert': (settings) => deviceState(settings.id),
};

export function fakeHost(custom: Handlers, publicUrl: string | null = 'https://wa.example.test') {
  const handlers: Handlers = { ...linkDefaults, 'host.status': () => ({ publicUrl, devices: [] }), ...custom };
  const sockets: WebSocket[] = [];
  const requests: { method: string; params: unknown }[] = [];
  const realFetch = globalThis.fetch;
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin !== new URL(env.HOST_URL).origin) return realFetch(input, init);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    sockets.push(server);
    const nonce = crypto.randomUUID().replaceAll('-', '');
    const sig = await hmacHex(env.HOST_SECRET!, hostProofMessage(request.headers.get(LINK_HEADERS.nonce)!, nonce));
    server.send(JSON.stringify({ type: 'welcome', nonce, sig, publicUrl }));
    server.addEventListener('message', (event) => {
      const { id, method, params } = JSON.parse(String(event.data));
      requests.push({ method, params });
      const handler = handlers[method as Method] as ((p: unknown) => unknown) | undefined;
      Promise.resolve()
        .then(() => {
          if (!handler) throw new HostFailure('bad_request', `unknown method ${method}`);
          return handler(params);
        })
        .then(
          (result) => ({ id, ok: true, result }),
          (error: Error) => ({ id, ok: false, error: { code: error instanceof HostFailure ? error.code : 'internal', message: error.message } }),
        )
        .then((reply) => server.readyState === WebSocket.OPEN && server.send(JSON.stringify(reply)));
    });
    return new Response(null, { status: 101, webSocket: client });
  });
  return {
    requests,
    /** Drops the link, as a host that goes away does (from inside the HostLink: its I/O is its own). */
    async stop() {
      spy.mockRestore();
      await runInDurableObject(env.HOST_LINK.getByName(DEFAULT_HOST_ID), () => {
        for (const socket of sockets) socket.close(1001, 'host going away');
      });
    },
  };
}

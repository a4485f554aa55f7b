// A session host stand-in for in-runtime tests. The HostLink dials HOST_URL with fetch; tests
// that need a live host answer that fetch with one end of a WebSocketPair and play the host on
// the other: a challenge, the dialler's proof checked over it, the signed welcome, then a reply
// to each request from `handlers`. It uses the protocol's own acceptor helpers, as the host does.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { DEFAULT_HOST_ID } from '../../edge/link/host-link.ts';
import { Challenges, checkDial, LINK_PATHS, welcomeFor, type DeviceState, type Method, type Params, type Result } from '../../session-host/link/protocol.ts';

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

export interface FakeHostOptions {
  /** Event frames sent right behind the welcome, as the real host sends what the edge has not acknowledged. */
  backlog?: object[];
}

export function fakeHost(custom: Handlers, publicUrl: string | null = 'https://wa.example.test', options: FakeHostOptions = {}) {
  const handlers: Handlers = { ...linkDefaults, 'host.status': () => ({ publicUrl, devices: [] }), ...custom };
  const sockets: WebSocket[] = [];
  const requests: { method: string; params: unknown }[] = [];
  /** The `{ack}` frames the HostLink sent, in order. */
  const acks: number[] = [];
  const challenges = new Challenges();
  const realFetch = globalThis.fetch;
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin !== new URL(env.HOST_URL).origin) return realFetch(input, init);
    if (new URL(request.url).pathname === LINK_PATHS.challenge) return Response.json(challenges.issue());
    const check = await checkDial(env.HOST_SECRET!, 'edge', challenges, (name) => request.headers.get(name));
    if (!check.ok) return new Response(`link refused: ${check.reason}`, { status: 401 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    sockets.push(server);
    server.send(JSON.stringify(await welcomeFor(env.HOST_SECRET!, 'host', check.challenge, check.nonce, publicUrl)));
    for (const frame of options.backlog ?? []) server.send(JSON.stringify(frame));
    server.addEventListener('message', (event) => {
      const frame = JSON.parse(String(event.data));
      if (typeof frame.ack === 'number') return void acks.push(frame.ack);
      const { id, method, params } = frame;
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
    acks,
    /** Drops the link, as a host that goes away does (from inside the HostLink: its I/O is its own). */
    async stop() {
      spy.mockRestore();
      await runInDurableObject(env.HOST_LINK.getByName(DEFAULT_HOST_ID), () => {
        for (const socket of sockets) socket.close(1001, 'host going away');
      });
    },
  };
}

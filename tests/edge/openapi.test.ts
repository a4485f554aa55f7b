import { beforeAll, describe, expect, it } from 'vitest';
import app from '../../edge/index.ts';
import { call } from './client.ts';

type Operation = {
  summary: string;
  security: Record<string, string[]>[];
  parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: any }> };
  responses: Record<string, { description: string; content: { 'application/json': { schema: any } } }>;
};
let doc: { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, Operation>>; components: any };
const op = (method: string, path: string) => doc.paths[path]?.[method] as Operation;

beforeAll(async () => {
  const { status, body } = await call('GET', '/api/openapi.json');
  expect(status).toBe(200);
  doc = body;
});

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document, served without a key', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: 'http://gateway.test' }]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminKey', 'deviceKey']);
    for (const scheme of Object.values<any>(doc.components.securitySchemes)) expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization' });
  });

  it('documents every route of the API', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(
      [
        'POST /send',
        'GET /send',
        'POST /api/send-message',
        'POST /api/send-media',
        'POST /api/send-location',
        'POST /api/send-contact',
        'POST /api/send-poll',
        'POST /api/send-reaction',
        'GET /api/messages',
        'GET /api/messages/{id}',
        'PATCH /api/messages/{id}',
        'DELETE /api/messages/{id}',
        'GET /api/status',
        'GET /api/devices',
        'POST /api/devices',
        'GET /api/devices/{id}',
        'PATCH /api/devices/{id}',
        'DELETE /api/devices/{id}',
        'POST /api/devices/{id}/token',
        'POST /api/devices/{id}/connect',
        'POST /api/devices/{id}/disconnect',
        'POST /api/devices/{id}/logout',
        'POST /api/devices/{id}/pairing-code',
        'GET /api/devices/{deviceId}/wa-groups',
        // Chat operations and WhatsApp group management.
        'POST /api/devices/{deviceId}/check-numbers',
        'POST /api/devices/{deviceId}/read',
        'POST /api/devices/{deviceId}/presence',
        'GET /api/devices/{deviceId}/profile-picture',
        'POST /api/devices/{deviceId}/wa-groups',
        'POST /api/devices/{deviceId}/wa-groups/join',
        'GET /api/devices/{deviceId}/wa-groups/{groupId}',
        'PATCH /api/devices/{deviceId}/wa-groups/{groupId}',
        'POST /api/devices/{deviceId}/wa-groups/{groupId}/participants',
        'GET /api/devices/{deviceId}/wa-groups/{groupId}/invite-link',
        'POST /api/devices/{deviceId}/wa-groups/{groupId}/invite-link/revoke',
        'POST /api/devices/{deviceId}/wa-groups/{groupId}/leave',
        // Webhook deliveries.
        'GET /api/devices/{deviceId}/webhooks',
        'POST /api/devices/{deviceId}/webhooks/{deliveryId}/retry',
        'GET /api/contacts',
        'POST /api/contacts',
        'PATCH /api/contacts/{id}',
        'DELETE /api/contacts/{id}',
        'GET /api/groups',
        'POST /api/groups',
        'PATCH /api/groups/{id}',
        'DELETE /api/groups/{id}',
        'POST /api/broadcasts',
        'GET /api/broadcasts',
        'GET /api/broadcasts/{id}',
        'DELETE /api/broadcasts/{id}',
        'GET /api/hosts',
        'POST /api/hosts',
        'PATCH /api/hosts/{id}',
        'DELETE /api/hosts/{id}',
        'GET /api/chats',
        'GET /api/chats/{chat}/messages',
        'GET /api/demo',
        'POST /api/demo/devices/{id}/scan',
        'GET /api/openapi.json',
        'GET /api/media/{deviceId}/{messageId}',
        'GET /api/events',
        'POST /api/events/ticket',
        'GET /api/stats/daily',
        // Fonnte's other endpoints, at Fonnte's paths.
        'POST /validate',
        'POST /device',
        'GET /device',
        'POST /qr',
        'POST /disconnect',
        'POST /get-whatsapp-group',
        'GET /get-whatsapp-group',
        'POST /fetch-group',
        'POST /status',
        'POST /delete-message',
        'POST /reset-message',
        'POST /typing',
        'POST /get-devices',
        'GET /get-devices',
        'POST /add-device',
        'POST /update-device',
        'POST /delete-device',
      ].sort(),
    );
  });

  it('cannot miss a route the app serves', () => {
    // Not the API: /healthz, and /link/…, where session hosts dial in with the link's own proof.
    const served = new Set(app.routes.filter((r) => r.method !== 'ALL' && r.path !== '/healthz' && !r.path.startsWith('/link/')).map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
    for (const route of served) {
      const [method, path] = route.split(' ') as [string, string];
      expect(op(method, path), route).toBeDefined();
    }
  });

  it('says which key each route takes', () => {
    const both = [{ deviceKey: [] }, { adminKey: [] }];
    expect(op('post', '/send').security).toEqual(both);
    expect(op('get', '/api/status').security).toEqual(both);
    expect(op('get', '/api/devices/{deviceId}/wa-groups').security).toEqual(both);
    expect(op('post', '/api/devices').security).toEqual([{ adminKey: [] }]);
    expect(op('post', '/validate').security).toEqual(both);
    expect(op('post', '/add-device').security).toEqual([{ adminKey: [] }]);
    expect(op('post', '/api/devices').responses['403']).toBeDefined();
    expect(op('get', '/api/openapi.json').security).toEqual([]);
  });

  it('documents the media download as a file, with a key or a signed link instead', () => {
    const download = op('get', '/api/media/{deviceId}/{messageId}');
    expect(download.security).toEqual([{ deviceKey: [] }, { adminKey: [] }, {}]);
    expect(download.responses['200']!.content).toEqual({ '*/*': { schema: { type: 'string', format: 'binary' } } });
    expect(download.parameters!.map((p) => `${p.in} ${p.name}`)).toEqual(['path deviceId', 'path messageId', 'query expires', 'query sig']);
    expect(Object.keys(download.responses)).toEqual(expect.arrayContaining(['401', '403', '404', '502']));
  });

  it('describes request bodies with the schemas that validate them', () => {
    const sendMessage = op('post', '/api/send-message').requestBody!.content['application/json']!.schema;
    expect(sendMessage.required).toEqual(['to', 'message']);
    expect(sendMessage.properties.to).toMatchObject({ type: 'string', description: expect.stringContaining('@g.us') });

    const sendMedia = op('post', '/api/send-media').requestBody!.content['application/json']!.schema;
    expect(sendMedia.properties.type).toEqual({
      default: 'image',
      type: 'string',
      enum: ['image', 'video', 'document', 'audio', 'voice', 'sticker'],
      description: expect.stringContaining('voice note'),
    });
    expect(sendMedia.properties.viewOnce).toMatchObject({ type: 'boolean' });
    expect(sendMedia.required).toEqual(['to', 'url']);

    const fonnte = op('post', '/send').requestBody!.content;
    expect(Object.keys(fonnte)).toEqual(['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data']);
    expect(Object.keys(fonnte['application/json']!.schema.properties)).toEqual(expect.arrayContaining(['target', 'to', 'message', 'url', 'filename', 'countryCode', 'deviceId']));

    expect(op('post', '/api/devices/{id}/pairing-code').requestBody!.content['application/json']!.schema.required).toEqual(['phone']);
  });

  it('describes path and query parameters', () => {
    expect(op('get', '/api/devices/{deviceId}/wa-groups').parameters).toEqual([{ name: 'deviceId', in: 'path', required: true, schema: { type: 'string' } }]);
    const limit = op('get', '/api/messages').parameters!.find((p) => p.name === 'limit')!;
    expect(limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } });
    expect(op('get', '/api/contacts').parameters!.map((p) => p.name)).toEqual(['q', 'groupId']);
  });

  it('describes the Idempotency-Key header on every route that honours it, and only there', () => {
    const withKey = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, operation]) => operation.parameters?.some((p) => p.name === 'Idempotency-Key' && p.in === 'header'))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(withKey.sort()).toEqual(['POST /api/send-contact', 'POST /api/send-location', 'POST /api/send-media', 'POST /api/send-message', 'POST /api/send-poll', 'POST /api/send-reaction', 'POST /send']);
  });

  it('describes responses, errors in the shape of their route family', () => {
    const json = (o: Operation, status: number) => o.responses[status]!.content['application/json'].schema;
    expect(json(op('get', '/api/status'), 200).properties.devices.items.required).toEqual([
      'id',
      'name',
      'apiKey',
      'webhookUrl',
      'status',
      'authenticated',
      'hasQr',
      'qr',
      'phoneNumber',
      'pushName',
      'totalMessagesSent',
    ]);
    expect(json(op('post', '/api/send-message'), 200).anyOf.map((s: { required: string[] }) => s.required)).toEqual([
      ['success', 'message', 'id', 'to', 'timestamp'],
      ['success', 'message', 'id', 'to', 'queued'],
    ]);
    expect(json(op('post', '/api/devices'), 201).properties.apiKey.description).toMatch(/not shown again/);

    expect(Object.keys(json(op('post', '/send'), 401).properties)).toEqual(['status', 'reason', 'detail', 'requestid']);
    expect(json(op('post', '/send'), 401).required).toEqual(['status', 'reason']);
    expect(json(op('post', '/api/send-message'), 503).properties).toEqual({ error: { type: 'string' } });
    expect(op('get', '/api/devices/{deviceId}/wa-groups').responses['503']!.description).toBe('Device is not connected or session not active');
    // Fonnte's other endpoints answer request errors and a wrong key with HTTP 200, as Fonnte does.
    const fonnteStyle = new Set([
      '/validate',
      '/device',
      '/qr',
      '/disconnect',
      '/get-whatsapp-group',
      '/fetch-group',
      '/status',
      '/delete-message',
      '/reset-message',
      '/typing',
      '/get-devices',
      '/add-device',
      '/update-device',
      '/delete-device',
    ]);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(ops)) {
        expect(o.responses['500'], `${method} ${path}`).toBeDefined();
        if (fonnteStyle.has(path)) {
          expect(Object.keys(o.responses), `${method} ${path}`).not.toEqual(expect.arrayContaining(['401']));
          expect(json(o, 200).anyOf.at(-1).properties.status, `${method} ${path}`).toEqual({ type: 'boolean', const: false });
          continue;
        }
        if (o.requestBody) expect(Object.keys(o.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '413', '415']));
        if (o.security.length) expect(o.responses['401'], `${method} ${path}`).toBeDefined();
      }
    }
  });
});

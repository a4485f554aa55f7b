// GET /api/openapi.json: built from the routes of the app it is mounted in, so it lists what
// the app actually serves.
import { Hono } from 'hono';
import { z } from 'zod';
import { endpoint, openApiDocument } from '../api/openapi.ts';
import type { AppEnv } from '../env.ts';

export function openApi(app: Hono<AppEnv>) {
  let document: ReturnType<typeof openApiDocument> | undefined;
  return new Hono<AppEnv>().get('/', endpoint({ summary: 'This document: the whole API as OpenAPI 3.1', auth: 'none', responses: { 200: z.looseObject({ openapi: z.literal('3.1.0') }) } }), (c) => {
    // Built once per isolate: the routes do not change after start-up.
    document ??= openApiDocument(app.routes, '');
    return c.json({ ...document, servers: [{ url: new URL(c.req.url).origin }] });
  });
}

// The API documentation, read from the gateway's own OpenAPI document (built from the very
// schemas that validate requests), so the dashboard cannot describe routes that do not exist.
import { request } from './http.ts';
import { Store, messageOf, type Remote } from './store.ts';

type Schema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  format?: string;
  anyOf?: Schema[];
};
type Operation = {
  summary: string;
  description?: string;
  security: Record<string, string[]>[];
  parameters?: { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: Schema; description?: string }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { description: string; content?: { 'application/json'?: { schema: Schema } } }>;
};
type OpenApi = { paths: Record<string, Record<string, Operation>> };

export interface Field {
  name: string;
  type: string;
  required: boolean;
  description: string;
}

export interface RouteDoc {
  id: string;
  method: string;
  /** As the seed writes it: /api/devices/:deviceId/wa-groups */
  path: string;
  summary: string;
  description?: string;
  /** Which key it takes: a device's (or the admin key), only the admin key, or none. */
  auth: 'device' | 'admin' | 'none';
  headers: Field[];
  pathParams: Field[];
  query: Field[];
  body: Field[];
  exampleBody?: Record<string, unknown>;
  successes: { status: string; example: unknown }[];
  errors: { status: string; description: string }[];
  errorExample: unknown;
}

export const docs = new Store<Remote<RouteDoc[]>>({ loading: true }, (watched) => {
  if (watched && !docs.value.data) void loadDocs();
});

export async function loadDocs(): Promise<void> {
  docs.set({ loading: true });
  try {
    docs.set({ data: routesOf(await request<OpenApi>('GET', '/api/openapi.json')), loading: false });
  } catch (error) {
    docs.set({ loading: false, error: messageOf(error) });
  }
}

// Example values where the schemas give none, in the seed's spirit (Indonesian numbers).
const NAMES: Record<string, string> = { devices: 'Main store', contacts: 'Budi', groups: 'Customers', hosts: 'Home server' };
function hint(field: string, path: string): unknown {
  switch (field) {
    case 'to':
    case 'target':
    case 'number':
    case 'phone':
      return '628123456789';
    case 'message':
      return 'Hello from WA Gateway';
    case 'caption':
      return 'Your invoice';
    case 'url':
      return path.startsWith('/api/hosts') ? 'https://wa-home.example.com' : 'https://placehold.co/600x400.png';
    case 'webhookUrl':
      return 'https://example.com/webhook';
    case 'secret':
      return 'YOUR_HOST_SECRET';
    case 'name':
      return NAMES[path.split('/')[2] ?? ''] ?? 'Name';
    case 'timestamp':
      return 1779348348;
    case 'id':
      return '3EB0C1B2D953E2FC3EC8';
  }
  return undefined;
}

const typeName = (t: string) => t.charAt(0).toUpperCase() + t.slice(1);

function typeOf(s: Schema): string {
  if (s.enum) return s.enum.map(String).join(' | ');
  if (s.anyOf) return [...new Set(s.anyOf.map(typeOf))].join(' or ');
  const types = Array.isArray(s.type) ? s.type : [s.type ?? 'any'];
  return types.map((t) => (t === 'array' && s.items ? `Array of ${typeOf(s.items)}` : typeName(t))).join(' or ');
}

function describe(s: Schema): string {
  const notes = [s.description];
  if (s.default !== undefined) notes.push(`Default: ${String(s.default)}.`);
  if (s.examples?.length) notes.push(`Example: ${String(s.examples[0])}.`);
  return notes.filter(Boolean).join(' ') || '—';
}

function example(s: Schema, path: string, field?: string): unknown {
  if (s.examples?.length) return s.examples[0];
  if ('const' in s) return s.const;
  if (s.default !== undefined) return s.default;
  const hinted = field && hint(field, path);
  if (hinted !== undefined) return hinted;
  if (s.enum) return s.enum[0];
  if (s.anyOf) return example(s.anyOf.find((o) => !('const' in o) && o.type !== 'null') ?? s.anyOf[0]!, path, field);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      // Optional fields only where there is something telling to show.
      const shown = Object.entries(s.properties ?? {}).filter(([k, v]) => s.required?.includes(k) || v.examples || hint(k, path) !== undefined);
      return Object.fromEntries(shown.map(([k, v]) => [k, example(v, path, k)]));
    }
    case 'array':
      return s.items ? [example(s.items, path, field)] : [];
    case 'string':
      return s.format === 'date-time' ? '2026-05-21T08:05:48.000Z' : 'string';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return true;
  }
  return null;
}

const fields = (s: Schema | undefined): Field[] => Object.entries(s?.properties ?? {}).map(([name, p]) => ({ name, type: typeOf(p), required: s?.required?.includes(name) ?? false, description: describe(p) }));

// Fonnte's /send takes many optional fields; its example shows the usual two, as the seed does.
const BODY_EXAMPLES: Record<string, Record<string, unknown>> = { 'POST /send': { target: '628123456789', message: 'Hello from WA Gateway' } };

/** A request body to show: the required fields and the optional ones a caller usually sets. */
function exampleBody(key: string, s: Schema, path: string): Record<string, unknown> {
  if (BODY_EXAMPLES[key]) return BODY_EXAMPLES[key];
  const body: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const usual = s.required?.includes(name) || p.default !== undefined || hint(name, path) !== undefined;
    if (usual) body[name] = example(p, path, name);
  }
  return body;
}

const UNAUTHORIZED = 'Unauthorized: Invalid API Key.';

function routeOf(method: string, path: string, op: Operation): RouteDoc {
  const schemes = op.security.flatMap((s) => Object.keys(s));
  const auth = schemes.includes('deviceKey') ? 'device' : schemes.includes('adminKey') ? 'admin' : 'none';
  const fonnte = path === '/send';
  const headers: Field[] = [];
  if (auth !== 'none') {
    const key = auth === 'admin' ? 'Bearer YOUR_ADMIN_KEY: the admin key (ADMIN_KEY).' : "Bearer YOUR_API_KEY: a device's API key (the admin key works too).";
    headers.push({ name: 'Authorization', type: 'String', required: true, description: fonnte ? `YOUR_API_KEY as is (Fonnte style), or ${key}` : key });
  }
  const content = op.requestBody?.content ?? {};
  const bodySchema = content['application/json']?.schema;
  if (bodySchema) headers.push({ name: 'Content-Type', type: 'String', required: true, description: Object.keys(content).join(', ') });
  for (const p of op.parameters ?? []) if (p.in === 'header') headers.push({ name: p.name, type: 'String', required: p.required, description: p.description ?? '' });

  const params = (where: 'path' | 'query') => (op.parameters ?? []).filter((p) => p.in === where).map((p) => ({ name: p.name, type: typeOf(p.schema), required: p.required, description: describe(p.schema) }));
  const statuses = Object.entries(op.responses);
  const key = `${method.toUpperCase()} ${path}`;
  const reason = auth === 'none' ? 'Internal Server Error' : UNAUTHORIZED;
  return {
    id: `${method}-${path}`.replace(/[^\w-]+/g, '-'),
    method: method.toUpperCase(),
    path: path.replace(/\{(\w+)\}/g, ':$1'),
    summary: op.summary,
    description: op.description,
    auth,
    headers,
    pathParams: params('path'),
    query: params('query'),
    body: fields(bodySchema),
    exampleBody: bodySchema && exampleBody(key, bodySchema, path),
    successes: statuses.filter(([s]) => Number(s) < 400).map(([status, r]) => ({ status, example: example(r.content?.['application/json']?.schema ?? {}, path) })),
    errors: statuses.filter(([s]) => Number(s) >= 400).map(([status, r]) => ({ status, description: r.description })),
    errorExample: fonnte ? { status: false, reason } : { error: reason },
  };
}

export function routesOf(doc: OpenApi): RouteDoc[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => routeOf(method, path, op)));
}

/**
 * Whether a route answers a search: every word of `query` is in its method, path, summary or one
 * of its field names (so "post send-media" and "caption" both find POST /api/send-media).
 */
export function matches(route: RouteDoc, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const names = [...route.headers, ...route.pathParams, ...route.query, ...route.body].map((f) => f.name);
  const text = [route.method, route.path, route.summary, ...names].join(' ').toLowerCase();
  return words.every((w) => text.includes(w));
}

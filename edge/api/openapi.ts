// Route documentation that cannot drift from the code: the middleware that checks a route's key
// and the validators that parse its input carry their specs, and the OpenAPI document is built
// by walking the app's routes for them, converting the very zod schemas that validate requests.
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { RouterRoute } from 'hono/types';
import { validator } from 'hono/validator';
import { z } from 'zod';
import { requireKey, type KeyLevel } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { apiError, fonnteError, isFonnte } from '../errors.ts';

export type EndpointSpec = {
  summary: string;
  description?: string;
  /** Which key the route takes: a device key (or the admin key), only the admin key, or none. */
  auth: KeyLevel | 'none';
  /** Success responses, and errors the route adds to the usual ones, with what they mean. */
  responses: Record<number, z.ZodType>;
  errors?: Record<number, string>;
  /** Success responses are a file of this media type, not JSON (a wildcard type for any file). */
  produces?: string;
  /** A signed link (query `sig`, checked by the handler) may stand in for the key. */
  signedLink?: boolean;
  /** Request errors and a wrong key are answered with HTTP 200 and a failure body listed under 200 (Fonnte's way), not with 400/401/403/415. */
  failuresAsOk?: boolean;
};
type InputSpec = { body?: z.ZodType; forms?: boolean; query?: z.ZodType; headers?: { name: string; description: string }[] };

const SPEC = Symbol('openapi');
type Documented = { [SPEC]?: { endpoint?: EndpointSpec } & InputSpec };
const documented = <T extends object>(handler: T, spec: Documented[typeof SPEC]) => Object.assign(handler, { [SPEC]: spec });

/** Checks the route's key and documents the route. Put it first, before the validators. */
/** Documents an optional request header that `handler` (a middleware) acts on. */
export function withHeader<T extends object>(handler: T, name: string, description: string): T {
  return documented(handler, { headers: [{ name, description }] });
}

export function endpoint(spec: EndpointSpec): MiddlewareHandler<AppEnv> {
  const keyCheck: MiddlewareHandler<AppEnv> = spec.auth === 'none' ? (_c, next) => next() : requireKey(spec.auth);
  const guard: MiddlewareHandler<AppEnv> = spec.signedLink ? (c, next) => (c.req.query('sig') === undefined ? keyCheck(c, next) : next()) : keyCheck;
  return documented((c, next) => guard(c, next), { endpoint: spec });
}

// ───────────── validation ─────────────

const seedMessages = new Set<string>();
/** An error message the seed fixes word for word: it goes out as is, without the field prefix. */
export function seedMessage(message: string): string {
  seedMessages.add(message);
  return message;
}

// Zod's own wording, except the two cases clients hit most, said plainly.
const plainly = (issue: z.core.$ZodRawIssue) => {
  if (issue.code !== 'invalid_type') return undefined;
  return issue.input === undefined ? 'required' : `must be ${issue.expected === 'array' || issue.expected === 'object' ? 'an' : 'a'} ${issue.expected}`;
};

/** Parses `value` with `schema`, or throws a 400 whose message names every field at fault. */
function check<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value, { error: plainly });
  if (result.success) return result.data;
  const reasons = result.error.issues.map((issue) => (seedMessages.has(issue.message) ? issue.message : `${issue.path.join('.') || 'body'}: ${issue.message}`));
  throw new HTTPException(400, { message: reasons.join('; ') });
}

type Validated<S extends z.ZodType, T extends 'json' | 'query'> = MiddlewareHandler<AppEnv, string, { in: { [K in T]: z.input<S> }; out: { [K in T]: z.output<S> } }>;

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'];
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/;

/**
 * Validates the body (then `c.req.valid('json')`). JSON only, unless `forms`: Fonnte's clients
 * also post urlencoded and multipart forms, and send unused fields blank, so with `forms` those
 * bodies are read too and blank fields count as absent.
 */
export function body<S extends z.ZodType>(schema: S, { forms = false } = {}): Validated<S, 'json'> {
  const middleware = validator('json', async (parsed: unknown, c) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    let value = parsed;
    if (forms && type === FORM_TYPES[0]) {
      // Read as URLSearchParams does (WHATWG): a % not followed by two hex digits stays as it is.
      // The runtime's formData() drops it, and simple clients (an ESP32 posting "70%") send it raw.
      value = Object.fromEntries(new URLSearchParams(await c.req.text()));
    } else if (forms && type === FORM_TYPES[1]) {
      value = await c.req.parseBody().catch(() => {
        throw new HTTPException(400, { message: 'Malformed form body' });
      });
    } else if (forms && !JSON_TYPE.test(type)) {
      // Fonnte reads a body that is not a form as JSON, whatever (if anything) its Content-Type says.
      const text = await c.req.text();
      try {
        value = JSON.parse(text);
      } catch {
        throw new HTTPException(400, { message: 'Malformed JSON in request body (a body that is not a form is read as JSON)' });
      }
    } else if (!JSON_TYPE.test(type)) {
      throw new HTTPException(415, { message: `Content-Type must be ${forms ? `application/json, ${FORM_TYPES.join(' or ')}` : 'application/json'}` });
    }
    if (forms && value && typeof value === 'object' && !Array.isArray(value)) {
      value = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== '' && v !== null));
    }
    return check(schema, value);
  });
  return documented(middleware, { body: schema, forms }) as unknown as Validated<S, 'json'>;
}

/** Validates the query string (then `c.req.valid('query')`); with `blanksAbsent`, a parameter left blank (`&url=`) counts as absent, as Fonnte's clients mean it. */
export function query<S extends z.ZodType>(schema: S, { blanksAbsent = false } = {}): Validated<S, 'query'> {
  const middleware = validator('query', (value) => check(schema, blanksAbsent ? Object.fromEntries(Object.entries(value).filter(([, v]) => v !== '')) : value));
  return documented(middleware, { query: schema }) as unknown as Validated<S, 'query'>;
}

// ───────────── the document ─────────────

/** An ISO 8601 time in a response (z.iso.datetime() would paste its whole regex into the document). */
export const dateTime = z.string().meta({ format: 'date-time', examples: ['2026-05-21T08:05:48.000Z'] });

const errorMeanings: Record<number, string> = {
  400: 'Invalid request: the reason names each field at fault',
  401: 'Missing or invalid API key',
  403: 'The key may not do this (a device key acting beyond its own device)',
  404: 'No such resource',
  409: 'Conflicts with the current state',
  413: 'Request body larger than 1 MB',
  415: 'Unsupported Content-Type',
  429: 'Too many wrong API keys from this client: wait the seconds Retry-After says',
  500: 'Internal Server Error',
  502: 'WhatsApp refused the message',
  503: 'Device is not connected, or its session host is offline',
  504: 'Session host did not answer in time (the request may still be carried out)',
};

// Requests as clients write them (before transforms). Responses too: as input, objects do not
// forbid extra properties, and an answer may carry more than its documented fields.
const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });
  return rest;
};
const json = (schema: z.ZodType) => ({ 'application/json': { schema: jsonSchema(schema) } });

function operation(path: string, spec: EndpointSpec, input: InputSpec) {
  const parameters = [...path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  if (input.query) {
    const { properties = {}, required = [] } = jsonSchema(input.query) as { properties?: Record<string, object>; required?: string[] };
    for (const [name, schema] of Object.entries(properties)) parameters.push({ name, in: 'query', required: required.includes(name), schema } as never);
  }
  for (const { name, description } of input.headers ?? []) {
    parameters.push({ name, in: 'header', required: false, description, schema: { type: 'string', maxLength: 255 } } as never);
  }
  const errors: Record<number, string> = { 500: errorMeanings[500]! };
  if (input.body || input.query) errors[400] = errorMeanings[400]!;
  if (input.body) Object.assign(errors, { 413: errorMeanings[413], 415: errorMeanings[415] });
  if (spec.auth !== 'none') Object.assign(errors, { 401: errorMeanings[401], 429: errorMeanings[429] });
  if (spec.auth === 'admin') errors[403] = errorMeanings[403]!;
  Object.assign(errors, spec.errors);
  if (spec.failuresAsOk) for (const status of [400, 401, 403, 415]) delete errors[status];

  const responses: Record<string, object> = {};
  for (const [status, schema] of Object.entries(spec.responses)) {
    const content = spec.produces ? { [spec.produces]: { schema: { type: 'string', format: 'binary' } } } : json(schema);
    responses[status] = { description: schema.description ?? 'Success', content };
  }
  for (const [status, description] of Object.entries(errors)) {
    responses[status] = { description, content: json(isFonnte(path) ? fonnteError : apiError) };
  }
  const bodySchema = input.body && { schema: jsonSchema(input.body) };
  return {
    summary: spec.summary,
    ...(spec.description && { description: spec.description }),
    // An empty requirement: no key at all, for a signed link (its query parameters say how).
    security: spec.auth === 'none' ? [] : [...(spec.auth === 'admin' ? [{ adminKey: [] }] : [{ deviceKey: [] }, { adminKey: [] }]), ...(spec.signedLink ? [{}] : [])],
    ...(parameters.length && { parameters }),
    ...(bodySchema && {
      requestBody: {
        required: true,
        content: Object.fromEntries(['application/json', ...(input.forms ? FORM_TYPES : [])].map((type) => [type, bodySchema])),
      },
    }),
    responses,
  };
}

/** The OpenAPI 3.1 document of every route in `routes` that was declared with `endpoint()`. */
export function openApiDocument(routes: RouterRoute[], serverUrl: string) {
  const found = new Map<string, { method: string; path: string; endpoint?: EndpointSpec } & InputSpec>();
  for (const route of routes) {
    const spec = (route.handler as Documented)[SPEC];
    if (!spec) continue;
    const key = `${route.method} ${route.path}`;
    found.set(key, { ...found.get(key), method: route.method.toLowerCase(), path: route.path, ...spec });
  }
  const paths: Record<string, Record<string, object>> = {};
  for (const { method, path, endpoint, ...input } of found.values()) {
    if (!endpoint) continue;
    (paths[path.replace(/:(\w+)/g, '{$1}')] ??= {})[method] = operation(path, endpoint, input);
  }
  const key = (who: string) => ({ type: 'apiKey', in: 'header', name: 'Authorization', description: `${who}, as is (Fonnte style) or as \`Bearer <key>\`.` });
  return {
    openapi: '3.1.0',
    info: {
      title: 'WA Gateway',
      version: '0.1.0',
      description: "A WhatsApp HTTP API gateway, drop-in compatible with Fonnte's /send.",
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        deviceKey: key("A device's API key (wa_ + 32 hex digits); it acts on its own device only"),
        adminKey: key('The admin key (ADMIN_KEY); it acts on every device'),
      },
    },
  };
}

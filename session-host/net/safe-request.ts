// Outbound HTTP for URLs that users hand us (media to fetch, webhooks to call). Such a URL must
// not become a way into the host's own network, so every address we connect to is checked, on
// every redirect hop, at connect time: checking a name and then letting the socket resolve it
// again would leave a DNS-rebinding gap.
import dns from 'node:dns';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export type RequestErrorCode = 'bad_url' | 'unsafe_url' | 'too_large' | 'timeout' | 'network' | 'redirect' | 'bad_status' | 'bad_media';

/** Every failure of an outbound request; `message` says what was refused and why. */
export class RequestError extends Error {
  readonly code: RequestErrorCode;
  constructor(code: RequestErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
export class BadUrlError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('bad_url', message, options);
  }
}
export class UnsafeUrlError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('unsafe_url', message, options);
  }
}
export class TooLargeError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('too_large', message, options);
  }
}
export class TimeoutError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('timeout', message, options);
  }
}
export class NetworkError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('network', message, options);
  }
}
export class RedirectError extends RequestError {
  constructor(message: string, options?: ErrorOptions) {
    super('redirect', message, options);
  }
}

export interface SafeRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Covers the whole exchange: every redirect hop and the body. */
  timeoutMs: number;
  maxBytes: number;
  allowPrivateNetworks: boolean;
  /** Redirects to follow (default 3); 0 returns a redirect as the response. */
  maxRedirects?: number;
  /** What the URL is, for error messages: 'media URL', 'webhook URL'. */
  label?: string;
  /** Return the first `maxBytes` of a longer body instead of failing (for replies read only for logs). */
  truncateBody?: boolean;
}

export interface SafeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

const ALLOW_HINT = 'set MEDIA_ALLOW_PRIVATE_NETWORKS=true to allow private networks';

// One list per kind, so a refusal can say which kind of address it hit.
const RANGES: [kind: string, family: 'ipv4' | 'ipv6', prefix: string, bits: number][] = [
  ['an unspecified', 'ipv4', '0.0.0.0', 8],
  ['a private', 'ipv4', '10.0.0.0', 8],
  ['a carrier-grade NAT', 'ipv4', '100.64.0.0', 10],
  ['a loopback', 'ipv4', '127.0.0.0', 8],
  ['a link-local', 'ipv4', '169.254.0.0', 16],
  ['a private', 'ipv4', '172.16.0.0', 12],
  ['a reserved', 'ipv4', '192.0.0.0', 24],
  ['a documentation', 'ipv4', '192.0.2.0', 24],
  ['a private', 'ipv4', '192.168.0.0', 16],
  ['a benchmarking', 'ipv4', '198.18.0.0', 15],
  ['a documentation', 'ipv4', '198.51.100.0', 24],
  ['a documentation', 'ipv4', '203.0.113.0', 24],
  ['a multicast', 'ipv4', '224.0.0.0', 4],
  ['a reserved', 'ipv4', '240.0.0.0', 4],
  ['an unspecified', 'ipv6', '::', 128],
  ['a loopback', 'ipv6', '::1', 128],
  ['a reserved', 'ipv6', '100::', 64],
  ['a documentation', 'ipv6', '2001:db8::', 32],
  ['a private', 'ipv6', 'fc00::', 7],
  ['a link-local', 'ipv6', 'fe80::', 10],
  ['a private', 'ipv6', 'fec0::', 10],
  ['a multicast', 'ipv6', 'ff00::', 8],
];
const BLOCKS = new Map<string, BlockList>();
for (const [kind, family, prefix, bits] of RANGES) {
  if (!BLOCKS.has(kind)) BLOCKS.set(kind, new BlockList());
  BLOCKS.get(kind)!.addSubnet(prefix, bits, family);
}

/** The IPv4 address inside an IPv4-mapped, -compatible or NAT64 IPv6 address, which reaches that IPv4 host. */
function embeddedIPv4(address: string): string | undefined {
  const [head, tail] = address.toLowerCase().split('::') as [string, string | undefined];
  const words = (part: string | undefined) => (!part ? [] : part.split(':').flatMap((w) => (w.includes('.') ? dottedToWords(w) : [parseInt(w, 16)])));
  const left = words(head);
  const right = words(tail);
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  if (all.length !== 8) return undefined;
  const prefix = all.slice(0, 6).join(':');
  const mapped = prefix === '0:0:0:0:0:65535' || prefix === '100:65435:0:0:0:0' || prefix === '0:0:0:0:0:0';
  if (!mapped || (prefix === '0:0:0:0:0:0' && all[6] === 0)) return undefined; // ::, ::1 are IPv6's own
  return [all[6]! >> 8, all[6]! & 255, all[7]! >> 8, all[7]! & 255].join('.');
}
function dottedToWords(v4: string): number[] {
  const b = v4.split('.').map(Number);
  return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
}

/** Why an address must not be reached ("a loopback address"), or undefined when it is public. */
export function unsafeAddressKind(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'an invalid address';
  if (family === 6) {
    const v4 = embeddedIPv4(address);
    if (v4) {
      const kind = unsafeAddressKind(v4);
      return kind && `${kind} (${v4})`;
    }
  }
  for (const [kind, list] of BLOCKS) {
    if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return `${kind} address`;
  }
  return undefined;
}

/** A URL fit for messages and logs: no credentials, no query values (they often carry tokens). */
export function displayUrl(url: string | URL): string {
  let shown: string;
  try {
    const u = new URL(url);
    shown = `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    shown = String(url)
      .replace(/\/\/[^/@]*@/, '//')
      .replace(/\?.*/s, '?…');
  }
  return shown.length > 200 ? `${shown.slice(0, 199)}…` : shown;
}

// Pooled sockets skip the lookup, so a socket opened with private networks allowed must never
// serve a request that forbids them: one keep-alive agent per policy and protocol.
const AGENTS = {
  'http:': { open: new http.Agent({ keepAlive: true }), guarded: new http.Agent({ keepAlive: true }) },
  'https:': { open: new https.Agent({ keepAlive: true }), guarded: new https.Agent({ keepAlive: true }) },
};

function guardedLookup(refuse: (address: string, kind: string) => Error): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      // Refuse the name if any address is unsafe: connecting may fall through to any of them.
      for (const { address } of addresses) {
        const kind = unsafeAddressKind(address);
        if (kind) return callback(refuse(address, kind), '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EPIPE: 'connection closed',
};

/**
 * Sends one request, following up to `maxRedirects` redirects by hand so each hop gets the same
 * checks. Any status is returned as is; only transport-level failures throw (a `RequestError`).
 */
export async function safeRequest(url: string, options: SafeRequestOptions): Promise<SafeResponse> {
  const label = options.label ?? 'URL';
  const maxRedirects = options.maxRedirects ?? 3;
  const signal = AbortSignal.timeout(options.timeoutMs);
  let method = (options.method ?? 'GET').toUpperCase();
  let body = options.body;
  let headers = { ...options.headers };
  let target = parseUrl(url, (shown) => `${label} ${shown}`);

  for (let hop = 0; ; hop++) {
    const shown = displayUrl(target);
    const host = bareHost(target);
    const refuse = (address: string, kind: string) => new UnsafeUrlError(`${label} ${shown} ${address === host ? 'is' : `resolves to ${address},`} ${kind}; ${ALLOW_HINT}`);
    if (!options.allowPrivateNetworks) {
      // Node never calls `lookup` for an IP literal, so literals are checked here.
      const kind = isIP(host) ? unsafeAddressKind(host) : undefined;
      if (kind) throw refuse(host, kind);
    }

    const protocol = target.protocol as 'http:' | 'https:';
    const request = (protocol === 'https:' ? https : http).request(target, {
      method,
      headers,
      signal,
      agent: AGENTS[protocol][options.allowPrivateNetworks ? 'open' : 'guarded'],
      lookup: options.allowPrivateNetworks ? undefined : guardedLookup(refuse),
    });
    // Failures surface through `once` below or, once the response is in, through its body stream.
    request.on('error', () => {});
    request.end(body);

    let response: http.IncomingMessage;
    try {
      [response] = (await once(request, 'response')) as [http.IncomingMessage];
    } catch (err) {
      throw translate(err, signal, label, shown, options.timeoutMs);
    }

    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location && maxRedirects > 0) {
      response.destroy();
      if (hop >= maxRedirects) {
        throw new RedirectError(`${label} ${displayUrl(url)} redirected more than ${maxRedirects} times`);
      }
      const next = parseUrl(location, (to) => `${label} ${shown} redirected to ${to}, which`, target);
      // As browsers do: 303 (and 301/302 after a POST) become a GET without a body.
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        headers = withoutHeaders(headers, ['content-type', 'content-length']);
      }
      if (next.origin !== target.origin) headers = withoutHeaders(headers, ['authorization', 'cookie']);
      target = next;
      continue;
    }

    try {
      return { status, headers: response.headers, body: await readBody(response, options, label, shown), url: target.href };
    } catch (err) {
      response.destroy();
      throw translate(err, signal, label, shown, options.timeoutMs);
    }
  }
}

async function readBody(response: http.IncomingMessage, { maxBytes, truncateBody }: SafeRequestOptions, label: string, shown: string): Promise<Buffer> {
  const tooLarge = (size?: number) => new TooLargeError(`${label} ${shown} serves ${size ? `${formatBytes(size)}, ` : ''}more than the limit of ${formatBytes(maxBytes)}`);
  const declared = Number(response.headers['content-length']);
  if (!truncateBody && declared > maxBytes) throw tooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      if (!truncateBody) throw tooLarge();
      chunks.push(chunk.subarray(0, chunk.length - (size - maxBytes)));
      response.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function translate(err: unknown, signal: AbortSignal, label: string, shown: string, timeoutMs: number): RequestError {
  if (err instanceof RequestError) return err;
  if (signal.aborted) return new TimeoutError(`${label} ${shown} did not answer within ${timeoutMs} ms`);
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (code && NETWORK_REASONS[code]) ?? (err as Error).message;
  return new NetworkError(`${label} ${shown} could not be reached: ${reason}${code ? ` (${code})` : ''}`, { cause: err });
}

/** `subject` turns the URL as shown into the start of the message: "media URL http://…". */
function parseUrl(raw: string, subject: (shown: string) => string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new BadUrlError(`${subject(displayUrl(raw))} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadUrlError(`${subject(displayUrl(url))} is not an http or https URL`);
  }
  return url;
}

/** The host without IPv6 brackets, as `isIP` and lookups know it. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function withoutHeaders(headers: Record<string, string>, names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name.toLowerCase())));
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

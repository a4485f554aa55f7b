/** A failed call, in the API's own words (its `{error}` body) where it gave any. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One call to the gateway's API, on this origin (the Worker serves both the API and this app). */
export async function request<T>(method: string, path: string, options: { key?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const { key, body, signal } = options;
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, 'The gateway could not be reached. Check your connection and try again.');
  }
  const json = (await res.json().catch(() => undefined)) as { error?: unknown; reason?: unknown } | undefined;
  if (!res.ok) {
    const said = json?.error ?? json?.reason;
    throw new ApiError(res.status, typeof said === 'string' ? said : `The gateway answered ${res.status} ${res.statusText}`.trim());
  }
  if (json === undefined) throw new ApiError(res.status, 'The gateway answered without JSON');
  return json as T;
}

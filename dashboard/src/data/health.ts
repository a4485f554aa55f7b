export type ApiHealth = 'ok' | 'down';

/** Asks the edge whether it is up; any failure other than an abort counts as down. */
export async function fetchHealth(signal?: AbortSignal): Promise<ApiHealth> {
  try {
    const res = await fetch('/healthz', { signal });
    const body = (await res.json()) as { status?: unknown };
    return res.ok && body.status === 'ok' ? 'ok' : 'down';
  } catch (err) {
    if (signal?.aborted) throw err;
    return 'down';
  }
}

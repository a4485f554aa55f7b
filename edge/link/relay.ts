// How routes reach a session host: through its HostLink Durable Object, by the device's host.
import { LinkError, type Method, type Params, type Result } from '../../session-host/link/protocol.ts';
import { DEFAULT_HOST_ID } from './host-link.ts';

/** A request the host (or the link to it) could not carry out: the link's own error type. */
export const RelayError = LinkError;
export type RelayError = LinkError;

export function hostLink(env: Env, hostId: string | null) {
  const id = hostId ?? DEFAULT_HOST_ID;
  return { id, stub: env.HOST_LINK.get(env.HOST_LINK.idFromName(id)) };
}

/** Sends `method` to the host of a device (`hostId` null = the default host); throws RelayError. */
export async function relay<M extends Method>(env: Env, hostId: string | null, method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
  const { id, stub } = hostLink(env, hostId);
  const outcome = await stub.request(id, method, params, timeoutMs);
  if (!outcome.ok) throw new RelayError(outcome.error.code, outcome.error.message);
  return outcome.result as Result<M>;
}

// How routes reach a session host: through its HostLink Durable Object, by the device's host.
import { LinkError, type Method, type Params, type Result } from '../../session-host/link/protocol.ts';
import { timedCall } from '../timing.ts';
import { DEFAULT_HOST_ID } from './projection.ts';

/** A request the host (or the link to it) could not carry out: the link's own error type. */
export const RelayError = LinkError;
export type RelayError = LinkError;

/** The HostLink of a host (`hostId` null = the default host); every call on it is timed for Server-Timing. */
export function hostLink(env: Env, hostId: string | null) {
  const id = hostId ?? DEFAULT_HOST_ID;
  const stub = env.HOST_LINK.getByName(id);
  const timedStub = new Proxy(stub, {
    get(target, prop) {
      const member = Reflect.get(target, prop) as unknown;
      if (typeof member !== 'function') return member;
      // Called as it is: an RPC stub's members are themselves stubs (`.apply` would be a remote call).
      const call = member as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) =>
        timedCall(
          () => call(...args),
          (result) => (result as { hostMs?: number } | undefined)?.hostMs,
        );
    },
  });
  return { id, stub: timedStub };
}

/** Sends `method` to the host of a device; throws RelayError. */
export async function relay<M extends Method>(env: Env, hostId: string | null, method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>> {
  const { id, stub } = hostLink(env, hostId);
  const outcome = await stub.request(id, method, params, timeoutMs);
  if (!outcome.ok) throw new RelayError(outcome.error.code, outcome.error.message);
  return outcome.result as Result<M>;
}

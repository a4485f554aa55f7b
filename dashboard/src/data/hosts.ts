// Session hosts, from GET /api/hosts: each with its link state and devices, polled while something
// on the page shows them and the page is visible.
import { api, onSignOut } from './session.ts';
import { refreshStatus, type DeviceState } from './status.ts';
import { Store, messageOf, type Remote } from './store.ts';

/** The default host's id: it comes from the edge's settings and has no record of its own. */
export const DEFAULT_HOST = 'default';

export interface HostDevice {
  id: string;
  name: string;
  status: DeviceState;
  phoneNumber: string | null;
}

export interface Host {
  id: string;
  name: string;
  /** Where the edge dials the host; null: the host dials the edge itself. */
  url: string | null;
  mode: 'url' | 'dial-in';
  online: boolean;
  /** Who dialled the link that is up. */
  via: 'edge' | 'host' | null;
  /** ISO time the host was last heard from. */
  lastSeenAt: string | null;
  version: string | null;
  lastError: string | null;
  devices: HostDevice[];
}

/** A new host with its secret: the only time the secret is ever shown. */
export interface NewHost {
  id: string;
  name: string;
  url: string | null;
  secret: string;
}

const POLL_MS = 5_000;

export const hosts = new Store<Remote<Host[]>>({ loading: true }, () => void refreshHosts());

let timer: ReturnType<typeof setTimeout> | undefined;
let inFlight: AbortController | undefined;

/** Fetches the hosts now (and goes on polling while watched, visible and signed in). */
export async function refreshHosts(): Promise<void> {
  clearTimeout(timer);
  inFlight?.abort();
  inFlight = undefined;
  if (!hosts.watched || document.hidden) return;
  const call = (inFlight = new AbortController());
  try {
    hosts.set({ data: (await api<{ hosts: Host[] }>('GET', '/api/hosts', undefined, call.signal)).hosts, loading: false });
  } catch (error) {
    if (call.signal.aborted) return; // a newer refresh took over
    hosts.set({ ...hosts.value, loading: false, error: messageOf(error) });
  }
  if (inFlight !== call) return;
  inFlight = undefined;
  timer = setTimeout(refreshHosts, POLL_MS);
}

const path = (id: string) => `/api/hosts/${encodeURIComponent(id)}`;

async function thenRefresh<T>(call: Promise<T>): Promise<T> {
  const result = await call;
  await refreshHosts();
  return result;
}

export const addHost = (input: { name: string; url: string | null }) => thenRefresh(api<NewHost>('POST', '/api/hosts', input));
export const updateHost = (id: string, changes: { name: string; url: string | null }) => thenRefresh(api('PATCH', path(id), changes));
/** Its devices go with it (the page has asked the admin about them), so the device list changes too. */
export async function removeHost(id: string): Promise<void> {
  await thenRefresh(api('DELETE', `${path(id)}?deleteDevices=true`));
  await refreshStatus();
}

document.addEventListener('visibilitychange', () => void refreshHosts());
onSignOut(() => {
  clearTimeout(timer);
  inFlight?.abort();
  hosts.set({ loading: true });
});

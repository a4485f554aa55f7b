// The live state of every device, from GET /api/status (which the edge keeps current from the
// session host's events), while something on the page shows it and the page is visible: loaded
// once, then kept current by the live events' device states; polled only while they are down.
import { live, onLiveEvent, type LiveEvent } from './events.ts';
import { api, onSignOut } from './session.ts';
import { Store, messageOf, type Remote } from './store.ts';

export type DeviceState = 'DISCONNECTED' | 'CONNECTING' | 'QR' | 'CONNECTED' | 'LOGGED_OUT';

export interface Device {
  id: string;
  name: string;
  /** Masked: the full key is shown only when it is created or regenerated. */
  apiKey: string;
  webhookUrl: string;
  status: DeviceState;
  authenticated: boolean;
  hasQr: boolean;
  qr: string | null;
  phoneNumber: string | null;
  pushName: string | null;
  totalMessagesSent: number;
}

export interface GatewayStatus {
  devices: Device[];
  /** The session host's public URL; null while it is unreachable or has none configured. */
  publicUrl: string | null;
  /** Whether the edge's link to the session host is up. */
  hostOnline: boolean;
}

const POLL_MS = 2_000;
// While a QR code is up, a scan should show as "Connected" at once, not up to 2 s later.
const LINKING_POLL_MS = 700;

let stopEvents: (() => void) | undefined;
export const status = new Store<Remote<GatewayStatus>>({ loading: true }, (watched) => {
  stopEvents?.();
  stopEvents = watched ? onLiveEvent(applyEvent) : undefined;
  void refreshStatus();
});

let timer: ReturnType<typeof setTimeout> | undefined;
let inFlight: AbortController | undefined;

/**
 * A device's new state, as the live events tell it: into the list without asking again. A device
 * added, renamed or deleted (no state in the event) or one not listed yet: the list again, once.
 */
function applyEvent(event: LiveEvent): void {
  const data = status.value.data;
  if (event.event !== 'device' || !data) return;
  const change = event.data as Partial<Device>;
  if (!change.status || !data.devices.some((d) => d.id === event.deviceId)) {
    clearTimeout(timer);
    timer = setTimeout(refreshStatus, 200);
    return;
  }
  const devices = data.devices.map((d) => {
    if (d.id !== event.deviceId) return d;
    const next = { ...d, ...pick(change) };
    return { ...next, authenticated: next.status === 'CONNECTED', hasQr: next.qr !== null };
  });
  status.set({ ...status.value, data: { ...data, devices } });
}

const FIELDS = ['status', 'qr', 'phoneNumber', 'pushName', 'totalMessagesSent'] as const;
const pick = (change: Partial<Device>) => Object.fromEntries(FIELDS.filter((k) => k in change).map((k) => [k, change[k]])) as Partial<Device>;

// The live events coming up: one load to catch up, then no polling; going down: polling again.
live.subscribe(() => void refreshStatus());

/** Fetches the status now (and goes on polling while watched, visible and signed in). */
export async function refreshStatus(): Promise<void> {
  clearTimeout(timer);
  inFlight?.abort();
  inFlight = undefined;
  if (!status.watched || document.hidden) return;
  const call = (inFlight = new AbortController());
  try {
    status.set({ data: await api<GatewayStatus>('GET', '/api/status', undefined, call.signal), loading: false });
  } catch (error) {
    if (call.signal.aborted) return; // a newer refresh took over
    status.set({ ...status.value, loading: false, error: messageOf(error) });
  }
  if (inFlight !== call) return;
  inFlight = undefined;
  if (live.value) return;
  const linking = status.value.data?.devices.some((d) => d.status === 'QR' || d.status === 'CONNECTING');
  timer = setTimeout(refreshStatus, linking ? LINKING_POLL_MS : POLL_MS);
}

document.addEventListener('visibilitychange', () => void refreshStatus());
onSignOut(() => {
  clearTimeout(timer);
  inFlight?.abort();
  status.set({ loading: true });
});

// Broadcasts: composed and cancelled here, their progress polled while the page shows them.
import { live, onLiveEvent, type LiveEvent } from './events.ts';
import { api, onSignOut } from './session.ts';
import { Store, messageOf, type Remote } from './store.ts';

export interface BroadcastCounts {
  queued: number;
  /** Left the device (sent, delivered or read now). */
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  cancelled: number;
}

export interface Broadcast {
  id: string;
  deviceId: string;
  groupId: string | null;
  message: string;
  media: { url: string; type: string } | null;
  total: number;
  delay: string | null;
  status: 'queued' | 'sending' | 'done' | 'cancelled';
  counts: BroadcastCounts;
  scheduledAt: string | null;
  cancelledAt: string | null;
  createdAt: string;
}

export interface NewBroadcast {
  deviceId: string;
  groupId?: string;
  numbers?: string;
  message?: string;
  media?: { url: string };
  /** Unix ms. */
  schedule?: number;
  delay?: string;
}

// Progress moves as the outbox sends: asked for a moment after each status event, or this often
// while the live events are down (every SAFETY_MS while they are up).
const POLL_MS = 1_500;
const SAFETY_MS = 15_000;
const AFTER_EVENT_MS = 400;
let timer: ReturnType<typeof setTimeout> | undefined;
let stopEvents: (() => void) | undefined;

export const broadcasts = new Store<Remote<Broadcast[]>>({ loading: true }, (watched) => {
  stopEvents?.();
  stopEvents = watched ? onLiveEvent(onEvent) : undefined;
  if (watched) void loadBroadcasts().then(poll);
  else clearTimeout(timer);
});

function onEvent(event: LiveEvent): void {
  if (event.event !== 'status' || !(broadcasts.value.data ?? []).some(followed)) return;
  clearTimeout(timer);
  timer = setTimeout(() => void poll(), AFTER_EVENT_MS);
}

const path = (id: string) => `/api/broadcasts/${encodeURIComponent(id)}`;
// Receipts keep arriving after the last message went: a recent broadcast is followed a while longer.
const RECEIPTS_MS = 10 * 60_000;
const followed = (b: Broadcast) => b.status === 'queued' || b.status === 'sending' || (b.counts.read < b.counts.sent && Date.now() - Date.parse(b.createdAt) < RECEIPTS_MS);

export async function loadBroadcasts(): Promise<void> {
  broadcasts.set({ ...broadcasts.value, loading: true });
  try {
    broadcasts.set({ data: (await api<{ broadcasts: Broadcast[] }>('GET', '/api/broadcasts?limit=20')).broadcasts, loading: false });
  } catch (error) {
    broadcasts.set({ ...broadcasts.value, loading: false, error: messageOf(error) });
  }
}

/** Replaces one broadcast in the list with a newer view of it. */
function update(next: Broadcast): void {
  const list = broadcasts.value.data ?? [];
  broadcasts.set({ ...broadcasts.value, data: list.some((b) => b.id === next.id) ? list.map((b) => (b.id === next.id ? next : b)) : [next, ...list] });
}

/** Each broadcast still going (or hearing receipts), asked for its progress; again after a pause while watched. */
async function poll(): Promise<void> {
  clearTimeout(timer);
  if (!broadcasts.watched) return;
  const going = (broadcasts.value.data ?? []).filter(followed);
  await Promise.all(going.map((b) => api<Broadcast>('GET', path(b.id)).then(update, () => undefined)));
  if (broadcasts.watched) timer = setTimeout(() => void poll(), live.value ? SAFETY_MS : POLL_MS);
}

export async function createBroadcast(input: NewBroadcast): Promise<Broadcast> {
  const created = await api<Broadcast>('POST', '/api/broadcasts', input);
  update(created);
  return created;
}

export async function cancelBroadcast(id: string): Promise<number> {
  const { cancelled, ...view } = await api<Broadcast & { cancelled: number }>('DELETE', path(id));
  update(view);
  return cancelled;
}

/** The first contact of a group (by name), for the preview. */
export async function firstContactOf(groupId: string, signal?: AbortSignal): Promise<{ name: string; number: string } | undefined> {
  const { contacts } = await api<{ contacts: { name: string; number: string }[] }>('GET', `/api/contacts?groupId=${encodeURIComponent(groupId)}`, undefined, signal);
  return contacts[0];
}

onSignOut(() => {
  clearTimeout(timer);
  broadcasts.set({ loading: true });
});

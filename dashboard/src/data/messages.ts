import { live, onLiveEvent, type LiveEvent } from './events.ts';
import { api, onSignOut } from './session.ts';
import { Store, messageOf, type Remote } from './store.ts';

export type MediaType = 'image' | 'video' | 'document' | 'audio' | 'voice' | 'sticker';

interface Addressed {
  deviceId: string;
  to: string;
}

interface TextOrMedia {
  kind: 'message';
  message: string;
  /** A public URL: sent as media, with `message` as its caption. */
  mediaUrl?: string;
  type?: MediaType;
}

/** What Send Test Message can send: a text (or media with it as caption), a pin, or a poll. */
export type TestMessage =
  | (Addressed & TextOrMedia)
  | (Addressed & { kind: 'location'; latitude: number; longitude: number; name?: string; address?: string })
  | (Addressed & { kind: 'poll'; name: string; options: string[]; multiple: boolean });

/** Sent (with WhatsApp's id and time), or queued for a device that is offline (with the log's id). */
export interface Dispatched {
  success: true;
  message: string;
  id: string;
  to: string;
  timestamp?: number;
  queued?: true;
}

/** Sends through the same seed routes an API client uses, so the test proves them. */
export function sendTestMessage(test: TestMessage): Promise<Dispatched> {
  const { deviceId, to } = test;
  switch (test.kind) {
    case 'location':
      return api('POST', '/api/send-location', { deviceId, to, latitude: test.latitude, longitude: test.longitude, name: test.name, address: test.address });
    case 'poll':
      return api('POST', '/api/send-poll', { deviceId, to, name: test.name, options: test.options, multiple: test.multiple });
    default:
      if (test.mediaUrl) return api('POST', '/api/send-media', { deviceId, to, url: test.mediaUrl, type: test.type, ...(test.message && { caption: test.message }) });
      return api('POST', '/api/send-message', { deviceId, to, message: test.message });
  }
}

// ───────────── the message log (the Messages view) ─────────────

/** A status as the log shows it: a queued message cancelled before it went out is "cancelled". */
export type ShownStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'cancelled';
export const SHOWN_STATUSES: ShownStatus[] = ['queued', 'sent', 'delivered', 'read', 'failed', 'cancelled'];

/** One row of GET /api/messages; times are ISO strings. */
export interface LoggedMessage {
  id: string;
  deviceId: string;
  to: string;
  type: string;
  preview: string | null;
  status: Exclude<ShownStatus, 'cancelled'>;
  waMessageId: string | null;
  error: string | null;
  scheduledAt: string | null;
  attempts: number;
  sentAt: string | null;
  deliveredAt: string | null;
  readAt: string | null;
  failedAt: string | null;
  deletedAt: string | null;
  createdAt: string;
}

/** The API stores a cancel as a failure with the error "cancelled". */
export const shownStatus = (m: LoggedMessage): ShownStatus => (m.status === 'failed' && m.error === 'cancelled' ? 'cancelled' : m.status);

/** What the log is narrowed to; '' is "any". `from` and `until` are dates (yyyy-mm-dd) in the viewer's time zone. */
export interface LogFilter {
  deviceId: string;
  status: '' | ShownStatus;
  to: string;
  from: string;
  until: string;
}

export interface MessageLog extends Remote<LoggedMessage[]> {
  filter: LogFilter;
  /** The cursor of each page reached so far: the shown page is the last (undefined: the first page). */
  cursors: (string | undefined)[];
  nextCursor: string | null;
}

const POLL_MS = 3_000;
/** With live events up, a status change refreshes the page at once; the poll is only a safety net. */
const LIVE_POLL_MS = 15_000;
/** Its row reaches D1 just after the event: refreshed a moment later, once for a burst of them. */
const AFTER_EVENT_MS = 400;
const ANY: LogFilter = { deviceId: '', status: '', to: '', from: '', until: '' };
const initial = (): MessageLog => ({ loading: true, filter: ANY, cursors: [undefined], nextCursor: null });

let stopEvents: (() => void) | undefined;
export const messageLog = new Store<MessageLog>(initial(), (watched) => {
  stopEvents?.();
  stopEvents = watched ? onLiveEvent(onEvent) : undefined;
  void refreshLog();
});

let timer: ReturnType<typeof setTimeout> | undefined;

function onEvent(event: LiveEvent): void {
  if (event.event !== 'status') return;
  clearTimeout(timer);
  timer = setTimeout(refreshLog, AFTER_EVENT_MS);
}
let inFlight: AbortController | undefined;

/** A local date as unix ms: the start of that day, or with `endOfDay` its last millisecond. */
function dayMs(date: string, endOfDay = false): string {
  const start = new Date(`${date}T00:00:00`);
  if (endOfDay) start.setDate(start.getDate() + 1);
  return String(start.getTime() - (endOfDay ? 1 : 0));
}

function pathOf(filter: LogFilter, cursor: string | undefined): string {
  const query = new URLSearchParams({ limit: '25' });
  if (filter.deviceId) query.set('deviceId', filter.deviceId);
  if (filter.status) query.set('status', filter.status);
  if (filter.to.trim()) query.set('to', filter.to.trim());
  if (filter.from) query.set('from', dayMs(filter.from));
  if (filter.until) query.set('until', dayMs(filter.until, true));
  if (cursor) query.set('cursor', cursor);
  return `/api/messages?${query}`;
}

/** Fetches the shown page now, and again on status events (or every few seconds without them) while watched and visible, so statuses move on their own. */
export async function refreshLog(): Promise<void> {
  clearTimeout(timer);
  inFlight?.abort();
  inFlight = undefined;
  if (!messageLog.watched || document.hidden) return;
  const call = (inFlight = new AbortController());
  const { filter, cursors } = messageLog.value;
  try {
    const page = await api<{ messages: LoggedMessage[]; nextCursor: string | null }>('GET', pathOf(filter, cursors.at(-1)), undefined, call.signal);
    messageLog.set({ ...messageLog.value, data: page.messages, nextCursor: page.nextCursor, loading: false, error: undefined });
  } catch (error) {
    if (call.signal.aborted) return; // a newer refresh took over
    messageLog.set({ ...messageLog.value, loading: false, error: messageOf(error) });
  }
  if (inFlight !== call) return;
  inFlight = undefined;
  timer = setTimeout(refreshLog, live.value ? LIVE_POLL_MS : POLL_MS);
}

/** Narrows the log; back to its first page. */
export function filterLog(changes: Partial<LogFilter>): Promise<void> {
  messageLog.set({ ...messageLog.value, filter: { ...messageLog.value.filter, ...changes }, cursors: [undefined], loading: true });
  return refreshLog();
}

/** The next older page, or (`-1`) back one. */
export function turnPage(step: 1 | -1): Promise<void> {
  const { cursors, nextCursor } = messageLog.value;
  if (step === 1 && nextCursor) messageLog.set({ ...messageLog.value, cursors: [...cursors, nextCursor], loading: true });
  else if (step === -1 && cursors.length > 1) messageLog.set({ ...messageLog.value, cursors: cursors.slice(0, -1), loading: true });
  else return Promise.resolve();
  return refreshLog();
}

const messagePath = (id: string) => `/api/messages/${encodeURIComponent(id)}`;

/** Cancels a queued message: it stays in the log as cancelled. */
export async function cancelMessage(id: string): Promise<void> {
  await api('DELETE', messagePath(id));
  await refreshLog();
}

/** Moves a queued message to another time. */
export async function rescheduleMessage(id: string, at: Date): Promise<void> {
  await api('PATCH', messagePath(id), { schedule: Math.floor(at.getTime() / 1000) });
  await refreshLog();
}

document.addEventListener('visibilitychange', () => void refreshLog());
onSignOut(() => {
  clearTimeout(timer);
  inFlight?.abort();
  messageLog.set(initial());
});

// The gateway's live events (GET /api/events) for the stores that mirror what they change. One
// socket for the page, open while something listens, the page is visible and the admin is
// signed in; opened with a one-minute ticket, so the admin key never appears in a URL. `live`
// says whether it is up: stores poll only while it is not.
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { api, onSignOut, session } from './session.ts';
import { Store } from './store.ts';

/** One event: a webhook's `event` and body, or `device` with the device's state. */
export interface LiveEvent {
  event: string;
  deviceId: string;
  data: Record<string, unknown>;
}

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
export const live = new Store(false);

let socket: WebSocket | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let failures = 0;

/** Hears every event from now on; returns the way to stop. */
export function onLiveEvent(listener: Listener): () => void {
  listeners.add(listener);
  void connect();
  return () => {
    listeners.delete(listener);
    if (!listeners.size) disconnect();
  };
}

const wanted = () => listeners.size > 0 && !document.hidden && session.value.state === 'signed-in';

async function connect(): Promise<void> {
  if (socket || !wanted()) return;
  clearTimeout(retryTimer);
  let ws: WebSocket;
  try {
    const { ticket } = await api<{ ticket: string }>('POST', '/api/events/ticket');
    if (socket || !wanted()) return;
    ws = socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/events?ticket=${encodeURIComponent(ticket)}`);
  } catch {
    return retry();
  }
  ws.addEventListener('message', (message) => {
    const event = JSON.parse(String(message.data)) as LiveEvent;
    if (event.event === 'ready') {
      failures = 0;
      live.set(true);
      return;
    }
    for (const listener of listeners) listener(event);
  });
  ws.addEventListener('close', () => {
    if (socket !== ws) return;
    socket = undefined;
    live.set(false);
    retry();
  });
}

/** Tries again later, further apart each time (the stores poll meanwhile). */
function retry(): void {
  if (!wanted()) return;
  failures++;
  retryTimer = setTimeout(() => void connect(), Math.min(30_000, 1_000 * 2 ** (failures - 1)));
}

function disconnect(): void {
  clearTimeout(retryTimer);
  const ws = socket;
  socket = undefined;
  ws?.close(1000, 'not needed');
  live.set(false);
}

document.addEventListener('visibilitychange', () => (document.hidden ? disconnect() : void connect()));
onSignOut(disconnect);

/**
 * Keeps what an element shows fresh while it is on the page: `refresh` runs a moment after each
 * live event `wanted` picks, and otherwise every `pollMs` while the live events are down (only
 * every `safetyMs` while they are up). A hidden tab asks nothing.
 */
export interface LiveRefreshOptions {
  refresh: () => void;
  /** The events that change what is shown. */
  wanted: (event: LiveEvent) => boolean;
  pollMs: number;
  safetyMs?: number;
  /** How long after an event (its rows reach D1 just after it): a burst refreshes once. */
  afterEventMs?: number;
}

export class LiveRefresh implements ReactiveController {
  readonly #options: LiveRefreshOptions;
  #timer?: ReturnType<typeof setTimeout>;
  #stop?: () => void;

  constructor(host: ReactiveControllerHost, options: LiveRefreshOptions) {
    this.#options = options;
    host.addController(this);
  }

  hostConnected(): void {
    this.#stop = onLiveEvent((event) => {
      if (this.#options.wanted(event)) this.#next(this.#options.afterEventMs ?? 400);
    });
    this.#next(this.#wait());
  }

  hostDisconnected(): void {
    this.#stop?.();
    clearTimeout(this.#timer);
  }

  #wait(): number {
    return live.value ? (this.#options.safetyMs ?? 15_000) : this.#options.pollMs;
  }

  #next(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!document.hidden) this.#options.refresh();
      this.#next(this.#wait());
    }, ms);
  }
}

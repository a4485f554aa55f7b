// Messages sent and received per day (GET /api/stats/daily) for the activity chart: loaded while
// shown, in the viewer's time zone, and again a moment after messages come and go.
import { onLiveEvent, type LiveEvent } from './events.ts';
import { api, onSignOut } from './session.ts';
import { Store, messageOf, type Remote } from './store.ts';

export interface DayCount {
  date: string;
  sent: number;
  received: number;
}
export interface DeviceActivity {
  deviceId: string;
  name: string;
  days: DayCount[];
}

export const DAYS = 30;
/** A burst of events refreshes the chart once, this long after the last. */
const AFTER_EVENTS_MS = 2_000;

let stopEvents: (() => void) | undefined;
export const activity = new Store<Remote<DeviceActivity[]>>({ loading: true }, (watched) => {
  stopEvents?.();
  stopEvents = watched ? onLiveEvent(onEvent) : undefined;
  if (watched) void refreshActivity();
});

let timer: ReturnType<typeof setTimeout> | undefined;

function onEvent(event: LiveEvent): void {
  if (event.event !== 'message' && event.event !== 'status') return;
  clearTimeout(timer);
  timer = setTimeout(refreshActivity, AFTER_EVENTS_MS);
}

export async function refreshActivity(): Promise<void> {
  // getTimezoneOffset is minutes west of UTC; the API wants minutes east.
  const utcOffset = -new Date().getTimezoneOffset();
  try {
    const { devices } = await api<{ devices: DeviceActivity[] }>('GET', `/api/stats/daily?days=${DAYS}&utcOffset=${utcOffset}`);
    activity.set({ data: devices, loading: false });
  } catch (error) {
    activity.set({ ...activity.value, loading: false, error: messageOf(error) });
  }
}

onSignOut(() => {
  clearTimeout(timer);
  activity.set({ loading: true });
});

// Signing in with the admin key. The key is kept in sessionStorage: it survives a reload but not
// the tab, and never reaches localStorage or a cookie.
import { ApiError, request } from './http.ts';
import { Store } from './store.ts';

const STORAGE_KEY = 'wa-gateway:admin-key';

export type Session = { state: 'signed-out'; notice?: string } | { state: 'checking' } | { state: 'signed-in'; key: string; demo: boolean };

export const session = new Store<Session>({ state: 'signed-out' });

/** Signs in if the gateway accepts `key` as its admin key; otherwise throws saying why not. */
export async function signIn(key: string): Promise<void> {
  key = key.trim();
  if (!key) throw new Error('Enter the admin key.');
  let demo: { enabled: boolean };
  try {
    // GET /api/status proves the key opens the gateway at all; GET /api/demo, which only the
    // admin key may call, that it is not merely a device's key.
    await request('GET', '/api/status', { key });
    demo = await request<{ enabled: boolean }>('GET', '/api/demo', { key });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw new Error('Wrong admin key: the gateway refused it.');
    if (error instanceof ApiError && error.status === 403) throw new Error("That is a device's API key. The dashboard needs the admin key (ADMIN_KEY).");
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, key);
  session.set({ state: 'signed-in', key, demo: demo.enabled });
}

export function signOut(notice?: string): void {
  sessionStorage.removeItem(STORAGE_KEY);
  session.set({ state: 'signed-out', notice });
}

/** On load: a key kept from earlier in this tab is checked again, as it may have been changed since. */
export async function restoreSession(): Promise<void> {
  const key = sessionStorage.getItem(STORAGE_KEY);
  if (!key) return;
  session.set({ state: 'checking' });
  await signIn(key).catch((error: Error) => signOut(error.message));
}

/** A call with the admin key. A refusal means the key was changed meanwhile: sign out. */
export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const current = session.value;
  if (current.state !== 'signed-in') throw new ApiError(401, 'Signed out');
  try {
    return await request<T>(method, path, { key: current.key, body, signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) signOut('The gateway no longer accepts this admin key: sign in again.');
    throw error;
  }
}

/** Runs `reset` whenever the admin signs out, so nothing shown to one session outlives it. */
export const onSignOut = (reset: () => void) =>
  session.subscribe((s) => {
    if (s.state !== 'signed-in') reset();
  });

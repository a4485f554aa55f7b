// Contacts and contact groups (kept in the gateway's D1), loaded while shown.
import { api, onSignOut } from './session.ts';
import { Store, messageOf, type Remote } from './store.ts';

export interface Contact {
  id: string;
  name: string;
  /** With country code, digits only: the gateway normalises what is typed. */
  number: string;
  groupId: string | null;
}

export interface ContactGroup {
  id: string;
  name: string;
}

export interface ContactInput {
  name: string;
  number: string;
  groupId: string | null;
}

export const contacts = new Store<Remote<Contact[]> & { query: string }>({ loading: true, query: '' }, (watched) => {
  if (watched) void loadContacts();
});
export const groups = new Store<Remote<ContactGroup[]>>({ loading: true }, (watched) => {
  if (watched) void loadGroups();
});

let search: AbortController | undefined;

/** Loads the contacts matching `query` (name or number); a newer search cancels an older one. */
export async function loadContacts(query = contacts.value.query): Promise<void> {
  search?.abort();
  const call = (search = new AbortController());
  contacts.set({ ...contacts.value, query, loading: true });
  const q = query.trim();
  try {
    const { contacts: found } = await api<{ contacts: Contact[] }>('GET', `/api/contacts${q ? `?q=${encodeURIComponent(q)}` : ''}`, undefined, call.signal);
    contacts.set({ data: found, query, loading: false });
  } catch (error) {
    if (!call.signal.aborted) contacts.set({ ...contacts.value, loading: false, error: messageOf(error) });
  }
}

export async function loadGroups(): Promise<void> {
  groups.set({ ...groups.value, loading: true });
  try {
    groups.set({ data: (await api<{ groups: ContactGroup[] }>('GET', '/api/groups')).groups, loading: false });
  } catch (error) {
    groups.set({ ...groups.value, loading: false, error: messageOf(error) });
  }
}

const contactPath = (id: string) => `/api/contacts/${encodeURIComponent(id)}`;
const groupPath = (id: string) => `/api/groups/${encodeURIComponent(id)}`;

// Each change throws on failure (for the form to show) and reloads the list on success.
export async function addContact(input: ContactInput): Promise<void> {
  await api('POST', '/api/contacts', input);
  await loadContacts();
}
export async function updateContact(id: string, input: ContactInput): Promise<void> {
  await api('PATCH', contactPath(id), input);
  await loadContacts();
}
export async function deleteContact(id: string): Promise<void> {
  await api('DELETE', contactPath(id));
  await loadContacts();
}

export async function addGroup(name: string): Promise<void> {
  await api('POST', '/api/groups', { name });
  await loadGroups();
}
export async function renameGroup(id: string, name: string): Promise<void> {
  await api('PATCH', groupPath(id), { name });
  await loadGroups();
}
/** Its contacts stay, without a group: reloaded too, so none still shows the old name. */
export async function deleteGroup(id: string): Promise<void> {
  await api('DELETE', groupPath(id));
  await Promise.all([loadGroups(), contacts.watched ? loadContacts() : undefined]);
}

onSignOut(() => {
  search?.abort();
  contacts.set({ loading: true, query: '' });
  groups.set({ loading: true });
});

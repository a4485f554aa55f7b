// Chat operations of one device beside sending: which numbers are on WhatsApp, blue ticks,
// presence, profile pictures, and managing WhatsApp groups. WhatsApp's refusals (Boom errors
// carrying its code) become link errors the edge turns into the matching HTTP status.
import { jidDecode, USyncQuery, USyncUser, type GroupMetadata, type WASocket, type proto } from '@whiskeysockets/baileys';
import { LinkError, type ErrorCode, type NumberCheck, type Params, type WaGroupInfo } from '../link/protocol.ts';
import type { Store } from '../store/store.ts';

/** Bulk lookups get numbers banned, so an answer is reused for a day. */
export const NUMBER_CHECK_TTL_MS = 24 * 3_600_000;

export interface ChatsContext {
  readonly id: string;
  readonly store: Store;
  /** The socket while the device is connected, else undefined. */
  socket(): WASocket | undefined;
}

type Boomish = Error & { data?: unknown; output?: { statusCode?: number } };

/** WhatsApp's code for a failure: Baileys puts an IQ's `<error code>` in `data`, or in the Boom status. */
function whatsAppCode(error: Boomish): number | undefined {
  if (typeof error.data === 'number') return error.data;
  return error.output?.statusCode;
}

const CODES: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'forbidden',
  403: 'forbidden',
  404: 'not_found',
  406: 'bad_request',
  408: 'timeout',
  409: 'bad_request',
  428: 'not_connected', // Baileys: the connection closed while waiting for the answer
};

/** A failure of a WhatsApp request as a link error; `what` names the thing asked about, for a 404. */
export function asLinkError(error: unknown, what: string): LinkError {
  if (error instanceof LinkError) return error;
  const code = whatsAppCode(error as Boomish);
  const text = (error as Error).message;
  const kind = (code !== undefined && CODES[code]) || 'send_failed';
  if (kind === 'not_found') return new LinkError(kind, `${what} not found (WhatsApp: ${text})`);
  if (kind === 'not_connected') return new LinkError(kind, 'Device is not connected');
  return new LinkError(kind, `WhatsApp refused: ${text}${code ? ` (${code})` : ''}`);
}

const digitsOf = (jid: string | undefined) => (jid && jidDecode(jid)?.server === 's.whatsapp.net' ? jidDecode(jid)!.user : null);

function groupInfo(meta: GroupMetadata): WaGroupInfo {
  return {
    id: meta.id,
    subject: meta.subject,
    description: meta.desc ?? null,
    owner: digitsOf(meta.ownerPn) ?? digitsOf(meta.owner),
    creation: meta.creation ?? null,
    participants: meta.participants.map((p) => ({
      number: digitsOf(p.phoneNumber) ?? digitsOf(p.id),
      lid: p.lid ?? (jidDecode(p.id)?.server === 'lid' ? p.id : null),
      role: p.admin ?? 'member',
    })),
  };
}

export class Chats {
  private readonly ctx: ChatsContext;

  constructor(ctx: ChatsContext) {
    this.ctx = ctx;
  }

  private socket(): WASocket {
    const sock = this.ctx.socket();
    if (!sock) throw new LinkError('not_connected', 'Device is not connected');
    return sock;
  }

  /** Runs a WhatsApp request, its refusal as a link error naming `what`. */
  private async ask<T>(what: string, request: (sock: WASocket) => Promise<T>): Promise<T> {
    const sock = this.socket();
    try {
      return await request(sock);
    } catch (error) {
      throw asLinkError(error, what);
    }
  }

  private checkedKey(number: string): string {
    return `checked:${this.ctx.id}:${number}`;
  }

  /**
   * Which numbers are on WhatsApp, with their JID and LID. Answers younger than a day come from
   * the store; the rest go to WhatsApp in one usync query (contact and LID protocols at once:
   * Baileys' `onWhatsApp` asks for the contact only).
   */
  async checkNumbers(numbers: string[]): Promise<NumberCheck[]> {
    const unique = [...new Set(numbers)];
    const cached = await this.ctx.store.getMany(unique.map((n) => this.checkedKey(n)));
    const known = new Map<string, NumberCheck>();
    unique.forEach((number, i) => {
      if (cached[i]) known.set(number, { number, ...JSON.parse(cached[i]!) });
    });
    const missing = unique.filter((n) => !known.has(n));
    if (missing.length) {
      const query = new USyncQuery().withContactProtocol().withLIDProtocol();
      for (const number of missing) query.withUser(new USyncUser().withPhone(`+${number}`));
      const result = await this.ask('number', (sock) => sock.executeUSyncQuery(query));
      const list = result?.list ?? [];
      const found = new Map(list.map((entry) => [digitsOf(entry.id), entry]));
      const changes: Record<string, string> = {};
      const expiresAt: Record<string, number> = {};
      for (const [i, number] of missing.entries()) {
        // WhatsApp may answer under its own form of a number (Brazil's extra 9, say): then by
        // position, as it answers users in the order asked.
        const entry = found.get(number) ?? (list.length === missing.length ? list[i] : undefined);
        const exists = entry?.contact === true;
        const check = { exists, jid: exists ? (entry!.id ?? null) : null, lid: exists && typeof entry!.lid === 'string' ? entry!.lid : null };
        known.set(number, { number, ...check });
        changes[this.checkedKey(number)] = JSON.stringify(check);
        expiresAt[this.checkedKey(number)] = Date.now() + NUMBER_CHECK_TTL_MS;
      }
      await this.ctx.store.write(changes, { expiresAt });
    }
    return numbers.map((number) => known.get(number)!);
  }

  /** Blue ticks for messages this device received; WhatsApp needs each one's chat and sender. */
  async read({ chat, messageIds }: Pick<Params<'chat.read'>, 'chat' | 'messageIds'>): Promise<number> {
    const ids = [...new Set(messageIds)];
    const records = await this.ctx.store.getMany(ids.map((id) => `received:${this.ctx.id}:${id}`));
    const keys: proto.IMessageKey[] = ids.map((id, i) => {
      const record = records[i];
      if (!record) throw new LinkError('bad_request', `messageIds: this device received no message ${id} (within the retention)`);
      const { chat: remoteJid, participant } = JSON.parse(record) as { chat: string; participant?: string };
      // A chat kept by LID cannot be compared with a phone number; one of the same kind can.
      if (sameKind(remoteJid, chat) && remoteJid !== chat) throw new LinkError('bad_request', `messageIds: message ${id} is not in chat ${chat}`);
      return { remoteJid, id, participant, fromMe: false };
    });
    await this.ask('message', (sock) => sock.readMessages(keys));
    return keys.length;
  }

  async presence(to: string, state: Params<'chat.presence'>['state']): Promise<void> {
    const sock = this.socket();
    // Baileys silently drops available/unavailable from an account without a profile name.
    if ((state === 'available' || state === 'unavailable') && !sock.authState.creds.me?.name) {
      throw new LinkError('bad_request', 'state: WhatsApp shows available/unavailable only for an account with a profile name');
    }
    await this.ask('chat', (s) => s.sendPresenceUpdate(state, to));
  }

  /** The full-size picture's URL; null when there is none or its owner hides it. */
  async profilePicture(jid: string): Promise<string | null> {
    try {
      return (await this.ask('picture', (sock) => sock.profilePictureUrl(jid, 'image'))) ?? null;
    } catch (error) {
      if (error instanceof LinkError && (error.code === 'not_found' || error.code === 'forbidden')) return null;
      throw error;
    }
  }

  // ───────────────────────── groups ─────────────────────────

  async createGroup(subject: string, participants: string[]): Promise<WaGroupInfo> {
    return groupInfo(await this.ask('group', (sock) => sock.groupCreate(subject, participants)));
  }

  async group(groupId: string): Promise<WaGroupInfo> {
    return groupInfo(await this.ask(`group ${groupId}`, (sock) => sock.groupMetadata(groupId)));
  }

  async updateGroup(groupId: string, changes: { subject?: string; description?: string }): Promise<WaGroupInfo> {
    const what = `group ${groupId}`;
    if (changes.subject !== undefined) await this.ask(what, (sock) => sock.groupUpdateSubject(groupId, changes.subject!));
    // An empty description deletes it.
    if (changes.description !== undefined) await this.ask(what, (sock) => sock.groupUpdateDescription(groupId, changes.description || undefined));
    return this.group(groupId);
  }

  async participants(groupId: string, action: Params<'group.participants'>['action'], participants: string[]): Promise<{ number: string; status: number }[]> {
    const answers = await this.ask(`group ${groupId}`, (sock) => sock.groupParticipantsUpdate(groupId, participants, action));
    const byJid = new Map(answers.map((a) => [a.jid, Number(a.status)]));
    // WhatsApp answers each participant in turn, by the JID asked about (or, in a LID group, maybe by LID).
    return participants.map((jid, i) => ({ number: digitsOf(jid) ?? jid, status: byJid.get(jid) ?? Number(answers[i]?.status ?? 500) }));
  }

  async inviteCode(groupId: string, revoke: boolean): Promise<string> {
    const code = await this.ask(`group ${groupId}`, (sock) => (revoke ? sock.groupRevokeInvite(groupId) : sock.groupInviteCode(groupId)));
    if (!code) throw new LinkError('send_failed', 'WhatsApp answered without an invite code');
    return code;
  }

  async join(code: string): Promise<string> {
    const id = await this.ask('invite', (sock) => sock.groupAcceptInvite(code));
    if (!id) throw new LinkError('send_failed', 'WhatsApp answered without the group');
    return id;
  }

  async leave(groupId: string): Promise<void> {
    await this.ask(`group ${groupId}`, (sock) => sock.groupLeave(groupId));
  }
}

/** Both group JIDs, or both phone JIDs: comparable as they are. */
function sameKind(a: string, b: string): boolean {
  const kind = (jid: string) => jidDecode(jid)?.server;
  return kind(a) === kind(b);
}

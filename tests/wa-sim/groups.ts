// Group management as WhatsApp's server does it (`w:g2` IQs, Baileys' lib/Socket/groups.js):
// create, subject, description, participants, invite links, joining and leaving; every change is
// told to the participants' linked devices as a `w:gp2` notification. Also the profile pictures
// (`w:profile:picture`) that tests set per contact.
import { jidDecode } from '@whiskeysockets/baileys';
import { randomBytes, randomInt } from 'node:crypto';
import type { Connection } from './connection.ts';
import { child, children, node, nowSeconds, textOf, type BinaryNode } from './nodes.ts';
import type { Companion, Group, Person } from './people.ts';
import type { WaSim } from './sim.ts';

/** An IQ refused with WhatsApp's code and text (`<error code text/>`), as the server answers. */
export class IqError extends Error {
  readonly code: number;
  constructor(code: number, text: string) {
    super(text);
    this.code = code;
  }
}

const notFound = () => new IqError(404, 'item-not-found');
const forbidden = () => new IqError(403, 'forbidden');
const notAuthorized = () => new IqError(401, 'not-authorized');

type IqHandler = (conn: Connection, iq: BinaryNode) => BinaryNode['content'] | undefined | Promise<BinaryNode['content'] | undefined>;

/** What the group server needs of the simulator beyond its public API. */
export interface GroupServerDeps {
  sim: WaSim;
  on(key: string, handler: IqHandler): void;
  groupNode(group: Group): BinaryNode;
  deliver(companion: Companion, stanza: BinaryNode): void;
}

export class GroupServer {
  /** Invite codes by group id; a group gets one when an admin first asks for its link. */
  private readonly invites = new Map<string, string>();
  /** `group participant` pairs who left or were removed: WhatsApp refuses re-adding them for a while (408). */
  private readonly leftRecently = new Set<string>();
  /** Profile pictures by phone: a URL, or null for one its owner hides (absent: none at all). */
  readonly profilePictures = new Map<string, string | null>();
  /** Every `w:gp2` notification sent: to which linked device, about which group, what changed. */
  readonly notifications: { to: string; group: string; change: string; actor: string }[] = [];
  private notificationCounter = 0;
  private readonly deps: GroupServerDeps;

  constructor(deps: GroupServerDeps) {
    this.deps = deps;
    const { on } = deps;
    on('w:g2 create', (conn, iq) => this.create(conn, iq));
    on('w:g2 query', (conn, iq) => [deps.groupNode(this.memberOf(conn, iq.attrs.to))]);
    on('w:g2 subject', (conn, iq) => this.subject(conn, iq));
    on('w:g2 description', (conn, iq) => this.description(conn, iq));
    for (const action of ['add', 'remove', 'promote', 'demote'] as const) on(`w:g2 ${action}`, (conn, iq) => this.participants(conn, iq, action));
    on('w:g2 invite', (conn, iq) => this.invite(conn, iq));
    on('w:g2 leave', (conn, iq) => this.leave(conn, iq));
    on('w:profile:picture picture', (_conn, iq) => this.picture(iq));
  }

  private get sim() {
    return this.deps.sim;
  }

  private actor(conn: Connection): Person {
    const owner = conn.companion?.owner;
    if (!owner) throw notAuthorized();
    return owner;
  }

  private find(jid: string | undefined): Group {
    const group = this.sim.groups.get((jid ?? '').replace(/@g\.us$/, ''));
    if (!group) throw notFound();
    return group;
  }

  /** The group, if the asking account is in it (403 otherwise, as for a group one left). */
  private memberOf(conn: Connection, jid: string | undefined): Group {
    const group = this.find(jid);
    if (!group.participants.includes(this.actor(conn).phone)) throw forbidden();
    return group;
  }

  private adminOf(conn: Connection, jid: string | undefined): Group {
    const group = this.memberOf(conn, jid);
    if (!group.admins.includes(this.actor(conn).phone)) throw notAuthorized();
    return group;
  }

  /** The phone of a participant JID (phone number or LID); undefined for no WhatsApp user. */
  private phoneOf(jid: string): string | undefined {
    const known = this.sim.personOf(jid);
    if (known) return known.phone;
    const decoded = jidDecode(jid);
    if (decoded?.server !== 's.whatsapp.net' || this.sim.offWhatsApp.has(decoded.user)) return undefined;
    return this.sim.addContact({ phone: decoded.user }).phone;
  }

  private create(conn: Connection, iq: BinaryNode): BinaryNode[] {
    const request = child(iq, 'create')!;
    const creator = this.actor(conn).phone;
    const invited = children(request, 'participant')
      .map((p) => this.phoneOf(p.attrs.jid ?? ''))
      .filter((phone): phone is string => !!phone && phone !== creator);
    const group = this.sim.addGroup({
      id: `120363${randomInt(10 ** 9, 10 ** 10 - 1)}${randomInt(10 ** 5, 10 ** 6 - 1)}`,
      subject: request.attrs.subject ?? '',
      participants: [creator, ...new Set(invited)],
      admins: [creator],
      addressingMode: 'lid',
    });
    const created = this.deps.groupNode(group);
    this.notify(group, creator, node('create', {}, [created]));
    return [created];
  }

  private subject(conn: Connection, iq: BinaryNode): undefined {
    const group = this.adminOf(conn, iq.attrs.to);
    const subject = textOf(child(iq, 'subject'))?.trim();
    if (!subject) throw new IqError(400, 'bad-request');
    group.subject = subject;
    this.notify(group, this.actor(conn).phone, node('subject', { subject, s_t: String(nowSeconds()) }));
    return undefined;
  }

  private description(conn: Connection, iq: BinaryNode): undefined {
    const group = this.adminOf(conn, iq.attrs.to);
    const request = child(iq, 'description')!;
    // `prev` names the description the client last saw: a stale one loses against a newer change.
    if (group.description && request.attrs.prev !== (group.descriptionId ?? 'desc1')) throw new IqError(409, 'conflict');
    const body = request.attrs.delete === 'true' ? undefined : textOf(child(request, 'body'));
    group.description = body;
    group.descriptionId = body ? (request.attrs.id ?? randomBytes(8).toString('hex').toUpperCase()) : undefined;
    const notice = body ? node('description', { id: group.descriptionId! }, [node('body', {}, Buffer.from(body))]) : node('description', { delete: 'true' });
    this.notify(group, this.actor(conn).phone, notice);
    return undefined;
  }

  /** Answers per participant: no `error` when done, else WhatsApp's code for why not. */
  private participants(conn: Connection, iq: BinaryNode, action: 'add' | 'remove' | 'promote' | 'demote'): BinaryNode[] {
    const group = this.adminOf(conn, iq.attrs.to);
    const done: { jid: string; phone: string }[] = [];
    const answers = children(child(iq, action), 'participant').map((p) => {
      const jid = p.attrs.jid ?? '';
      const phone = this.phoneOf(jid);
      const error = this.change(group, action, phone);
      if (!error) done.push({ jid, phone: phone! });
      return node('participant', error ? { jid, error: String(error) } : { jid });
    });
    // Whoever was removed hears of it too.
    const told = action === 'remove' ? [...group.participants, ...done.map((d) => d.phone)] : group.participants;
    if (done.length)
      this.notify(
        group,
        this.actor(conn).phone,
        node(
          action,
          {},
          done.map((d) => this.participantNode(group, d.phone)),
        ),
        told,
      );
    return [node(action, {}, answers)];
  }

  /** Applies one participant change; the error code when WhatsApp would refuse it. */
  private change(group: Group, action: 'add' | 'remove' | 'promote' | 'demote', phone: string | undefined): number | undefined {
    if (!phone) return 404; // not on WhatsApp
    const member = group.participants.includes(phone);
    if (action === 'add') {
      if (member) return 409;
      if (this.leftRecently.has(`${group.id} ${phone}`)) return 408;
      group.participants.push(phone);
      return undefined;
    }
    if (!member) return 404;
    if (action === 'remove') {
      this.drop(group, phone);
    } else if (action === 'promote') {
      if (!group.admins.includes(phone)) group.admins.push(phone);
    } else {
      group.admins = group.admins.filter((admin) => admin !== phone);
    }
    return undefined;
  }

  private drop(group: Group, phone: string): void {
    group.participants = group.participants.filter((p) => p !== phone);
    group.admins = group.admins.filter((p) => p !== phone);
    this.leftRecently.add(`${group.id} ${phone}`);
  }

  /** Get (admins only), revoke (a new code) or, with a code, join by invite. */
  private invite(conn: Connection, iq: BinaryNode): BinaryNode[] {
    const code = child(iq, 'invite')?.attrs.code;
    if (code) return this.join(conn, code);
    const group = this.adminOf(conn, iq.attrs.to);
    if (iq.attrs.type === 'set' || !this.invites.has(group.id)) {
      const fresh = randomBytes(16).toString('base64url').slice(0, 22);
      this.invites.set(group.id, fresh);
      if (iq.attrs.type === 'set') this.notify(group, this.actor(conn).phone, node('invite', { code: fresh }));
    }
    return [node('invite', { code: this.invites.get(group.id)! })];
  }

  private join(conn: Connection, code: string): BinaryNode[] {
    const id = [...this.invites].find(([, c]) => c === code)?.[0];
    const group = id && this.sim.groups.get(id);
    if (!group) throw new IqError(404, 'item-not-found');
    const phone = this.actor(conn).phone;
    if (!group.participants.includes(phone)) {
      group.participants.push(phone);
      this.leftRecently.delete(`${group.id} ${phone}`);
      this.notify(group, phone, node('add', { reason: 'invite' }, [this.participantNode(group, phone)]));
    }
    return [node('group', { jid: `${group.id}@g.us` })];
  }

  private leave(conn: Connection, iq: BinaryNode): BinaryNode[] {
    const phone = this.actor(conn).phone;
    const ids = children(child(iq, 'leave'), 'group').map((g) => g.attrs.id ?? '');
    for (const id of ids) {
      const group = this.memberOf(conn, id);
      const before = [...group.participants];
      this.drop(group, phone);
      this.notify(group, phone, node('remove', {}, [this.participantNode(group, phone)]), before);
    }
    return [
      node(
        'leave',
        {},
        ids.map((id) => node('group', { id })),
      ),
    ];
  }

  private picture(iq: BinaryNode): BinaryNode[] {
    const person = this.sim.personOf(iq.attrs.target ?? '');
    const url = person ? this.profilePictures.get(person.phone) : undefined;
    if (url === undefined) throw new IqError(404, 'item-not-found');
    if (url === null) throw notAuthorized(); // hidden by the owner's privacy settings
    return [node('picture', { id: String(nowSeconds()), type: child(iq, 'picture')?.attrs.type ?? 'image', url, direct_path: new URL(url).pathname })];
  }

  private participantNode(group: Group, phone: string): BinaryNode {
    const person = this.sim.people.get(phone)!;
    return node('participant', group.addressingMode === 'lid' ? { jid: person.lidJid, phone_number: person.jid } : { jid: person.jid });
  }

  /**
   * Tells every linked device of the group's participants (or of `to`) about a change, as
   * WhatsApp does with a `w:gp2` notification: `content` says what changed, `actor` who did it.
   */
  notify(group: Group, actor: string, content: BinaryNode, to: string[] = group.participants): { id: string } {
    const by = this.sim.people.get(actor)!;
    // The actor by the group's addressing, and by the other kind of id beside it.
    const lid = group.addressingMode === 'lid';
    const attrs = {
      from: `${group.id}@g.us`,
      type: 'w:gp2',
      id: `gp2-${++this.notificationCounter}`,
      t: String(nowSeconds()),
      participant: lid ? by.lidJid : by.jid,
      ...(lid ? { participant_pn: by.jid } : { participant_lid: by.lidJid }),
    };
    for (const phone of new Set(to)) {
      for (const companion of this.sim.people.get(phone)?.companions.values() ?? []) {
        this.notifications.push({ to: companion.jid, group: attrs.from, change: content.tag, actor });
        this.deps.deliver(companion, node('notification', attrs, [content]));
      }
    }
    return { id: attrs.id };
  }
}

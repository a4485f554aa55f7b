// The WhatsApp simulator: a local WhatsApp Web server that the real Baileys connects to, with a
// scriptable phone. Protocol notes: PROTOCOL.md in the project's shared design folder.
import { binaryNodeToString, Curve, jidDecode, proto, WA_ADV_ACCOUNT_SIG_PREFIX, WA_ADV_DEVICE_SIG_PREFIX } from '@whiskeysockets/baileys';
import { EventEmitter } from 'node:events';
import { createDecipheriv, createCipheriv, createHmac, pbkdf2Sync, randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { makeNoiseIdentity, makeTlsIdentity, type NoiseIdentity, type TlsIdentity } from './certs.ts';
import { Connection, type ConnectionHandler, type Registration } from './connection.ts';
import { handleControl } from './control.ts';
import { MEDIA_TYPES, MediaHost, type MediaType, type ReceivedMedia, type UploadedMedia } from './media.ts';
import { hkdf } from './noise.ts';
import { bytesOf, child, childNodes, children, describe, node, nowSeconds, textOf, uintBE, type BinaryNode } from './nodes.ts';
import { GroupServer, IqError } from './groups.ts';
import { Companion, LID_SERVER, Person, PN_SERVER, type Group } from './people.ts';
import { ProtocolAddress, stripPrefix, verifySignature } from './signal.ts';
import { encryptPollVote } from './poll-vote.ts';
import type { GroupChange } from './people.ts';

export type DisconnectKind = 'restart' | 'replaced' | 'loggedOut' | 'streamEnd' | 'close' | 'silence' | `failure:${number}`;
export type ReceiptType = 'delivery' | 'read' | 'played';

export interface StartOptions {
  /** Port for the WhatsApp WebSocket (0 = any free port). */
  port?: number;
  /** Reuse a TLS identity (e.g. one whose certificate a client process already trusts). */
  tls?: TlsIdentity;
  /** Reuse a Noise identity (so clients configured with its root key keep trusting it). */
  identity?: NoiseIdentity;
  /** Receipts sent automatically after each acknowledged client message. */
  autoReceipts?: 'none' | 'delivery' | 'read';
  /** Log sink; unhandled stanzas are always logged through it. Defaults to stderr. */
  log?: (line: string) => void;
  /** See `WaSim.idleDevices`. */
  idleDevices?: boolean;
}

/** The one-time prekey count reported to companions in `idleDevices` mode: plenty, so none upload any. */
const IDLE_PREKEY_COUNT = 812;

/** One participant copy of a message a client sent, as that device decrypted it. */
export interface DeliveredCopy {
  jid: string;
  encType: string;
  message?: proto.IMessage;
  error?: string;
}

/** A message a client sent, as the simulator received and decrypted it. */
export interface OutgoingMessage {
  id: string;
  /** The chat it was sent to, as addressed on the wire (`…@s.whatsapp.net`, `…@lid`, `…@g.us`). */
  to: string;
  /** The sending companion's device JID. */
  from: string;
  type: string;
  at: number;
  participants: DeliveredCopy[];
  /** What the recipient sees: the decrypted message (own-device copies unwrapped). */
  message?: proto.IMessage;
  /** Convenience: the text or caption of `message`. */
  text?: string;
  media?: ReceivedMedia;
  /** Why the recipient could not read it, if it could not. */
  error?: string;
  /** The stanza's `edit` attribute: WhatsApp's kind of change to an earlier message (1 edit, 7 revoke, 8 admin revoke). */
  edit?: string;
}

export interface IncomingOptions {
  /** A group the message is posted in (its id, with or without `@g.us`). */
  group?: string;
  /** Skip Signal and send `<plaintext>` (for tests that are not about encryption). */
  plaintext?: boolean;
  /** Deliver with the `offline` attribute, as WhatsApp does for messages queued while offline. */
  offline?: boolean;
  id?: string;
  /**
   * A private message from the sender's LID alone, no phone number beside it, as WhatsApp sends in
   * LID-addressed chats (the device may know the number from an earlier message).
   */
  fromLid?: boolean;
}

export interface ClientReceipt {
  id: string;
  type: string;
  from: string;
  to: string;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a handler that only acts returns nothing, and TypeScript reads that as void
type IqHandler = (conn: Connection, iq: BinaryNode) => BinaryNode['content'] | Promise<BinaryNode['content']> | void;

const SERVER = 's.whatsapp.net';
const PAIRING_CODE_ALPHABET = /^[1-9A-HJ-NP-TV-Z]{8}$/;

export class WaSim implements ConnectionHandler {
  readonly people = new Map<string, Person>();
  private readonly byLid = new Map<string, Person>();
  /** Companions by Noise static key (base64): the key a client presents at every login. */
  private readonly companions = new Map<string, Companion>();
  private readonly connections = new Set<Connection>();
  readonly groups = new Map<string, Group>();
  /** Every message clients sent, as its recipients see it: once per id. */
  readonly outbox: OutgoingMessage[] = [];
  /** Messages written again under an id already delivered: recipients drop them, as WhatsApp's do. */
  readonly duplicates: OutgoingMessage[] = [];
  /** `sender id` of every message in the outbox that reached its recipient. */
  private readonly deliveredIds = new Set<string>();
  readonly clientReceipts: ClientReceipt[] = [];
  /** Every message delivered to a client: to which device, from whom, and how it was encrypted. */
  readonly incoming: { id: string; to: string; from: string; encTypes: string[] }[] = [];
  /** The media of messages contacts sent, by message id: a client may ask for a dropped file again. */
  private readonly incomingMedia = new Map<string, { mediaKey?: Uint8Array | null; directPath?: string | null }>();
  /** Every stanza the simulator had no handler for. */
  readonly unhandled: BinaryNode[] = [];
  /** Presence and chat-state updates the clients sent (`composing`, `available`, …). */
  readonly presences: { from: string; tag: string; attrs: Record<string, string> }[] = [];
  autoReceipts: 'none' | 'delivery' | 'read';
  receiptDelayMs = 250;
  /** While set, the server's acks of sent messages wait for it (a send kept in flight). */
  holdAcks: Promise<void> | undefined;
  /**
   * A lighter mode for many idle devices: companions are told the server already holds their
   * one-time prekeys, so a pairing skips generating, storing and uploading the 812 Baileys sends
   * at its first login (most of what a pairing costs both sides). Login, reconnects and sending
   * work as before; only contacts opening a new Signal session *to* such a device find no
   * one-time prekey (the signed prekey still serves), which idle devices do not need.
   */
  idleDevices: boolean;

  private readonly events = new EventEmitter();
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly failures = new Map<string, { code: number; text: string }>();
  // ── chat operations: number checks, profile pictures, groups (see groups.ts) ──
  /** Phone numbers that are not on WhatsApp: usync answers `out` for them and groups refuse them. */
  readonly offWhatsApp = new Set<string>();
  /** How many usync queries asked "is this number on WhatsApp?" (the `contact` protocol). */
  contactQueries = 0;
  /** Group management and profile pictures. */
  readonly groupServer: GroupServer;

  private nextPhone = 15550000001;
  private messageCounter = 0;

  private readonly httpServer: Server;
  private readonly wss: WebSocketServer;
  readonly identity: NoiseIdentity;
  readonly tls: TlsIdentity;
  readonly media: MediaHost;
  readonly log: (line: string) => void;

  private constructor(httpServer: Server, wss: WebSocketServer, identity: NoiseIdentity, tls: TlsIdentity, media: MediaHost, log: (line: string) => void, options: StartOptions) {
    this.httpServer = httpServer;
    this.wss = wss;
    this.identity = identity;
    this.tls = tls;
    this.media = media;
    this.log = log;
    this.autoReceipts = options.autoReceipts ?? 'none';
    this.idleDevices = options.idleDevices ?? false;
    this.events.setMaxListeners(0);
    this.registerIqHandlers();
    // Also answers `w:g2 query` (one group) and `w:profile:picture`.
    this.groupServer = new GroupServer({ sim: this, on: (key, handler) => this.iqHandlers.set(key, handler), groupNode: (g) => this.groupNode(g), deliver: (c, s) => this.deliver(c, s) });
  }

  /** Marks a number as not on WhatsApp. */
  notOnWhatsApp(phone: string): void {
    this.offWhatsApp.add(phone);
  }

  /** Sets a contact's profile picture URL; null: they have one but hide it from everyone. */
  setProfilePicture(phone: string, url: string | null): void {
    this.groupServer.profilePictures.set(phone, url);
  }

  static async start(options: StartOptions = {}): Promise<WaSim> {
    const log = options.log ?? ((line: string) => process.stderr.write(`[wa-sim] ${line}\n`));
    const tls = options.tls ?? (await makeTlsIdentity());
    const media = await MediaHost.start(tls, log);
    let sim: WaSim | undefined;
    const httpServer = createServer((req, res) => void handleControl(sim!, req, res));
    // Every upgrade is accepted (a refused upgrade makes Baileys hang, PROTOCOL.md §1.1).
    const wss = new WebSocketServer({ server: httpServer, maxPayload: 16 * 1024 * 1024 });
    sim = new WaSim(httpServer, wss, options.identity ?? makeNoiseIdentity(), tls, media, log, options);
    wss.on('connection', (ws) => sim!.connections.add(new Connection(ws, sim!.identity, sim!)));
    await new Promise<void>((resolve) => httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
    return sim;
  }

  get port(): number {
    return (this.httpServer.address() as AddressInfo).port;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws/chat`;
  }
  /** Base64 root key; clients trust it through `WA_CERT_DETAILS.PUBLIC_KEY`. */
  get rootPublicKey(): string {
    return this.identity.rootPublicKey.toString('base64');
  }
  get caCertPem(): string {
    return this.tls.cert;
  }
  /** Base URL of the HTTP control API (same port as the WebSocket). */
  get controlUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const conn of this.connections) conn.drop();
    this.wss.close();
    this.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    await this.media.stop();
  }

  // ───────────────────────── people and groups ─────────────────────────

  /** Adds a WhatsApp user (a contact the clients can message), or returns the existing one. */
  addContact(options: { phone?: string; lid?: string; name?: string; devices?: number[] } = {}): Person {
    const phone = options.phone ?? String(this.nextPhone++);
    const existing = this.people.get(phone);
    if (existing) return existing;
    const lid = options.lid ?? this.freshLid();
    const person = new Person(phone, lid, options.name ?? `User ${phone.slice(-4)}`, options.devices);
    this.people.set(phone, person);
    this.byLid.set(lid, person);
    return person;
  }

  addGroup(options: { id?: string; subject: string; participants: string[]; admins?: string[]; description?: string; addressingMode?: 'pn' | 'lid' }): Group {
    const participants = options.participants.map((phone) => this.addContact({ phone }).phone);
    const group: Group = {
      id: (options.id ?? `120363${randomInt(10 ** 9, 10 ** 10 - 1)}${randomInt(10 ** 5, 10 ** 6 - 1)}`).replace(/@g\.us$/, ''),
      subject: options.subject,
      creator: options.admins?.[0] ?? participants[0]!,
      creation: nowSeconds(),
      participants,
      admins: options.admins ?? participants.slice(0, 1),
      description: options.description,
      addressingMode: options.addressingMode ?? 'pn',
    };
    this.groups.set(group.id, group);
    return group;
  }

  private freshLid(): string {
    let lid: string;
    do lid = String(randomInt(10 ** 13, 10 ** 14 - 1)) + String(randomInt(0, 9));
    while (this.byLid.has(lid));
    return lid;
  }

  /** The person behind a JID (phone number or LID, any device), if the simulator knows them. */
  personOf(jid: string): Person | undefined {
    const decoded = jidDecode(jid);
    if (!decoded?.user) return undefined;
    if (decoded.server === LID_SERVER) return this.byLid.get(decoded.user);
    if (decoded.server === PN_SERVER || decoded.server === 'c.us') return this.people.get(decoded.user);
    return this.people.get(jid.replace(/\D/g, ''));
  }

  /** A device of a known person: a simulated phone, or a linked companion. */
  private deviceOf(jid: string) {
    const person = this.personOf(jid);
    if (!person) return undefined;
    const deviceId = jidDecode(jid)?.device ?? 0;
    const sim = person.devices.get(deviceId);
    if (sim) return { person, deviceId, sim } as const;
    const companion = person.companions.get(deviceId);
    if (companion) return { person, deviceId, companion } as const;
    return undefined;
  }

  companion(deviceJid: string): Companion | undefined {
    const found = this.deviceOf(deviceJid);
    return found && 'companion' in found ? found.companion : undefined;
  }

  /** Linked devices: JID, LID, whether a client is connected as it right now. */
  get devices() {
    return [...this.companions.values()].map((c) => ({ jid: c.jid, lid: c.lidJid, phone: c.owner.phone, online: c.online, platform: c.platform }));
  }

  /** One-time prekeys the simulator still holds for a companion (as the server's `count`). */
  prekeyCount(deviceJid: string): number {
    return this.companion(deviceJid)?.keys.preKeys.size ?? 0;
  }

  // ───────────────────────── connections ─────────────────────────

  onClientPayload(conn: Connection, payload: proto.ClientPayload): void {
    const pairing = payload.devicePairingData;
    if (pairing) {
      this.startRegistration(conn, pairing, payload);
      return;
    }
    const username = String(payload.username ?? '');
    const device = payload.device ?? 0;
    const companion = this.companions.get(conn.noiseKey.toString('base64'));
    if (!companion || companion.owner.phone !== username || companion.deviceId !== device) {
      this.log(`login refused for ${username}:${device}: no such linked device`);
      conn.end(node('failure', { reason: '401', location: 'sim' }));
      return;
    }
    const previous = companion.connection;
    if (previous && !previous.closed) {
      previous.end(node('stream:error', {}, [node('conflict', { type: 'replaced' })]));
    }
    companion.connection = conn;
    conn.companion = companion;
    conn.send(node('success', { t: String(nowSeconds()), props: '1', abprops: '1', location: 'sim', creation: String(nowSeconds()), lid: companion.lidJid }));
    const queued = companion.pending.splice(0);
    for (const stanza of queued) conn.send(stanza);
    conn.send(node('ib', { from: SERVER }, [node('offline', { count: String(queued.length) })]));
    this.events.emit('login', companion);
  }

  onClose(conn: Connection): void {
    this.connections.delete(conn);
    const companion = conn.companion;
    if (companion?.connection === conn) {
      companion.connection = undefined;
      // Like WhatsApp, keep what the device never confirmed and offer it again at its next login.
      const unconfirmed = [...companion.unacked.values()].map((s) => ({ ...s, attrs: { ...s.attrs, offline: '1' } }));
      companion.unacked.clear();
      companion.pending.unshift(...unconfirmed);
    }
    this.events.emit('closed', conn);
  }

  async onStanza(conn: Connection, stanza: BinaryNode): Promise<void> {
    switch (stanza.tag) {
      case 'iq':
        return this.handleIq(conn, stanza);
      case 'message':
        return this.onClientMessage(conn, stanza);
      case 'receipt':
        return this.onClientReceipt(conn, stanza);
      case 'ack':
        return; // the client acknowledging our notifications and receipts
      case 'presence':
      case 'chatstate':
        // The state's own attributes too: recording is `<composing media='audio'/>`.
        this.presences.push({ from: conn.label, tag: stanza.tag, attrs: { ...stanza.attrs, ...childNodes(stanza)[0]?.attrs, state: childNodes(stanza)[0]?.tag ?? '' } });
        this.events.emit('presence');
        return;
      case 'ib':
        if (child(stanza, 'unified_session')) return; // telemetry, WhatsApp sends nothing back
        break;
    }
    this.reportUnhandled(conn, stanza);
  }

  private reportUnhandled(conn: Connection, stanza: BinaryNode): void {
    this.unhandled.push(stanza);
    this.log(`UNHANDLED stanza from ${conn.label}: ${describe(stanza)}\n${binaryNodeToString(stanza)}`);
  }

  // ───────────────────────── IQs ─────────────────────────

  /** Replaces or adds the reply to an IQ, keyed by xmlns and first child tag. */
  onIq(xmlns: string, childTag: string, handler: IqHandler): void {
    this.iqHandlers.set(`${xmlns} ${childTag}`, handler);
  }

  /** Makes the next IQ with this xmlns fail with the given error code. */
  failNext(xmlns: string, code: number, text = 'simulated-failure'): void {
    this.failures.set(xmlns, { code, text });
  }

  private async handleIq(conn: Connection, iq: BinaryNode): Promise<void> {
    if (iq.attrs.type === 'result' || iq.attrs.type === 'error') return; // a reply nobody waits for
    const xmlns = iq.attrs.xmlns ?? '';
    const reply = (content?: BinaryNode['content'], type = 'result') => conn.send(node('iq', { from: iq.attrs.to || SERVER, type, id: iq.attrs.id! }, content));
    const failure = this.failures.get(xmlns);
    if (failure) {
      this.failures.delete(xmlns);
      return reply([node('error', { code: String(failure.code), text: failure.text })], 'error');
    }
    const first = childNodes(iq)[0];
    const handler = this.iqHandlers.get(`${xmlns} ${first?.tag ?? ''}`) ?? this.iqHandlers.get(`${xmlns} *`);
    if (!handler) {
      this.reportUnhandled(conn, iq);
      return reply([node('error', { code: '501', text: 'feature-not-implemented' })], 'error');
    }
    try {
      reply((await handler(conn, iq)) ?? undefined);
    } catch (error) {
      const code = error instanceof IqError ? error.code : 500;
      if (code === 500) this.log(`${conn.label}: IQ ${describe(iq)} failed: ${(error as Error).message}`);
      reply([node('error', { code: String(code), text: (error as Error).message })], 'error');
    }
  }

  private registerIqHandlers(): void {
    const on = (key: string, handler: IqHandler) => this.iqHandlers.set(key, handler);
    on('w:p ping', () => undefined);
    on('passive active', () => undefined);
    on('passive passive', () => undefined);
    on('encrypt count', (conn) => {
      const held = conn.companion?.keys.preKeys.size ?? 0;
      return [node('count', { value: String(held === 0 && this.idleDevices ? IDLE_PREKEY_COUNT : held) })];
    });
    on('encrypt registration', (conn, iq) => this.storeUploadedKeys(conn, iq));
    on('encrypt digest', (conn) => {
      const keys = conn.companion?.keys;
      if (!keys) return [node('digest', {})];
      return [node('digest', {}, [node('registration', {}, uintBE(keys.registrationId, 4)), node('type', {}, Buffer.from([5])), node('identity', {}, keys.identityKey)])];
    });
    on('encrypt rotate', (conn, iq) => {
      const skey = child(child(iq, 'rotate'), 'skey');
      if (conn.companion && skey) conn.companion.keys.signedPreKey = this.parseSignedPreKey(skey);
    });
    on('encrypt key', (_conn, iq) => this.bundles(iq));
    on('usync usync', (conn, iq) => this.usync(conn, iq));
    on('abt props', () => [node('props', { protocol: '1' })]);
    on('blocklist ', () => [node('list', {})]);
    on('privacy privacy', () => [
      node(
        'privacy',
        {},
        ['readreceipts', 'last', 'online', 'profile', 'status', 'groupadd', 'calladd'].map((name) => node('category', { name, value: 'all' })),
      ),
    ]);
    on('privacy tokens', () => undefined);
    on('w:m media_conn', () => [
      node('media_conn', { auth: this.media.authToken, ttl: '300', auth_ttl: '21600', max_buckets: '12' }, [node('host', { hostname: this.media.host, maxContentLengthBytes: '104857600' })]),
    ]);
    on('w:g2 participating', (conn) => [
      node(
        'groups',
        {},
        this.groupsOf(conn).map((g) => this.groupNode(g)),
      ),
    ]);
    on('md remove-companion-device', (conn) => {
      if (conn.companion) this.unlink(conn.companion);
    });
    on('md link_code_companion_reg', (conn, iq) => this.onLinkCodeStage(conn, iq));
    on('status *', () => undefined);
  }

  private storeUploadedKeys(conn: Connection, iq: BinaryNode): void {
    const companion = conn.companion;
    if (!companion) throw new Error('keys uploaded before login');
    const identity = bytesOf(child(iq, 'identity'))!;
    if (!identity.equals(companion.keys.identityKey)) throw new Error('uploaded identity differs from the paired one');
    companion.keys.registrationId = bytesOf(child(iq, 'registration'))!.readUInt32BE(0);
    companion.keys.signedPreKey = this.parseSignedPreKey(child(iq, 'skey')!);
    for (const key of children(child(iq, 'list'), 'key')) {
      companion.keys.preKeys.set(bytesOf(child(key, 'id'))!.readUIntBE(0, 3), bytesOf(child(key, 'value'))!);
    }
  }

  private parseSignedPreKey(skey: BinaryNode) {
    return {
      keyId: bytesOf(child(skey, 'id'))!.readUIntBE(0, 3),
      publicKey: bytesOf(child(skey, 'value'))!,
      signature: bytesOf(child(skey, 'signature'))!,
    };
  }

  /** `encrypt/key`: one bundle per requested device, each one-time prekey handed out once. */
  private bundles(iq: BinaryNode): BinaryNode[] {
    const users: BinaryNode[] = [];
    for (const user of children(child(iq, 'key'), 'user')) {
      const jid = user.attrs.jid!;
      const found = this.deviceOf(jid);
      const bundle = found && ('sim' in found ? found.sim!.bundle() : found.companion!.bundle());
      if (!bundle) {
        this.log(`encrypt/key: no device ${jid}; leaving it out`);
        continue;
      }
      const content = [
        node('registration', {}, uintBE(bundle.registrationId, 4)),
        node('type', {}, Buffer.from([5])),
        node('identity', {}, bundle.identityKey),
        node('skey', {}, [node('id', {}, uintBE(bundle.signedPreKey.keyId, 3)), node('value', {}, bundle.signedPreKey.publicKey), node('signature', {}, bundle.signedPreKey.signature)]),
      ];
      if (bundle.preKey) content.push(node('key', {}, [node('id', {}, uintBE(bundle.preKey.keyId, 3)), node('value', {}, bundle.preKey.publicKey)]));
      users.push(node('user', { jid }, content));
    }
    return [node('list', {}, users)];
  }

  /** `usync`: devices, LIDs, "is on WhatsApp" and status for the listed users. */
  private usync(_conn: Connection, iq: BinaryNode): BinaryNode[] {
    const usync = child(iq, 'usync')!;
    const protocols = childNodes(child(usync, 'query')).map((q) => q.tag);
    if (protocols.includes('contact')) this.contactQueries++;
    const users: BinaryNode[] = [];
    for (const user of children(child(usync, 'list'), 'user')) {
      const contactQuery = textOf(child(user, 'contact'));
      const jid = user.attrs.jid ?? `${(contactQuery ?? '').replace(/\D/g, '')}@${PN_SERVER}`;
      // Any phone number asked about is a WhatsApp user: gateways send to numbers nobody declared.
      const off = jidDecode(jid)?.server === PN_SERVER && this.offWhatsApp.has(jidDecode(jid)!.user);
      const person = off ? undefined : (this.personOf(jid) ?? (jidDecode(jid)?.server === PN_SERVER ? this.addContact({ phone: jidDecode(jid)!.user }) : undefined));
      const content: BinaryNode[] = [];
      for (const protocol of protocols) {
        if (protocol === 'devices') content.push(node('devices', {}, [node('device-list', {}, person ? this.deviceList(person) : [])]));
        else if (protocol === 'lid' && person && jidDecode(jid)?.server === PN_SERVER) content.push(node('lid', { val: person.lidJid }));
        else if (protocol === 'contact') content.push(node('contact', { type: person ? 'in' : 'out' }));
        else if (protocol === 'status' && person) content.push(node('status', { t: String(nowSeconds()) }, Buffer.from('Hey there! I am using WhatsApp.')));
        else if (protocol === 'disappearing_mode') content.push(node('disappearing_mode', { duration: '0', t: '0' }));
      }
      users.push(node('user', { jid }, content));
    }
    return [node('usync', { ...usync.attrs }, [node('list', {}, users)])];
  }

  private deviceList(person: Person): BinaryNode[] {
    const ids = [...person.devices.keys(), ...[...person.companions.values()].filter((c) => c.keys.preKeys.size > 0 || c.online).map((c) => c.deviceId)];
    return ids.sort((a, b) => a - b).map((id) => node('device', id === 0 ? { id: '0' } : { id: String(id), 'key-index': '1' }));
  }

  private groupsOf(conn: Connection): Group[] {
    const phone = conn.companion?.owner.phone;
    return [...this.groups.values()].filter((g) => phone && g.participants.includes(phone));
  }

  private groupNode(group: Group): BinaryNode {
    const lid = group.addressingMode === 'lid';
    const participants = group.participants.map((phone) => {
      const person = this.people.get(phone)!;
      const attrs: Record<string, string> = lid ? { jid: person.lidJid, phone_number: person.jid } : { jid: person.jid };
      if (group.admins.includes(phone)) attrs.type = phone === group.creator ? 'superadmin' : 'admin';
      return node('participant', attrs);
    });
    const content = [...participants];
    if (group.description) content.push(node('description', { id: group.descriptionId ?? 'desc1', t: String(group.creation) }, [node('body', {}, Buffer.from(group.description))]));
    const creator = this.people.get(group.creator)!.jid;
    return node(
      'group',
      {
        id: group.id,
        subject: group.subject,
        s_t: String(group.creation),
        s_o: creator,
        creation: String(group.creation),
        creator,
        addressing_mode: group.addressingMode,
        size: String(group.participants.length),
      },
      content,
    );
  }

  // ───────────────────────── pairing ─────────────────────────

  private startRegistration(conn: Connection, data: proto.ClientPayload.IDevicePairingRegistrationData, payload: proto.ClientPayload): void {
    const identityKey = Buffer.from(data.eIdent!);
    const signedPreKey = { keyId: Buffer.from(data.eSkeyId!).readUIntBE(0, 3), publicKey: Buffer.from(data.eSkeyVal!), signature: Buffer.from(data.eSkeySig!) };
    if (!verifySignature(identityKey, Buffer.concat([Buffer.from([5]), signedPreKey.publicKey]), signedPreKey.signature)) {
      this.log('registration refused: the signed prekey signature does not verify');
      conn.end(node('failure', { reason: '403', location: 'sim' }));
      return;
    }
    const props = data.deviceProps ? proto.DeviceProps.decode(data.deviceProps) : undefined;
    const registration: Registration = {
      identityKey,
      registrationId: Buffer.from(data.eRegid!).readUInt32BE(0),
      signedPreKey,
      refs: Array.from({ length: 6 }, () => randomBytes(24).toString('base64')),
      platform: props?.os ?? payload.userAgent?.platform?.toString() ?? 'unknown',
    };
    conn.registration = registration;
    conn
      .query(
        node('iq', { from: SERVER, type: 'set', id: this.stanzaId(), xmlns: 'md' }, [
          node(
            'pair-device',
            {},
            registration.refs.map((ref) => node('ref', {}, Buffer.from(ref))),
          ),
        ]),
      )
      .catch((error) => this.log(`pair-device: ${error.message}`));
    this.events.emit('registration', conn);
  }

  /** Registrations waiting to be paired (clients showing a QR code). */
  get pendingRegistrations() {
    return [...this.connections].filter((c) => c.registration && !c.closed && !c.companion);
  }

  /**
   * Plays the phone scanning a QR code: links the client to an account (a new one unless
   * `phone` names one) and resolves with the new companion's JIDs once it has been paired.
   */
  async scanQr(qr: string, account: { phone?: string; name?: string } = {}): Promise<{ deviceJid: string; lid: string; phone: string }> {
    const data = qr.includes('#') ? qr.slice(qr.indexOf('#') + 1) : qr;
    const [ref, noiseKeyB64, identityKeyB64, advSecretB64] = data.split(',');
    if (!ref || !noiseKeyB64 || !identityKeyB64 || !advSecretB64) throw new Error('not a WhatsApp pairing QR code');
    const conn = this.pendingRegistrations.find((c) => c.noiseKey.toString('base64') === noiseKeyB64);
    if (!conn) throw new Error('no connection is waiting for this QR code (expired, or the client disconnected)');
    if (!conn.registration!.refs.includes(ref)) throw new Error('QR ref was not issued to this connection');
    if (!conn.registration!.identityKey.equals(Buffer.from(identityKeyB64, 'base64'))) throw new Error('QR identity key does not match the registration');
    const person = this.addContact({ phone: account.phone, name: account.name });
    if (account.name) person.name = account.name;
    return this.pair(conn, person, Buffer.from(advSecretB64, 'base64'));
  }

  /** Builds pair-success (PROTOCOL.md §3.2), checks the client's device signature, then asks for the 515 restart. */
  private async pair(conn: Connection, owner: Person, advSecret: Buffer) {
    const registration = conn.registration!;
    const deviceId = owner.nextDeviceId++;
    const accountPublic = stripPrefix(owner.accountKey.pubKey);
    const details = Buffer.from(proto.ADVDeviceIdentity.encode({ rawId: randomInt(2 ** 31), timestamp: nowSeconds(), keyIndex: 1 }).finish());
    const accountSignature = Curve.sign(owner.accountKey.privKey, Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, registration.identityKey]));
    const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: accountPublic, accountSignature }).finish();
    const hmac = createHmac('sha256', advSecret).update(signed).digest();
    const deviceIdentity = proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish();
    const companion = new Companion(
      conn.noiseKey,
      owner,
      deviceId,
      { registrationId: registration.registrationId, identityKey: registration.identityKey, signedPreKey: registration.signedPreKey, preKeys: new Map() },
      registration.platform,
    );
    const reply = await conn.query(
      node('iq', { from: SERVER, type: 'set', id: this.stanzaId(), xmlns: 'md', t: String(nowSeconds()) }, [
        node('pair-success', {}, [
          node('device-identity', { 'key-index': '1' }, deviceIdentity),
          node('platform', { name: 'android' }),
          node('device', { jid: companion.jid, lid: companion.lidJid }),
          // WhatsApp sends `biz` for business accounts; it is how the companion learns its push name here.
          node('biz', { name: owner.name }),
        ]),
      ]),
    );
    const signedByDevice = bytesOf(child(child(reply, 'pair-device-sign'), 'device-identity'));
    if (reply.attrs.type !== 'result' || !signedByDevice) throw new Error(`pairing rejected by the client: ${binaryNodeToString(reply)}`);
    const { deviceSignature, details: signedDetails } = proto.ADVSignedDeviceIdentity.decode(signedByDevice);
    const deviceMessage = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, details, registration.identityKey, accountPublic]);
    if (!signedDetails || !Buffer.from(signedDetails).equals(details) || !deviceSignature || !verifySignature(registration.identityKey, deviceMessage, deviceSignature)) {
      conn.end(node('failure', { reason: '401', location: 'sim' }));
      throw new Error('the client device signature does not verify');
    }
    this.companions.set(conn.noiseKey.toString('base64'), companion);
    owner.companions.set(deviceId, companion);
    conn.registration = undefined;
    conn.end(node('stream:error', { code: '515' }));
    this.events.emit('paired', companion);
    return { deviceJid: companion.jid, lid: companion.lidJid, phone: owner.phone };
  }

  private onLinkCodeStage(conn: Connection, iq: BinaryNode): BinaryNode['content'] {
    const reg = child(iq, 'link_code_companion_reg')!;
    const registration = conn.registration;
    if (!registration) throw new Error('pairing code requested outside registration');
    if (reg.attrs.stage === 'companion_hello') {
      const phone = jidDecode(reg.attrs.jid)?.user ?? '';
      const wrappedEphemeral = bytesOf(child(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub'))!;
      const serverAuthKey = bytesOf(child(reg, 'companion_server_auth_key_pub'));
      if (!serverAuthKey?.equals(conn.noiseKey)) throw new Error('companion_server_auth_key_pub is not the Noise key of this connection');
      registration.codeRequest = { phone, wrappedEphemeral, ref: randomBytes(16).toString('base64url') };
      this.events.emit('pairing-code-request', conn);
      return [node('link_code_companion_reg', {}, [node('link_code_pairing_ref', {}, Buffer.from(registration.codeRequest.ref))])];
    }
    if (reg.attrs.stage === 'companion_finish') {
      this.events.emit('companion-finish', conn, reg);
      return undefined;
    }
    throw new Error(`unknown link code stage ${reg.attrs.stage}`);
  }

  /** Resolves with the phone number once a client asked for a pairing code (for `phone`, if given). */
  async waitForPairingCodeRequest(phone?: string, timeoutMs = 15_000): Promise<string> {
    const matches = (c: Connection) => !!c.registration?.codeRequest && (!phone || c.registration.codeRequest.phone === phone);
    const found = this.pendingRegistrations.find(matches) ?? (await this.waitFor<Connection>('pairing-code-request', matches, timeoutMs));
    return found.registration!.codeRequest!.phone;
  }

  /**
   * Plays the phone on which the user types the pairing code the client showed (PROTOCOL.md §3.4):
   * links the client that asked for a code for `phone` (or the only one asking).
   */
  async enterPairingCode(code: string, phone?: string, name?: string): Promise<{ deviceJid: string; lid: string; phone: string }> {
    if (!PAIRING_CODE_ALPHABET.test(code)) throw new Error('a pairing code is 8 characters of 1-9 and A-Z without I, O, U');
    const conn = this.pendingRegistrations.find((c) => c.registration?.codeRequest && (!phone || c.registration.codeRequest.phone === phone));
    if (!conn) throw new Error(`no client is waiting for a pairing code${phone ? ` for ${phone}` : ''}`);
    const request = conn.registration!.codeRequest!;
    const owner = this.addContact({ phone: request.phone, name });
    if (name) owner.name = name;
    const companionEphemeral = unwrapWithCode(code, request.wrappedEphemeral);
    const primaryEphemeral = Curve.generateKeyPair();
    const finished = this.waitFor<[Connection, BinaryNode]>('companion-finish', (c: Connection) => c === conn, 30_000);
    conn.send(
      node('notification', { from: SERVER, type: 'link_code_companion_reg', id: this.stanzaId(), t: String(nowSeconds()) }, [
        node('link_code_companion_reg', {}, [
          node('link_code_pairing_ref', {}, Buffer.from(request.ref)),
          node('primary_identity_pub', {}, stripPrefix(owner.accountKey.pubKey)),
          node('link_code_pairing_wrapped_primary_ephemeral_pub', {}, wrapWithCode(code, Buffer.from(primaryEphemeral.public))),
        ]),
      ]),
    );
    const [, finish] = await finished;
    const wrappedBundle = bytesOf(child(finish, 'link_code_pairing_wrapped_key_bundle'))!;
    const companionIdentity = bytesOf(child(finish, 'companion_identity_public'))!;
    const shared = Curve.sharedKey(primaryEphemeral.private, companionEphemeral);
    const bundleKey = hkdf(shared, 32, wrappedBundle.subarray(0, 32), 'link_code_pairing_key_bundle_encryption_key');
    const plain = gcmDecryptWithIv(bundleKey, wrappedBundle.subarray(32, 44), wrappedBundle.subarray(44));
    const accountPublic = stripPrefix(owner.accountKey.pubKey);
    if (!plain.subarray(0, 32).equals(companionIdentity) || !plain.subarray(32, 64).equals(accountPublic)) {
      throw new Error('the key bundle does not hold the companion identity and the account key');
    }
    if (!companionIdentity.equals(conn.registration!.identityKey)) throw new Error('companion identity differs from the registration');
    const advSecret = hkdf(Buffer.concat([shared, Curve.sharedKey(owner.accountKey.privKey, companionIdentity), plain.subarray(64, 96)]), 32, Buffer.alloc(0), 'adv_secret');
    return this.pair(conn, owner, advSecret);
  }

  private unlink(companion: Companion): void {
    this.companions.delete(companion.noiseKey.toString('base64'));
    companion.owner.companions.delete(companion.deviceId);
    this.events.emit('unlinked', companion);
  }

  // ───────────────────────── messages from clients ─────────────────────────

  private async onClientMessage(conn: Connection, stanza: BinaryNode): Promise<void> {
    const sender = conn.companion;
    if (!sender) return this.reportUnhandled(conn, stanza);
    const to = stanza.attrs.to!;
    const id = stanza.attrs.id!;
    const senderAddress = new ProtocolAddress(sender.owner.phone, sender.deviceId);
    const outgoing: OutgoingMessage = { id, to, from: sender.jid, type: stanza.attrs.type ?? 'text', at: Date.now(), participants: [] };
    if (stanza.attrs.edit) outgoing.edit = stanza.attrs.edit;
    const isGroup = to.endsWith('@g.us');
    const groupId = to.replace(/@g\.us$/, '');
    const copies: { jid: string; enc: BinaryNode }[] = [];
    for (const target of children(child(stanza, 'participants'), 'to')) {
      for (const enc of children(target, 'enc')) copies.push({ jid: target.attrs.jid!, enc });
    }
    // Peer messages to the account's own devices carry a lone <enc> and no participant list.
    for (const enc of children(stanza, 'enc')) if (enc.attrs.type !== 'skmsg') copies.push({ jid: to, enc });

    for (const { jid, enc } of copies) {
      const copy: DeliveredCopy = { jid, encType: enc.attrs.type ?? '' };
      outgoing.participants.push(copy);
      const device = this.deviceOf(jid);
      if (!device || !('sim' in device)) {
        copy.error = device ? 'linked companion: delivery to other clients is not simulated' : 'unknown device';
        continue;
      }
      try {
        const plain = await device.sim!.decrypt(senderAddress, enc.attrs.type!, bytesOf(enc)!);
        copy.message = proto.Message.decode(plain);
        const skdm = copy.message.senderKeyDistributionMessage;
        if (isGroup && skdm?.axolotlSenderKeyDistributionMessage) {
          await device.sim!.processSenderKeyDistribution(groupId, senderAddress, skdm.axolotlSenderKeyDistributionMessage);
        }
      } catch (error) {
        copy.error = `decryption failed: ${(error as Error).message}`;
      }
    }

    const groupCiphertext = children(stanza, 'enc').find((e) => e.attrs.type === 'skmsg');
    if (isGroup && groupCiphertext) {
      const group = this.groups.get(groupId);
      const readers = group?.participants.filter((p) => p !== sender.owner.phone).map((p) => this.people.get(p)!.phoneDevice) ?? [];
      for (const reader of readers) {
        try {
          outgoing.message = proto.Message.decode(await reader.decryptGroup(groupId, senderAddress, bytesOf(groupCiphertext)!));
          break;
        } catch (error) {
          outgoing.error = `group decryption failed: ${(error as Error).message}`;
        }
      }
      if (outgoing.message) outgoing.error = undefined;
    } else {
      const recipient = this.personOf(to);
      const own = recipient === sender.owner;
      const view = outgoing.participants.find((c) => c.message && (own || this.personOf(c.jid) !== sender.owner));
      const message = view?.message;
      outgoing.message = own && message?.deviceSentMessage?.message ? message.deviceSentMessage.message : message;
      if (!outgoing.message) outgoing.error = outgoing.participants.find((c) => c.error)?.error ?? 'no copy for the recipient';
    }
    if (outgoing.message) {
      outgoing.text = textOfMessage(outgoing.message);
      try {
        outgoing.media = this.mediaOf(outgoing.message);
      } catch (error) {
        outgoing.error = `media check failed: ${(error as Error).message}`;
      }
    }
    if (this.deliveredIds.has(`${sender.jid} ${id}`)) {
      this.duplicates.push(outgoing);
      conn.send(node('ack', { class: 'message', id, from: to, t: String(nowSeconds()) }));
      return;
    }
    this.outbox.push(outgoing);
    if (!outgoing.error) this.deliveredIds.add(`${sender.jid} ${id}`);
    if (outgoing.error) this.log(`message ${id} from ${sender.jid} to ${to}: ${outgoing.error}`);
    if (this.holdAcks) await this.holdAcks;
    conn.send(node('ack', { class: 'message', id, from: to, t: String(nowSeconds()) }));
    this.events.emit('outgoing', outgoing);
    if (this.autoReceipts !== 'none' && !outgoing.error) {
      // A recipient's phone answers a moment later, never in the same instant as the server's ack.
      const later = (type: ReceiptType, ms: number) => setTimeout(() => this.sendReceipt(id, type), ms).unref();
      later('delivery', this.receiptDelayMs);
      if (this.autoReceipts === 'read') later('read', this.receiptDelayMs * 2);
    }
  }

  private mediaOf(message: proto.IMessage): ReceivedMedia | undefined {
    // A view-once image or video comes wrapped; the recipient opens what is inside.
    const viewOnce = message.viewOnceMessage ?? message.viewOnceMessageV2 ?? message.viewOnceMessageV2Extension;
    if (viewOnce?.message) {
      const inner = this.mediaOf(viewOnce.message);
      return inner && { ...inner, viewOnce: true };
    }
    for (const type of MEDIA_TYPES) {
      const media = (message as Record<string, unknown>)[`${type}Message`] ?? (type === 'document' ? message.documentWithCaptionMessage?.message?.documentMessage : undefined);
      if (media) return this.media.open(type as MediaType, media as never);
    }
    return undefined;
  }

  private onClientReceipt(conn: Connection, stanza: BinaryNode): void {
    const receipt = { id: stanza.attrs.id!, type: stanza.attrs.type ?? 'delivery', from: conn.label, to: stanza.attrs.to ?? '' };
    this.clientReceipts.push(receipt);
    conn.companion?.unacked.delete(receipt.id);
    conn.send(node('ack', { class: 'receipt', id: receipt.id, from: receipt.to, ...(stanza.attrs.type ? { type: stanza.attrs.type } : {}) }));
    this.events.emit('client-receipt', receipt);
    if (receipt.type === 'server-error') this.answerMediaRetry(conn, stanza);
  }

  /** Sends the client a delivery or read receipt for a message it sent (queued while it is offline). */
  sendReceipt(messageId: string, type: ReceiptType): void {
    const message = this.outbox.find((m) => m.id === messageId);
    if (!message) throw new Error(`no message ${messageId} was sent`);
    const sender = this.companion(message.from);
    if (!sender) throw new Error(`the sender of ${messageId} is no longer linked`);
    const attrs: Record<string, string> = { id: messageId, from: message.to, t: String(nowSeconds()) };
    if (type !== 'delivery') attrs.type = type;
    if (message.to.endsWith('@g.us')) {
      const reader = this.groups.get(message.to.replace(/@g\.us$/, ''))?.participants.find((p) => p !== sender.owner.phone);
      if (reader) attrs.participant = this.people.get(reader)!.jid;
    }
    this.deliver(sender, node('receipt', attrs));
  }

  /**
   * The recipient's phone could not decrypt a message and asks the sender for it again (a retry
   * receipt), which the sender can only answer if it kept the message (Baileys' `getMessage`).
   */
  requestRetry(messageId: string): void {
    const message = this.outbox.find((m) => m.id === messageId);
    if (!message) throw new Error(`no message ${messageId} was sent`);
    const sender = this.companion(message.from);
    const recipient = this.personOf(message.to);
    if (!sender || !recipient) throw new Error(`cannot ask for ${messageId} again: sender or recipient unknown`);
    // The recipient did not get it, so it takes the copy it asked for.
    this.deliveredIds.delete(`${message.from} ${messageId}`);
    const t = String(nowSeconds());
    this.deliver(
      sender,
      node('receipt', { id: messageId, from: recipient.jid, type: 'retry', t }, [
        node('retry', { count: '1', id: messageId, t, v: '1' }),
        node('registration', {}, uintBE(recipient.phoneDevice.registrationId, 4)),
      ]),
    );
  }

  /** Resolves with the first message a client sends that matches (including ones already sent). */
  waitForOutgoing(predicate: (m: OutgoingMessage) => boolean = () => true, timeoutMs = 15_000): Promise<OutgoingMessage> {
    const found = this.outbox.find(predicate);
    return found ? Promise.resolve(found) : this.waitFor<OutgoingMessage>('outgoing', predicate, timeoutMs);
  }

  /** Resolves when the given companion (or any) has logged in after now. */
  waitForLogin(deviceJid?: string, timeoutMs = 15_000): Promise<Companion> {
    return this.waitFor<Companion>('login', (c: Companion) => !deviceJid || c.jid === deviceJid, timeoutMs);
  }

  /** Resolves with the connection of the next client that asks to be paired (shows a QR). */
  waitForRegistration(timeoutMs = 15_000): Promise<Connection> {
    return this.waitFor<Connection>('registration', () => true, timeoutMs);
  }

  // ───────────────────────── messages to clients ─────────────────────────

  /**
   * A contact (`from`, a phone number) sends `message` to an account (`to`: its phone number or one
   * companion's JID), encrypted to each of its companions. Resolves when every online companion
   * acknowledged it with a receipt; offline companions get it at their next login.
   */
  async sendIncoming(to: string, from: string, message: proto.IMessage | string, options: IncomingOptions = {}): Promise<{ id: string }> {
    const content: proto.IMessage = typeof message === 'string' ? { conversation: message } : message;
    const sender = this.addContact({ phone: from.replace(/@.*$/, '').replace(/\D/g, '') });
    const targets = to.includes(':') ? [this.companion(to)].filter((c): c is Companion => !!c) : [...(this.personOf(to.includes('@') ? to : `${to}@${PN_SERVER}`)?.companions.values() ?? [])];
    if (!targets.length) throw new Error(`no linked device for ${to}`);
    const id = options.id ?? this.messageId();
    const groupJid = options.group && `${options.group.replace(/@g\.us$/, '')}@g.us`;
    const media = Object.keys(content).find((k) => k.endsWith('Message') && MEDIA_TYPES.some((t) => k === `${t}Message`));
    if (media) this.incomingMedia.set(id, { ...(content as Record<string, proto.Message.IImageMessage>)[media] });
    const attrs: Record<string, string> = { id, t: String(nowSeconds()), type: media ? 'media' : 'text', notify: sender.name };
    if (groupJid) Object.assign(attrs, { from: groupJid, participant: sender.jid, participant_lid: sender.lidJid });
    else if (options.fromLid) Object.assign(attrs, { from: sender.lidJid });
    else Object.assign(attrs, { from: sender.jid, sender_lid: sender.lidJid });
    const receipts: Promise<unknown>[] = [];
    for (const companion of targets) {
      const stanzaAttrs = { ...attrs, ...(options.offline || !companion.online ? { offline: '1' } : {}) };
      const recipient = new ProtocolAddress(companion.owner.phone, companion.deviceId);
      let body: BinaryNode[];
      if (options.plaintext) {
        body = [node('plaintext', {}, Buffer.from(proto.Message.encode(content).finish()))];
      } else if (groupJid) {
        const self = new ProtocolAddress(sender.phone, 0);
        const group = await sender.phoneDevice.encryptGroup(groupJid, self, proto.Message.encode(content).finish());
        const skdm = proto.Message.encode({ senderKeyDistributionMessage: { groupId: groupJid, axolotlSenderKeyDistributionMessage: group.skdm } }).finish();
        const pairwise = await sender.phoneDevice.encrypt(recipient, skdm, () => companion.bundle());
        body = [node('enc', { v: '2', type: pairwise.type }, pairwise.ciphertext), node('enc', { v: '2', type: 'skmsg' }, group.ciphertext)];
      } else {
        const pairwise = await sender.phoneDevice.encrypt(recipient, proto.Message.encode(content).finish(), () => companion.bundle());
        body = [node('enc', { v: '2', type: pairwise.type, ...(media ? { mediatype: media.replace('Message', '') } : {}) }, pairwise.ciphertext)];
      }
      this.incoming.push({ id, to: companion.jid, from: sender.jid, encTypes: body.map((b) => (b.tag === 'enc' ? b.attrs.type! : b.tag)) });
      if (companion.online) receipts.push(this.confirmation(companion.connection!, id));
      this.deliver(companion, node('message', stanzaAttrs, body));
    }
    await Promise.all(receipts);
    return { id };
  }

  /** Sends now if the companion is connected, else queues for its next login. */
  private deliver(companion: Companion, stanza: BinaryNode): void {
    if (stanza.tag === 'message') companion.unacked.set(stanza.attrs.id!, stanza);
    if (companion.online) companion.connection!.send(stanza);
    else companion.pending.push(stanza);
  }

  /** Resolves when the client confirms message `id`, or when its connection drops (the message is then queued). */
  private confirmation(conn: Connection, id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('client-receipt', onReceipt);
        this.events.off('closed', onClosed);
      };
      const onReceipt = (r: ClientReceipt) => r.id === id && r.from === conn.label && (done(), resolve());
      const onClosed = (c: Connection) => c === conn && (done(), resolve());
      const timer = setTimeout(() => {
        done();
        reject(new Error(`wa-sim: ${conn.label} did not confirm message ${id}`));
      }, 15_000);
      this.events.on('client-receipt', onReceipt);
      this.events.on('closed', onClosed);
    });
  }

  /** The contact reinstalls WhatsApp: its devices lose their sessions and start new ones. */
  resetSessions(phone: string): void {
    const person = this.people.get(phone);
    if (!person) throw new Error(`no contact ${phone}`);
    for (const device of person.devices.values()) device.forgetSessions();
  }

  // ───────────────────────── what contacts do in a device's chats: votes, edits, deletes, group changes ─────────────────────────

  /**
   * A contact (`voter`, a phone number) votes on a poll a linked device sent, choosing `options`
   * by name ([] withdraws the vote), as their phone does: encrypted with the poll's message
   * secret for the JIDs of the poll's creator and the voter, named by phone number or, in a
   * LID-addressed chat, by LID (`addressing`).
   */
  async votePoll(pollId: string, voter: string, options: string[], addressing: 'pn' | 'lid' = 'pn'): Promise<{ id: string }> {
    const poll = this.outbox.find((m) => m.id === pollId);
    const creation = poll?.message?.pollCreationMessage ?? poll?.message?.pollCreationMessageV2 ?? poll?.message?.pollCreationMessageV3;
    const secret = poll?.message?.messageContextInfo?.messageSecret;
    const creator = poll && this.personOf(poll.from);
    if (!poll || !creation || !secret || !creator) throw new Error(`no poll ${pollId} was sent (with its message secret) by a known device`);
    const names = (creation.options ?? []).map((o) => o.optionName);
    const unknown = options.find((o) => !names.includes(o));
    if (unknown !== undefined) throw new Error(`poll ${pollId} has no option ${JSON.stringify(unknown)}`);
    const person = this.addContact({ phone: voter });
    const jidOf = (p: Person) => (addressing === 'lid' ? p.lidJid : p.jid);
    const vote = encryptPollVote(options, { pollId, creatorJid: jidOf(creator), voterJid: jidOf(person), secret });
    const group = poll.to.endsWith('@g.us') ? poll.to : undefined;
    // The poll's key as the voter's phone sees it: someone else's message.
    const pollCreationMessageKey = { remoteJid: group ?? creator.jid, fromMe: false, id: pollId, ...(group ? { participant: creator.jid } : {}) };
    return this.sendIncoming(creator.phone, person.phone, { pollUpdateMessage: { pollCreationMessageKey, vote, senderTimestampMs: Date.now() } }, { group });
  }

  /** The key of a message `from` sent to `to` (or in `options.group`), as the sender names it. */
  private ownKey(to: string, messageId: string, options: IncomingOptions): proto.IMessageKey {
    const recipient = this.personOf(to.includes('@') ? to : `${to}@${PN_SERVER}`);
    if (!recipient) throw new Error(`no account ${to}`);
    return { remoteJid: options.group ? `${options.group.replace(/@g\.us$/, '')}@g.us` : recipient.jid, fromMe: true, id: messageId };
  }

  /** A contact edits a text they sent (`messageId`), delivered as WhatsApp's apps send an edit: a protocol message in an edited-message wrapper. */
  editIncoming(to: string, from: string, messageId: string, text: string, options: IncomingOptions = {}): Promise<{ id: string }> {
    const protocolMessage = { key: this.ownKey(to, messageId, options), type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT, editedMessage: { conversation: text }, timestampMs: Date.now() };
    return this.sendIncoming(to, from, { editedMessage: { message: { protocolMessage } } }, options);
  }

  /** A contact deletes a message they sent (`messageId`) for everyone: a revoke protocol message. */
  revokeIncoming(to: string, from: string, messageId: string, options: IncomingOptions = {}): Promise<{ id: string }> {
    return this.sendIncoming(to, from, { protocolMessage: { key: this.ownKey(to, messageId, options), type: proto.Message.ProtocolMessage.Type.REVOKE } }, options);
  }

  /**
   * A change in a group by `change.author` (a phone number; the creator if omitted), applied to
   * the group and told, as WhatsApp's `w:gp2` notification, to every linked device of its
   * participants (and of those removed). Participants are named as the group addresses them:
   * by phone number with the LID beside it, or by LID with the phone number beside it.
   */
  groupNotification(groupId: string, change: GroupChange): { id: string } {
    const group = this.groups.get(groupId.replace(/@g\.us$/, ''));
    if (!group) throw new Error(`no group ${groupId}`);
    const author = this.addContact({ phone: change.author ?? group.creator });
    const lid = group.addressingMode === 'lid';
    const jidOf = (p: Person) => (lid ? p.lidJid : p.jid);
    const t = String(nowSeconds());
    const told = new Set(group.participants);
    let body: BinaryNode;
    if (change.action === 'subject') {
      group.subject = change.subject;
      body = node('subject', { subject: change.subject, s_o: jidOf(author), s_t: t });
    } else if (change.action === 'description') {
      group.description = change.description;
      body = node('description', { id: randomBytes(8).toString('hex').toUpperCase() }, [node('body', {}, Buffer.from(change.description))]);
    } else {
      const people = change.participants.map((phone) => this.addContact({ phone }));
      const phones = people.map((p) => p.phone);
      if (change.action === 'add') group.participants.push(...phones.filter((p) => !group.participants.includes(p)));
      if (change.action === 'remove') group.participants = group.participants.filter((p) => !phones.includes(p));
      if (change.action === 'promote') group.admins.push(...phones.filter((p) => !group.admins.includes(p)));
      if (change.action === 'remove' || change.action === 'demote') group.admins = group.admins.filter((p) => !phones.includes(p));
      for (const phone of phones) told.add(phone);
      body = node(
        change.action,
        {},
        people.map((p) => node('participant', lid ? { jid: p.lidJid, phone_number: p.jid } : { jid: p.jid, lid: p.lidJid })),
      );
    }
    return this.groupServer.notify(group, author.phone, body, [...told]);
  }

  // ───────────────────────── media a contact sends ─────────────────────────

  /**
   * Uploads a file as a contact's phone does before sending it: encrypted on the media host, the
   * returned fields go into the media message (`sendIncoming(to, from, { imageMessage: {...fields} })`).
   */
  uploadMedia(type: MediaType, bytes: Buffer, details: { mimetype?: string; fileName?: string } = {}): UploadedMedia {
    return this.media.store(type, bytes, details);
  }

  /**
   * A client asks for a file WhatsApp's media host dropped (a `server-error` receipt: Baileys'
   * `updateMediaMessage`, `encryptMediaRetryRequest` in `lib/Utils/messages-media.js`): the sender's
   * phone uploads it again, and the client learns the new direct path from a `mediaretry`
   * notification, AES-GCM under a key derived from the file's media key, the message id as AAD.
   */
  private answerMediaRetry(conn: Connection, stanza: BinaryNode): void {
    const id = stanza.attrs.id!;
    const media = this.incomingMedia.get(id);
    const rmr = child(stanza, 'rmr');
    const notification = (content: BinaryNode[]) => node('notification', { id, type: 'mediaretry', from: PN_SERVER, t: String(nowSeconds()) }, [node('rmr', { ...rmr?.attrs }), ...content]);
    // NOT_FOUND (2): nobody has the file any more.
    if (!media?.mediaKey || !media.directPath) return void conn.send(notification([node('error', { code: '2' })]));
    const directPath = this.media.reupload(media.directPath);
    if (directPath) media.directPath = directPath;
    const result = directPath ? proto.MediaRetryNotification.ResultType.SUCCESS : proto.MediaRetryNotification.ResultType.NOT_FOUND;
    const plaintext = proto.MediaRetryNotification.encode({ stanzaId: id, directPath, result }).finish();
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', hkdf(media.mediaKey, 32, Buffer.alloc(0), 'WhatsApp Media Retry Notification'), iv);
    cipher.setAAD(Buffer.from(id));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    conn.send(notification([node('encrypt', {}, [node('enc_p', {}, ciphertext), node('enc_iv', {}, iv)])]));
  }

  // ───────────────────────── faults ─────────────────────────

  /** Breaks a linked device's connection the way WhatsApp would (PROTOCOL.md §9). */
  disconnect(deviceJid: string, kind: DisconnectKind): void {
    const companion = this.companion(deviceJid);
    if (!companion) throw new Error(`no linked device ${deviceJid}`);
    const conn = companion.connection;
    if (kind === 'loggedOut') {
      this.unlink(companion);
      conn?.end(node('stream:error', { code: '401' }, [node('conflict', { type: 'device_removed' })]));
      return;
    }
    if (!conn || conn.closed) throw new Error(`${deviceJid} is not connected`);
    if (kind === 'restart') conn.end(node('stream:error', { code: '515' }));
    else if (kind === 'replaced') conn.end(node('stream:error', {}, [node('conflict', { type: 'replaced' })]));
    else if (kind === 'streamEnd') conn.end(node('xmlstreamend', {}));
    else if (kind === 'close') conn.end();
    else if (kind === 'silence') conn.silenced = true;
    else if (kind.startsWith('failure:')) conn.end(node('failure', { reason: kind.slice('failure:'.length), location: 'sim' }));
    else throw new Error(`unknown disconnect kind ${kind}`);
  }

  // ───────────────────────── plumbing ─────────────────────────

  private waitFor<T>(event: string, predicate: (...args: any[]) => boolean, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const listener = (...args: any[]) => {
        if (!predicate(...args)) return;
        clearTimeout(timer);
        this.events.off(event, listener);
        resolve((args.length > 1 ? args : args[0]) as T);
      };
      const timer = setTimeout(() => {
        this.events.off(event, listener);
        reject(new Error(`wa-sim: timed out after ${timeoutMs} ms waiting for ${event}`));
      }, timeoutMs);
      this.events.on(event, listener);
    });
  }

  private stanzaId(): string {
    return `sim-${++this.messageCounter}`;
  }

  private messageId(): string {
    return `SIM${randomBytes(8).toString('hex').toUpperCase()}`;
  }
}

/** The text a person sees: plain text, extended text, or a media caption. */
export function textOfMessage(message: proto.IMessage): string | undefined {
  return (
    message.conversation ??
    message.extendedTextMessage?.text ??
    message.imageMessage?.caption ??
    message.videoMessage?.caption ??
    message.documentMessage?.caption ??
    message.documentWithCaptionMessage?.message?.documentMessage?.caption ??
    undefined
  );
}

// Pairing-code wrapping: salt ‖ iv ‖ AES-256-CTR(PBKDF2(code, salt), iv, key) (PROTOCOL.md §3.4).
function codeKey(code: string, salt: Buffer): Buffer {
  return pbkdf2Sync(Buffer.from(code), salt, 2 << 16, 32, 'sha256');
}

function unwrapWithCode(code: string, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-ctr', codeKey(code, wrapped.subarray(0, 32)), wrapped.subarray(32, 48));
  return Buffer.concat([decipher.update(wrapped.subarray(48, 80)), decipher.final()]);
}

function wrapWithCode(code: string, key: Buffer): Buffer {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', codeKey(code, salt), iv);
  return Buffer.concat([salt, iv, cipher.update(key), cipher.final()]);
}

function gcmDecryptWithIv(key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  // The bundle's IV is random, not a counter: decrypt directly rather than through the Noise helper.
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
}

// Signal key material and stores for the simulated people: each simulated device can decrypt what
// Baileys encrypts to it and encrypt what it sends to Baileys, with the real libsignal.
import { Curve, unpadRandomMax16, writeRandomPadMax16 } from '@whiskeysockets/baileys';
import { GroupCipher, GroupSessionBuilder, SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord } from '@whiskeysockets/baileys/lib/Signal/Group/index.js';
import { keyhelper, ProtocolAddress, SessionBuilder, SessionCipher, SessionRecord, type SignalStorage } from 'libsignal';
import type { KeyPair } from './certs.ts';

type LibsignalKeyPair = { pubKey: Buffer; privKey: Buffer };

/** Public half of a device's keys, as usync bundles (`encrypt/key`) hand it out. */
export interface PreKeyBundle {
  registrationId: number;
  identityKey: Buffer; // 32 bytes
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKey?: { keyId: number; publicKey: Buffer };
}

const stripPrefix = (key: Uint8Array) => Buffer.from(key.length === 33 ? key.subarray(1) : key);
const withPrefix = (key: Uint8Array) => (key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]));

/** One simulated device (a contact's phone, or the account's own phone): keys plus session stores. */
export class SimDevice implements SignalStorage {
  readonly registrationId = keyhelper.generateRegistrationId();
  private readonly signedPreKey;
  private readonly preKeys = new Map<number, LibsignalKeyPair>();
  /** Prekeys the "server" has not handed out yet; the private halves stay in `preKeys` until used. */
  private readonly unissued: number[] = [];
  private nextPreKeyId = 1;
  private readonly sessions = new Map<string, Uint8Array>();
  private readonly senderKeys = new Map<string, SenderKeyRecord>();

  /** A phone's identity is its account key: companions record it as the identity of device 0. */
  readonly identity: LibsignalKeyPair;

  constructor(identity: LibsignalKeyPair = keyhelper.generateIdentityKeyPair()) {
    this.identity = identity;
    this.signedPreKey = keyhelper.generateSignedPreKey(identity, 1);
    for (let i = 0; i < 20; i++) this.addPreKey();
  }

  private addPreKey(): void {
    const { keyId, keyPair } = keyhelper.generatePreKey(this.nextPreKeyId++);
    this.preKeys.set(keyId, keyPair);
    this.unissued.push(keyId);
  }

  /** Hands out one one-time prekey, as the server would, never the same one twice. */
  bundle(): PreKeyBundle {
    if (!this.unissued.length) this.addPreKey();
    const keyId = this.unissued.shift()!;
    const pair = this.preKeys.get(keyId)!;
    return {
      registrationId: this.registrationId,
      identityKey: stripPrefix(this.identity.pubKey),
      signedPreKey: {
        keyId: this.signedPreKey.keyId,
        publicKey: stripPrefix(this.signedPreKey.keyPair.pubKey),
        signature: Buffer.from(this.signedPreKey.signature),
      },
      preKey: { keyId, publicKey: stripPrefix(pair.pubKey) },
    };
  }

  // libsignal's storage interface. Identities are trusted on first use, as WhatsApp clients do.
  async loadSession(id: string) {
    const data = this.sessions.get(id);
    return data ? SessionRecord.deserialize(data) : undefined;
  }
  async storeSession(id: string, record: SessionRecord) {
    this.sessions.set(id, record.serialize());
  }
  isTrustedIdentity() {
    return true;
  }
  async loadPreKey(id: number | string) {
    return this.preKeys.get(Number(id));
  }
  removePreKey(id: number) {
    this.preKeys.delete(id);
  }
  loadSignedPreKey() {
    return this.signedPreKey.keyPair;
  }
  getOurRegistrationId() {
    return this.registrationId;
  }
  getOurIdentity() {
    return this.identity;
  }
  async loadSenderKey(name: SenderKeyName) {
    return this.senderKeys.get(name.toString()) ?? new SenderKeyRecord();
  }
  async storeSenderKey(name: SenderKeyName, record: SenderKeyRecord) {
    this.senderKeys.set(name.toString(), record);
  }

  /** Drops every pairwise session, as a reinstalled app would: the next message starts anew (pkmsg). */
  forgetSessions(): void {
    this.sessions.clear();
  }

  hasSession(address: ProtocolAddress): boolean {
    return this.sessions.has(address.toString());
  }

  /** Decrypts a pairwise `pkmsg`/`msg` from `sender` and strips the random padding. */
  async decrypt(sender: ProtocolAddress, type: string, ciphertext: Uint8Array): Promise<Uint8Array> {
    const cipher = new SessionCipher(this, sender);
    let padded: Buffer;
    if (type === 'pkmsg') padded = await cipher.decryptPreKeyWhisperMessage(ciphertext);
    else if (type === 'msg') padded = await cipher.decryptWhisperMessage(ciphertext);
    else throw new Error(`not a pairwise ciphertext type: ${type}`);
    return unpadRandomMax16(padded);
  }

  /** Encrypts a message to a companion; starts a session from its bundle when there is none. */
  async encrypt(recipient: ProtocolAddress, plaintext: Uint8Array, bundle: () => PreKeyBundle | undefined) {
    if (!this.hasSession(recipient)) {
      const keys = bundle();
      if (!keys) throw new Error(`no prekey bundle for ${recipient.toString()}`);
      await new SessionBuilder(this, recipient).initOutgoing({
        registrationId: keys.registrationId,
        identityKey: withPrefix(keys.identityKey),
        signedPreKey: { ...keys.signedPreKey, publicKey: withPrefix(keys.signedPreKey.publicKey) },
        preKey: keys.preKey && { ...keys.preKey, publicKey: withPrefix(keys.preKey.publicKey) },
      } as Parameters<SessionBuilder['initOutgoing']>[0]);
    }
    const { type, body } = await new SessionCipher(this, recipient).encrypt(writeRandomPadMax16(plaintext));
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body, 'binary') };
  }

  async processSenderKeyDistribution(groupId: string, sender: ProtocolAddress, skdm: Uint8Array): Promise<void> {
    const name = new SenderKeyName(groupId, sender);
    await new GroupSessionBuilder(this).process(name, new SenderKeyDistributionMessage(null, null, null, null, skdm));
  }

  async decryptGroup(groupId: string, sender: ProtocolAddress, ciphertext: Uint8Array): Promise<Uint8Array> {
    const padded = await new GroupCipher(this, new SenderKeyName(groupId, sender)).decrypt(ciphertext);
    return unpadRandomMax16(padded);
  }

  /** Encrypts a group message with this device's sender key; returns the SKDM to distribute too. */
  async encryptGroup(groupId: string, self: ProtocolAddress, plaintext: Uint8Array) {
    const name = new SenderKeyName(groupId, self);
    const skdm = await new GroupSessionBuilder(this).create(name);
    const ciphertext = await new GroupCipher(this, name).encrypt(writeRandomPadMax16(plaintext));
    return { skdm: Buffer.from(skdm.serialize()), ciphertext: Buffer.from(ciphertext) };
  }
}

/** XEdDSA signature check that really checks (Baileys' own `Curve.verify` accepts anything in rc14). */
export { verify as verifySignature } from 'curve25519-js';

export const generateKeyPair = (): KeyPair => Curve.generateKeyPair();
export { ProtocolAddress, stripPrefix, withPrefix };

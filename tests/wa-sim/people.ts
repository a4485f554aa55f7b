// Who exists in the simulated WhatsApp: people (accounts and contacts) with their devices, the
// companion devices Baileys links, and groups.
import type { BinaryNode } from './nodes.ts';
import { SimDevice, type PreKeyBundle } from './signal.ts';
import { keyhelper } from 'libsignal';
import type { Connection } from './connection.ts';

export const PN_SERVER = 's.whatsapp.net';
export const LID_SERVER = 'lid';

/**
 * A WhatsApp user. A contact has only simulated devices; an account (a user whose phone links
 * companions) also has an ADV account key, and its phone (device 0) uses that key as its identity.
 */
export class Person {
  readonly devices = new Map<number, SimDevice>();
  readonly companions = new Map<number, Companion>();
  readonly accountKey = keyhelper.generateIdentityKeyPair();
  nextDeviceId = 1;

  readonly phone: string;
  readonly lid: string;
  name: string;

  constructor(phone: string, lid: string, name: string, deviceIds: number[] = [0]) {
    this.phone = phone;
    this.lid = lid;
    this.name = name;
    for (const id of deviceIds) this.devices.set(id, new SimDevice(id === 0 ? this.accountKey : undefined));
  }

  get jid() {
    return `${this.phone}@${PN_SERVER}`;
  }
  get lidJid() {
    return `${this.lid}@${LID_SERVER}`;
  }
  /** The phone's own device, which receives copies of what its companions send. */
  get phoneDevice(): SimDevice {
    return this.devices.get(0)!;
  }
}

/** The keys a companion uploaded (`encrypt/set`), from which bundles for it are served. */
export interface CompanionKeys {
  registrationId: number;
  identityKey: Buffer;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKeys: Map<number, Buffer>;
}

/** A linked device (Baileys), identified by its Noise static key. */
export class Companion {
  connection?: Connection;
  /** Stanzas addressed to it while it was offline, delivered at its next login. */
  readonly pending: BinaryNode[] = [];
  /** Messages sent to it that it has not yet confirmed with a receipt: sent again if it drops. */
  readonly unacked = new Map<string, BinaryNode>();

  readonly noiseKey: Buffer;
  readonly owner: Person;
  readonly deviceId: number;
  keys: CompanionKeys;
  readonly platform: string;

  constructor(noiseKey: Buffer, owner: Person, deviceId: number, keys: CompanionKeys, platform: string) {
    this.noiseKey = noiseKey;
    this.owner = owner;
    this.deviceId = deviceId;
    this.keys = keys;
    this.platform = platform;
  }

  get jid() {
    return `${this.owner.phone}:${this.deviceId}@${PN_SERVER}`;
  }
  get lidJid() {
    return `${this.owner.lid}:${this.deviceId}@${LID_SERVER}`;
  }
  get online() {
    return !!this.connection && !this.connection.closed;
  }

  bundle(): PreKeyBundle {
    const [keyId, publicKey] = this.keys.preKeys.entries().next().value ?? [];
    if (keyId !== undefined) this.keys.preKeys.delete(keyId);
    return {
      registrationId: this.keys.registrationId,
      identityKey: this.keys.identityKey,
      signedPreKey: this.keys.signedPreKey,
      preKey: publicKey && { keyId: keyId!, publicKey },
    };
  }
}

export interface Group {
  id: string; // without @g.us
  subject: string;
  creator: string; // phone
  creation: number;
  participants: string[]; // phones
  admins: string[]; // phones
  description?: string;
  /** The description's id, which a change names as `prev` (WhatsApp's guard against stale edits). */
  descriptionId?: string;
  addressingMode: 'pn' | 'lid';
}

/** A change in a group, as `WaSim.groupNotification` applies it; `author` is a phone number. */
export type GroupChange = { author?: string } & (
  | { action: 'add' | 'remove' | 'promote' | 'demote'; participants: string[] }
  | { action: 'subject'; subject: string }
  | { action: 'description'; description: string }
);

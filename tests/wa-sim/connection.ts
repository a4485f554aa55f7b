// One client WebSocket: the Noise handshake, then encrypted binary nodes in both directions.
import { decodeBinaryNode, encodeBinaryNode, proto } from '@whiskeysockets/baileys';
import type { WebSocket } from 'ws';
import { frame, FrameReader, NoiseResponder, type Transport } from './noise.ts';
import type { BinaryNode } from './nodes.ts';
import type { Companion } from './people.ts';
import type { NoiseIdentity } from './certs.ts';

export interface ConnectionHandler {
  /** The client finished the handshake: its static key and what it asks for (login or registration). */
  onClientPayload(conn: Connection, payload: proto.ClientPayload): void;
  onStanza(conn: Connection, stanza: BinaryNode): Promise<void> | void;
  onClose(conn: Connection): void;
  log(line: string): void;
}

let nextConnectionId = 1;

export class Connection {
  readonly id = nextConnectionId++;
  /** The client's Noise static key (its `creds.noiseKey`), known after the handshake. */
  noiseKey: Buffer = Buffer.alloc(0);
  companion?: Companion;
  /** Registration data while the client waits to be paired (QR or pairing code). */
  registration?: Registration;
  closed = false;
  /** When set, the connection neither reads nor writes: the client sees a dead link (ping timeout). */
  silenced = false;

  private readonly reader = new FrameReader();
  private handshake?: NoiseResponder;
  private transport?: Transport;
  private inbound = Promise.resolve();
  private readonly waiters = new Map<string, (stanza: BinaryNode) => void>();

  private readonly ws: WebSocket;
  private readonly identity: NoiseIdentity;
  private readonly handler: ConnectionHandler;

  constructor(ws: WebSocket, identity: NoiseIdentity, handler: ConnectionHandler) {
    this.ws = ws;
    this.identity = identity;
    this.handler = handler;
    this.handshake = new NoiseResponder(identity.staticKey);
    ws.on('message', (data: Buffer) => {
      if (this.silenced) return;
      // Frames are processed strictly in order: stanzas depend on each other (and counters do).
      this.inbound = this.inbound.then(() => this.receive(data)).catch((error) => this.fail(error));
    });
    ws.on('close', () => this.onClosed());
    ws.on('error', (error) => handler.log(`connection ${this.id}: socket error ${error.message}`));
  }

  get label() {
    return this.companion ? this.companion.jid : `connection ${this.id}`;
  }

  private async receive(data: Buffer): Promise<void> {
    for (const bytes of this.reader.push(Buffer.from(data))) {
      if (this.closed) return;
      if (this.transport) {
        const stanza = await decodeBinaryNode(this.transport.decrypt(bytes));
        const waiter = stanza.tag === 'iq' && (stanza.attrs.type === 'result' || stanza.attrs.type === 'error') ? this.waiters.get(stanza.attrs.id!) : undefined;
        if (waiter) {
          this.waiters.delete(stanza.attrs.id!);
          waiter(stanza);
        } else {
          await this.handler.onStanza(this, stanza);
        }
      } else {
        this.handshakeStep(bytes);
      }
    }
  }

  private handshakeStep(bytes: Buffer): void {
    const message = proto.HandshakeMessage.decode(bytes);
    const noise = this.handshake!;
    if (message.clientHello?.ephemeral) {
      this.ws.send(frame(noise.hello(message.clientHello.ephemeral, this.identity.certChain)));
    } else if (message.clientFinish) {
      const { clientStatic, payload, transport } = noise.finish(message.clientFinish);
      this.noiseKey = clientStatic;
      this.transport = transport;
      this.handshake = undefined;
      this.handler.onClientPayload(this, payload);
    } else {
      throw new Error('unexpected handshake message');
    }
  }

  /** Encrypts and writes one stanza; encryption and write happen in one step to keep nonces in order. */
  send(stanza: BinaryNode): void {
    if (this.closed || this.silenced || !this.transport) return;
    this.ws.send(frame(this.transport.encrypt(encodeBinaryNode(stanza))));
  }

  /** Sends an IQ (or any stanza with an id) and resolves with the client's reply to it. */
  query(stanza: BinaryNode, timeoutMs = 15_000): Promise<BinaryNode> {
    const id = stanza.attrs.id!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`${this.label}: no reply to ${stanza.tag} ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.send(stanza);
    });
  }

  /** Sends a last stanza, then closes the socket shortly after, as WhatsApp does. */
  end(last?: BinaryNode, delayMs = 50): void {
    if (last) this.send(last);
    this.closed = true;
    setTimeout(() => this.ws.close(), delayMs).unref();
  }

  /** Closes the socket without a word. */
  drop(): void {
    this.closed = true;
    this.ws.terminate();
  }

  private fail(error: unknown): void {
    this.handler.log(`${this.label}: closing after error: ${error instanceof Error ? error.stack : String(error)}`);
    this.drop();
  }

  private onClosed(): void {
    this.closed = true;
    this.handler.onClose(this);
  }
}

export interface Registration {
  identityKey: Buffer;
  registrationId: number;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  /** QR refs offered to this client, in order. */
  refs: string[];
  platform: string;
  /** Set once the client asked for a pairing code for a phone number. */
  codeRequest?: { phone: string; wrappedEphemeral: Buffer; ref: string };
}

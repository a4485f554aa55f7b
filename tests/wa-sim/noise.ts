// Responder side of WhatsApp's Noise XX handshake and the framed, AES-GCM transport after it
// (PROTOCOL.md §1). The client is the initiator; every step here mirrors one of its steps.
import { Curve, NOISE_MODE, NOISE_WA_HEADER, proto } from '@whiskeysockets/baileys';
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';

type KeyPair = { public: Uint8Array; private: Uint8Array };

const TAG_LENGTH = 16;

function nonce(counter: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(counter, 8);
  return iv;
}

export const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

export const hkdf = (ikm: Uint8Array, length: number, salt: Uint8Array, info: string): Buffer => Buffer.from(hkdfSync('sha256', ikm, salt, info, length));

export function gcmEncrypt(key: Uint8Array, counter: number, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(counter));
  cipher.setAAD(ad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function gcmDecrypt(key: Uint8Array, counter: number, ciphertext: Uint8Array, ad: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce(counter));
  decipher.setAAD(ad);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
  return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_LENGTH)), decipher.final()]);
}

/** Handshake state of one connection; consumed once `finish` has split the transport keys. */
export class NoiseResponder {
  private hash: Buffer;
  private salt: Buffer;
  private key: Buffer;
  private counter = 0;
  private ephemeral = Curve.generateKeyPair();
  private clientEphemeral = Buffer.alloc(0);

  private readonly staticKey: KeyPair;

  constructor(staticKey: KeyPair) {
    this.staticKey = staticKey;
    // The protocol name is exactly 32 bytes, so it is used as-is rather than hashed.
    this.hash = this.salt = this.key = Buffer.from(NOISE_MODE);
    this.mixHash(NOISE_WA_HEADER);
  }

  /** Answers ClientHello with ServerHello (steps 2–8). */
  hello(clientEphemeral: Uint8Array, certChain: Uint8Array): Buffer {
    this.clientEphemeral = Buffer.from(clientEphemeral);
    this.mixHash(clientEphemeral);
    this.mixHash(this.ephemeral.public);
    this.mixKey(Curve.sharedKey(this.ephemeral.private, this.clientEphemeral));
    const encStatic = this.encrypt(this.staticKey.public);
    this.mixKey(Curve.sharedKey(this.staticKey.private, this.clientEphemeral));
    const encCerts = this.encrypt(certChain);
    return Buffer.from(
      proto.HandshakeMessage.encode({
        serverHello: { ephemeral: this.ephemeral.public, static: encStatic, payload: encCerts },
      }).finish(),
    );
  }

  /** Reads ClientFinish (steps 9–12): the client's static key, its payload and the transport keys. */
  finish(clientFinish: proto.HandshakeMessage.IClientFinish): {
    clientStatic: Buffer;
    payload: proto.ClientPayload;
    transport: Transport;
  } {
    if (!clientFinish.static || !clientFinish.payload) throw new Error('ClientFinish without static or payload');
    // The client encrypts its static key with the counter left at 1 by the certificate (same key).
    const clientStatic = this.decrypt(clientFinish.static);
    this.mixKey(Curve.sharedKey(this.ephemeral.private, clientStatic));
    const payload = proto.ClientPayload.decode(this.decrypt(clientFinish.payload));
    const keys = hkdf(Buffer.alloc(0), 64, this.salt, '');
    return { clientStatic, payload, transport: new Transport(keys.subarray(32, 64), keys.subarray(0, 32)) };
  }

  private mixHash(data: Uint8Array): void {
    this.hash = sha256(Buffer.concat([this.hash, data]));
  }

  private mixKey(input: Uint8Array): void {
    const out = hkdf(input, 64, this.salt, '');
    this.salt = out.subarray(0, 32);
    this.key = out.subarray(32, 64);
    this.counter = 0;
  }

  private encrypt(plaintext: Uint8Array): Buffer {
    const result = gcmEncrypt(this.key, this.counter++, plaintext, this.hash);
    this.mixHash(result);
    return result;
  }

  private decrypt(ciphertext: Uint8Array): Buffer {
    const result = gcmDecrypt(this.key, this.counter++, ciphertext, this.hash);
    this.mixHash(ciphertext);
    return result;
  }
}

/** Post-handshake transport: one counter per direction, empty associated data. */
export class Transport {
  private sendCounter = 0;
  private receiveCounter = 0;
  private readonly sendKey: Buffer;
  private readonly receiveKey: Buffer;

  constructor(sendKey: Buffer, receiveKey: Buffer) {
    this.sendKey = sendKey;
    this.receiveKey = receiveKey;
  }

  // Callers must encrypt and write in one synchronous step: the counter is the nonce.
  encrypt(plaintext: Uint8Array): Buffer {
    return gcmEncrypt(this.sendKey, this.sendCounter++, plaintext, Buffer.alloc(0));
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    return gcmDecrypt(this.receiveKey, this.receiveCounter++, ciphertext, Buffer.alloc(0));
  }
}

/** Splits a byte stream into 3-byte-length-prefixed frames, skipping the client's intro once. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private introSeen = false;

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (!this.introSeen) {
      if (this.buffer.length < 4) return [];
      if (this.buffer[0] === 0x45 && this.buffer[1] === 0x44) {
        // 'ED' routing prefix: 2 bytes tag, 2 bytes version, 3 bytes length, then the routing info.
        if (this.buffer.length < 7) return [];
        const length = this.buffer.readUIntBE(4, 3);
        if (this.buffer.length < 7 + length + 4) return [];
        this.buffer = this.buffer.subarray(7 + length);
      }
      if (!this.buffer.subarray(0, 4).equals(NOISE_WA_HEADER)) {
        throw new Error(`unexpected intro ${this.buffer.subarray(0, 4).toString('hex')}`);
      }
      this.buffer = this.buffer.subarray(4);
      this.introSeen = true;
    }
    const frames: Buffer[] = [];
    while (this.buffer.length >= 3) {
      const size = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < size + 3) break;
      frames.push(this.buffer.subarray(3, size + 3));
      this.buffer = this.buffer.subarray(size + 3);
    }
    return frames;
  }
}

export function frame(data: Uint8Array): Buffer {
  const header = Buffer.alloc(3);
  header.writeUIntBE(data.length, 0, 3);
  return Buffer.concat([header, data]);
}

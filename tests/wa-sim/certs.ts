// The simulator's own trust roots: a Noise certificate chain under a root key that the client
// process is told to trust (PROTOCOL.md §2.3), and a TLS certificate for the media host.
import { Curve, proto } from '@whiskeysockets/baileys';
import { generate } from 'selfsigned';

export type KeyPair = { public: Uint8Array; private: Uint8Array };

export interface NoiseIdentity {
  /** Root public key (32 bytes); Baileys trusts it through WA_CERT_DETAILS.PUBLIC_KEY. */
  rootPublicKey: Buffer;
  /** The server's Noise static key; the leaf certificate carries it. */
  staticKey: KeyPair;
  /** Encoded proto.CertChain, sent in every ServerHello. */
  certChain: Buffer;
}

function certificate(details: proto.CertChain.NoiseCertificate.IDetails, signer: Uint8Array) {
  const encoded = proto.CertChain.NoiseCertificate.Details.encode(details).finish();
  return { details: encoded, signature: Buffer.from(Curve.sign(signer, encoded)) };
}

export function makeNoiseIdentity(): NoiseIdentity {
  const root = Curve.generateKeyPair();
  const intermediate = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  const now = Math.floor(Date.now() / 1000);
  const validity = { notBefore: now - 3600, notAfter: now + 365 * 86400 };
  // issuerSerial 0 is what the client compares with WA_CERT_DETAILS.SERIAL.
  const chain = proto.CertChain.encode({
    intermediate: certificate({ serial: 1, issuerSerial: 0, key: intermediate.public, ...validity }, root.private),
    leaf: certificate({ serial: 2, issuerSerial: 1, key: staticKey.public, ...validity }, intermediate.private),
  }).finish();
  return { rootPublicKey: Buffer.from(root.public), staticKey, certChain: Buffer.from(chain) };
}

export interface TlsIdentity {
  key: string;
  cert: string;
}

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, made fresh at every start. */
export async function makeTlsIdentity(): Promise<TlsIdentity> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 30 * 86400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/** Both identities as JSON, so a restarted simulator keeps the root key and certificate clients trust. */
export function serializeIdentities(noise: NoiseIdentity, tls: TlsIdentity): string {
  const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');
  return JSON.stringify({
    noise: { rootPublicKey: b64(noise.rootPublicKey), staticPublic: b64(noise.staticKey.public), staticPrivate: b64(noise.staticKey.private), certChain: b64(noise.certChain) },
    tls,
  });
}

export function parseIdentities(json: string): { noise: NoiseIdentity; tls: TlsIdentity } {
  const data = JSON.parse(json);
  const buf = (value: string) => Buffer.from(value, 'base64');
  return {
    noise: {
      rootPublicKey: buf(data.noise.rootPublicKey),
      staticKey: { public: buf(data.noise.staticPublic), private: buf(data.noise.staticPrivate) },
      certChain: buf(data.noise.certChain),
    },
    tls: data.tls,
  };
}

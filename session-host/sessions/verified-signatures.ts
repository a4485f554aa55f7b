// Remembers which curve25519 signatures verified, so the same check is not paid for twice.
//
// Every login's Noise handshake checks WhatsApp's certificate chain: two XEdDSA verifications in
// libsignal's pure-JS curve25519, about 20 ms of CPU together, and the same chain (the same keys,
// bytes and signatures) at every login. Restoring 300 devices after a restart spent 6 of its
// ~12 s of CPU there (tests/bench/devices.ts). Verification is a pure function of its inputs, so
// a small cache of outcomes, keyed by a hash of all three, changes no result.
//
// Baileys reads `verifySignature` from libsignal's module when it is first imported, so this
// module must be imported before Baileys is (first in main.ts); imported later it does nothing.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

type Verify = (pubKey: Uint8Array, msg: Uint8Array, sig: Uint8Array, isInit?: boolean) => boolean;

/** Distinct (key, message, signature) outcomes kept: a few certificate chains, with room to spare. */
const ENTRIES = 64;

const curve = createRequire(import.meta.url)('libsignal/src/curve.js') as { verifySignature: Verify };
const verify = curve.verifySignature;
const outcomes = new Map<string, boolean>();

curve.verifySignature = (pubKey, msg, sig, isInit) => {
  // Malformed input throws in `verify` as before; only well-formed checks are remembered.
  if (isInit || !pubKey || !msg || !sig) return verify(pubKey, msg, sig, isInit);
  const key = createHash('sha256').update(pubKey).update(msg).update(sig).update(String(msg.length)).digest('base64');
  const known = outcomes.get(key);
  if (known !== undefined) return known;
  const valid = verify(pubKey, msg, sig, isInit);
  if (outcomes.size >= ENTRIES) outcomes.delete(outcomes.keys().next().value!);
  outcomes.set(key, valid);
  return valid;
};

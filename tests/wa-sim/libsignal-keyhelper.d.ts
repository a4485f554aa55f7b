// libsignal ships types for its ciphers but not for its key helper; these are the parts the
// simulator uses.
import 'libsignal';

declare module 'libsignal' {
  type KeyPair = { pubKey: Buffer; privKey: Buffer };
  export const keyhelper: {
    generateIdentityKeyPair(): KeyPair;
    generateRegistrationId(): number;
    generateSignedPreKey(identity: KeyPair, keyId: number): { keyId: number; keyPair: KeyPair; signature: Buffer };
    generatePreKey(keyId: number): { keyId: number; keyPair: KeyPair };
  };
}

// A poll vote as a voter's phone encrypts it: the chosen options as SHA-256 hashes of their names,
// in AES-256-GCM under a key derived from the poll's message secret, bound to the poll's id and
// the JIDs of its creator and the voter (what Baileys' `decryptPollVote` undoes).
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { proto } from '@whiskeysockets/baileys';

export interface VoteSecretContext {
  pollId: string;
  /** JIDs without a device part, as both phones name the two parties. */
  creatorJid: string;
  voterJid: string;
  /** The poll's `messageContextInfo.messageSecret`. */
  secret: Uint8Array;
}

export function encryptPollVote(options: string[], { pollId, creatorJid, voterJid, secret }: VoteSecretContext): proto.Message.IPollEncValue {
  const selectedOptions = options.map((name) => createHash('sha256').update(name).digest());
  const plaintext = proto.Message.PollVoteMessage.encode({ selectedOptions }).finish();
  // HKDF-SHA256 of the secret (zero salt, one output block) with the poll and both parties as info.
  const base = createHmac('sha256', Buffer.alloc(32)).update(secret).digest();
  const context = Buffer.concat([Buffer.from(pollId), Buffer.from(creatorJid), Buffer.from(voterJid), Buffer.from('Poll Vote'), Buffer.from([1])]);
  const key = createHmac('sha256', base).update(context).digest();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${pollId}\u0000${voterJid}`));
  const encPayload = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { encPayload, encIv: iv };
}

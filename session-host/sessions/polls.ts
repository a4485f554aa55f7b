// Polls and their votes. WhatsApp never shows a vote in the clear: the voter's phone encrypts the
// chosen options (as SHA-256 hashes of their names) with a key derived from the poll's message
// secret, the poll's id and the JIDs of its creator and of the voter. Only a device that kept the
// poll can read a vote, and only by naming both parties as the voter's phone did.
import { createHash } from 'node:crypto';
import { decryptPollVote, jidNormalizedUser, type proto } from '@whiskeysockets/baileys';

export interface Poll {
  name: string;
  options: string[];
  /** More than one option may be chosen (WhatsApp's selectable count is not 1). */
  multiple: boolean;
}

/** The poll a message creates, in any of WhatsApp's poll versions, or undefined. */
export function pollOf(message: proto.IMessage | null | undefined): Poll | undefined {
  const creation = message?.pollCreationMessage ?? message?.pollCreationMessageV2 ?? message?.pollCreationMessageV3;
  if (!creation) return undefined;
  return {
    name: creation.name ?? '',
    options: (creation.options ?? []).map((o) => o.optionName ?? ''),
    multiple: creation.selectableOptionsCount !== 1,
  };
}

const hashOf = (option: string) => createHash('sha256').update(option).digest('hex');

/**
 * The names of the options a vote chose (empty when the voter withdrew their vote), or undefined
 * when the vote cannot be read. A party may be named by phone number or by LID, depending on how
 * the chat is addressed, so every pair of `creators` and `voters` is tried: AES-GCM's tag tells
 * the right pair from a wrong one.
 */
export function readVote(
  update: proto.Message.IPollUpdateMessage,
  poll: { id: string; message: proto.IMessage },
  creators: (string | null | undefined)[],
  voters: (string | null | undefined)[],
): string[] | undefined {
  const secret = poll.message.messageContextInfo?.messageSecret;
  const options = pollOf(poll.message)?.options;
  const vote = update.vote;
  if (!secret || !options || !vote?.encPayload || !vote.encIv) return undefined;
  const jids = (list: (string | null | undefined)[]) => [...new Set(list.filter((j): j is string => !!j).map(jidNormalizedUser))];
  for (const pollCreatorJid of jids(creators)) {
    for (const voterJid of jids(voters)) {
      let selected: proto.Message.PollVoteMessage;
      try {
        selected = decryptPollVote(vote, { pollCreatorJid, pollMsgId: poll.id, pollEncKey: secret, voterJid });
      } catch {
        continue; // not this pair
      }
      const byHash = new Map(options.map((name) => [hashOf(name), name]));
      return selected.selectedOptions.map((hash) => byHash.get(Buffer.from(hash).toString('hex'))).filter((name): name is string => name !== undefined);
    }
  }
  return undefined;
}

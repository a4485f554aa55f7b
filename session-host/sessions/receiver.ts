// Receiving on one device: incoming messages become `message` webhooks and link events, each once;
// group changes become `group` webhooks; receipts of our own messages that Baileys folds into an
// upsert go to the sender.
import { jidNormalizedUser, normalizeMessageContent, proto, type WAMessage } from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { type DecryptedVote, type GroupPayload, groupPayload, type IncomingPayload, incomingPayload, inboxFieldsOf, isGroupChange, isUserMessage, senderJidsOf } from './payloads.ts';
import { pollOf, readVote } from './polls.ts';
import type { SessionDeps } from './registry.ts';
import type { Sender } from './sender.ts';

/** Ids of recent incoming messages, to drop WhatsApp's re-offers of one already handled. */
const SEEN_LIMIT = 5000;

export interface ReceiverContext {
  readonly id: string;
  readonly deps: SessionDeps;
  readonly log: Logger;
  readonly sender: Sender;
  phoneNumber(): string | null;
  /** The logged-in account's JIDs (phone number and LID), as the open socket knows them. */
  account(): { id?: string; lid?: string } | undefined;
  /** The phone number JID behind a LID, if the device learned it. */
  phoneOfLid(lid: string): Promise<string | null>;
  /** Queues a webhook for the device, if it has a webhook URL. */
  webhook(event: { type: 'message'; payload: IncomingPayload } | { type: 'group'; payload: GroupPayload }): Promise<void>;
}

type Key = WAMessage['key'] & { remoteJidAlt?: string; participantAlt?: string };

export class Receiver {
  private readonly ctx: ReceiverContext;
  private readonly seen = new Set<string>();

  constructor(ctx: ReceiverContext) {
    this.ctx = ctx;
  }

  async onUpsert(messages: WAMessage[]): Promise<void> {
    for (const message of messages) {
      const id = message.key.id ?? '';
      // A group change is a notification Baileys records as a message; it counts whoever made it,
      // this device included.
      if (isGroupChange(message)) {
        if (this.seen.has(id)) continue;
        const author = message.key.participant;
        // A number the device cannot find leaves the author's LID.
        const authorPn = author?.endsWith('@lid') ? await this.ctx.phoneOfLid(author).catch(() => null) : null;
        await this.ctx.webhook({ type: 'group', payload: groupPayload(this.ctx.id, this.ctx.phoneNumber(), message, authorPn) });
        this.handled(id);
        continue;
      }
      if (message.key.fromMe) {
        // A receipt that lands while Baileys buffers its own send is folded into the upsert.
        if (message.status != null && message.status > proto.WebMessageInfo.Status.SERVER_ACK) await this.ctx.sender.onReceipt(id, message.key.remoteJid ?? '', message.status);
        continue;
      }
      if (!isUserMessage(message) || this.seen.has(id)) continue;
      const payload = incomingPayload(this.ctx.id, this.ctx.phoneNumber(), message, await this.voteIn(message), await this.phoneOfSender(message));
      // Persist the webhook first: once queued, the message survives a crash.
      await this.ctx.webhook({ type: 'message', payload });
      // Only for reactions and replies to it later (not worth a write for what nobody replies to):
      // a store fault here must not deliver the webhook twice.
      if (!['poll_vote', 'edit', 'revoke'].includes(payload.type)) {
        await this.ctx.sender
          .received(id, message.key.remoteJid ?? payload.chat, message.key.participant || undefined, message.message)
          .catch((error: unknown) => this.ctx.log.warn({ err: error, id }, 'incoming message id not remembered'));
      }
      this.handled(id);
      this.ctx.deps.metrics.messagesReceived++;
      this.ctx.deps.emit('message.incoming', {
        deviceId: this.ctx.id,
        id,
        from: payload.sender,
        chat: payload.chat,
        type: payload.type,
        text: payload.message,
        timestamp: payload.timestamp,
        ...inboxFieldsOf(payload),
      });
    }
  }

  /** The sender's phone number JID when the message names them only by LID: a LID is no number to answer to. */
  private async phoneOfSender(message: WAMessage): Promise<string | null> {
    const { pn, lid } = senderJidsOf(message);
    if (pn || !lid) return null;
    const found = await this.ctx.phoneOfLid(lid).catch(() => null);
    return found ? jidNormalizedUser(found) : null; // the mapping answers with a device part (`…:0@…`)
  }

  /** Remembers `id` as handled, so a re-offer of it is dropped. */
  private handled(id: string): void {
    this.seen.add(id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
  }

  /**
   * A poll vote in `message`, read with the poll this device sent or received (kept for the
   * retention with its message secret); undefined when the message is no vote.
   */
  private async voteIn(message: WAMessage): Promise<DecryptedVote | undefined> {
    const update = normalizeMessageContent(message.message)?.pollUpdateMessage;
    if (!update) return undefined;
    const pollId = update.pollCreationMessageKey?.id ?? '';
    const poll = pollId ? await this.ctx.sender.storedMessage(pollId) : undefined;
    const pollName = pollOf(poll?.message)?.name ?? null;
    if (!poll || pollName === null) return { pollName, options: null };
    const me = this.ctx.account();
    const key = message.key as Key;
    const creators = poll.fromMe ? [me?.id, me?.lid] : [poll.participant || poll.chat];
    const voters = key.remoteJid?.endsWith('@g.us') ? [key.participant, key.participantAlt] : [key.remoteJid, key.remoteJidAlt];
    const options = readVote(update, { id: pollId, message: poll.message }, creators, voters);
    if (!options) this.ctx.log.warn({ id: message.key.id, pollId }, 'a poll vote could not be decrypted');
    return { pollName, options: options ?? null };
  }
}

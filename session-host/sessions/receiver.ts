// Receiving on one device: incoming messages become `message` webhooks and link events, each once;
// receipts of our own messages that Baileys folds into an upsert go to the sender.
import { proto, type WAMessage } from '@whiskeysockets/baileys';
import type { Logger } from '../logger.ts';
import { incomingPayload, isUserMessage, type IncomingPayload } from './payloads.ts';
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
  /** Queues a webhook for the device, if it has a webhook URL. */
  webhook(event: { type: 'message'; payload: IncomingPayload }): Promise<void>;
}

export class Receiver {
  private readonly ctx: ReceiverContext;
  private readonly seen = new Set<string>();

  constructor(ctx: ReceiverContext) {
    this.ctx = ctx;
  }

  async onUpsert(messages: WAMessage[]): Promise<void> {
    for (const message of messages) {
      const id = message.key.id ?? '';
      if (message.key.fromMe) {
        // A receipt that lands while Baileys buffers its own send is folded into the upsert.
        if (message.status != null && message.status > proto.WebMessageInfo.Status.SERVER_ACK) await this.ctx.sender.onReceipt(id, message.key.remoteJid ?? '', message.status);
        continue;
      }
      if (!isUserMessage(message) || this.seen.has(id)) continue;
      const payload = incomingPayload(this.ctx.id, this.ctx.phoneNumber(), message);
      // Persist the webhook first: once queued, the message survives a crash.
      await this.ctx.webhook({ type: 'message', payload });
      // Only for reactions and replies to it later: a store fault here must not deliver the webhook twice.
      await this.ctx.sender
        .received(id, message.key.remoteJid ?? payload.chat, message.key.participant || undefined, message.message)
        .catch((error: unknown) => this.ctx.log.warn({ err: error, id }, 'incoming message id not remembered'));
      this.seen.add(id);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
      this.ctx.deps.metrics.messagesReceived++;
      this.ctx.deps.emit('message.incoming', { deviceId: this.ctx.id, id, from: payload.sender, chat: payload.chat, type: payload.type, text: payload.message, timestamp: payload.timestamp });
    }
  }
}

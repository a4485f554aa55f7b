export { WaSim, textOfMessage } from './sim.ts';
export type { ClientReceipt, DeliveredCopy, DisconnectKind, IncomingOptions, OutgoingMessage, ReceiptType, StartOptions } from './sim.ts';
export type { ReceivedMedia, MediaType } from './media.ts';
export type { Person, Companion, Group } from './people.ts';

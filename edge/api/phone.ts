// Recipients as people write them → as WhatsApp addresses them.
import { z } from 'zod';

export type Recipient = {
  /** What WhatsApp addresses: `<digits>@s.whatsapp.net` or `<id>@g.us`. */
  jid: string;
  /** What we show and log: the digits with country code, or the group id. */
  number: string;
};

export const DEFAULT_COUNTRY_CODE = '62';
const GROUP = /^[\d-]{5,40}@g\.us$/;

/**
 * `628123456789`, `+62 812-3456-789`, `08123456789` and `628123456789@s.whatsapp.net` are one
 * recipient: a leading 0 is a national number and takes `countryCode` (Fonnte's rule; "0" turns
 * it off), a leading 00 or + is international. Group ids pass as they are. Null: not a number.
 */
export function toRecipient(input: string, countryCode = DEFAULT_COUNTRY_CODE, groups = true): Recipient | null {
  const value = input.trim().replace(/@s\.whatsapp\.net$/, '');
  if (GROUP.test(value)) return groups ? { jid: value, number: value } : null;
  if (!/^\+?[\d\s().-]+$/.test(value)) return null;
  let digits = value.replace(/\D/g, '');
  if (digits.startsWith('00')) digits = digits.slice(2);
  else if (digits.startsWith('0') && !value.startsWith('+') && countryCode !== '0') digits = countryCode + digits.slice(1);
  return /^[1-9]\d{6,14}$/.test(digits) ? { jid: `${digits}@s.whatsapp.net`, number: digits } : null;
}

const shown = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
export const notARecipient = (value: string) => `must be a phone number like 628123456789 or a group id ending in @g.us, got ${shown(value)}`;
export const notAPhone = (value: string) => `must be a phone number like 628123456789, got ${shown(value)}`;

/** A request field holding one recipient; the error names the value (the validator adds the field). */
export const recipientField = z
  .string()
  .transform((value, ctx) => toRecipient(value) ?? (ctx.addIssue({ code: 'custom', message: notARecipient(value) }), z.NEVER))
  .meta({ description: 'A phone number with country code (628123456789, +62 812-3456-789, or 08123456789 for Indonesia) or a WhatsApp group id (…@g.us)', examples: ['628123456789'] });

/** A field holding one person's number: the digits with country code. */
export const phoneField = z
  .string()
  .transform((value, ctx) => toRecipient(value, DEFAULT_COUNTRY_CODE, false)?.number ?? (ctx.addIssue({ code: 'custom', message: notAPhone(value) }), z.NEVER))
  .meta({ description: 'A phone number with country code (628123456789, +62 812-3456-789, or 08123456789 for Indonesia)', examples: ['628123456789'] });

import { describe, expect, it } from 'vitest';
import { toRecipient } from '../../edge/api/phone.ts';

describe('recipients', () => {
  it.each([
    ['628123456789', undefined, '628123456789'],
    ['+62 812-3456-789', undefined, '628123456789'],
    ['08123456789', undefined, '628123456789'],
    ['0812 3456 789', undefined, '628123456789'],
    ['(0812) 3456.789', undefined, '628123456789'],
    ['628123456789@s.whatsapp.net', undefined, '628123456789'],
    ['0062 812 3456 789', undefined, '628123456789'],
    // Fonnte's countryCode replaces the national 0, and only that.
    ['0123456789', '60', '60123456789'],
    ['+62 812 3456 789', '60', '628123456789'],
    ['628123456789', '60', '628123456789'],
    ['14155550123', '0', '14155550123'],
  ])('%s (countryCode %s) is %s', (input, countryCode, number) => {
    expect(toRecipient(input, countryCode)).toEqual({ jid: `${number}@s.whatsapp.net`, number });
  });

  it('takes group ids as they are', () => {
    expect(toRecipient('120363023456789012@g.us')).toEqual({ jid: '120363023456789012@g.us', number: '120363023456789012@g.us' });
    expect(toRecipient('6281234567-1600000000@g.us')?.jid).toBe('6281234567-1600000000@g.us');
    expect(toRecipient('120363023456789012@g.us', '62', false)).toBeNull();
  });

  it.each([
    ['', 'empty'],
    ['abc', 'letters'],
    ['62812abc789', 'letters among digits'],
    ['12345', 'too short'],
    ['6281234567890123456', 'too long'],
    ['+0812345678', 'a + before a national number'],
    ['08123456789', 'a national number with countryCode 0', '0'],
    ['someone@example.com', 'an email address'],
    ['abc@g.us', 'a group id that is not one'],
  ])('refuses %j (%s)', (input, _why, countryCode?: string) => {
    expect(toRecipient(input, countryCode)).toBeNull();
  });
});

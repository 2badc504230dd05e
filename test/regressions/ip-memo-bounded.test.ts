import { describe, expect, it } from 'vitest';
import { ipKey, ipMemoSize, MAX_MEMO_INPUT } from '../../src/http/ip.js';

/**
 * Issue 11: the IP-key memo remembered whatever it was given: 4096 junk "addresses" of 16 kB each held
 * 63 MiB. Inputs longer than any address are now worked out without being remembered, and the memo
 * is bounded by entries.
 */
describe('regression: the IP-key memo holds only address-sized inputs, a bounded number of them', () => {
  it('junk longer than any address is answered but not remembered', () => {
    const prefix = 48; // a prefix no other code of this file uses: its memo starts empty
    expect(ipMemoSize(prefix)).toBe(0);
    for (let i = 0; i < 5000; i++) expect(ipKey(`${i}:${'x'.repeat(16 * 1024)}`, prefix)).toBeUndefined();
    expect(ipMemoSize(prefix)).toBe(0);
    // The longest real inputs still fit: a bracketed IPv6 with an IPv4 tail and a zone.
    const longest = '[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%eth0]';
    expect(longest.length).toBeLessThanOrEqual(MAX_MEMO_INPUT);
    expect(ipKey(longest, prefix)).toBe('ffff:ffff:ffff:0:0:0:0:0/48');
    expect(ipKey('203.0.113.7', prefix)).toBe('203.0.113.7');
    expect(ipMemoSize(prefix)).toBe(2);
    // Padded past the bound, a real address is still read (just not remembered).
    expect(ipKey(`${' '.repeat(100)}203.0.113.7`, prefix)).toBe('203.0.113.7');
    expect(ipMemoSize(prefix)).toBe(2);
  });

  it('the memo never holds more than 4096 entries', () => {
    const prefix = 40;
    for (let i = 0; i < 10_000; i++) ipKey(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, prefix);
    expect(ipMemoSize(prefix)).toBeLessThanOrEqual(4096);
    expect(ipMemoSize(prefix)).toBe(10_000 % 4096);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256Key } from '../src/hmac-sha256.ts';

async function webCrypto(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', new Uint8Array(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, new Uint8Array(data)));
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('HmacSha256Key', () => {
  it('matches RFC 4231 test case 2', () => {
    const k = new HmacSha256Key(new TextEncoder().encode('Jefe'));
    expect(hex(k.mac(new TextEncoder().encode('what do ya want for nothing?')))).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('matches WebCrypto for every length around the block edges, keys long and short, split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 150 }), fc.uint8Array({ maxLength: 300 }), fc.nat(300), async (key, data, cut) => {
        const at = Math.min(cut, data.length);
        const k = new HmacSha256Key(key);
        const want = hex(await webCrypto(key, data));
        expect(hex(k.mac(data))).toBe(want);
        expect(hex(k.mac(data.subarray(0, at), data.subarray(at)))).toBe(want);
      }),
      { numRuns: 300 },
    );
    for (const n of [0, 55, 56, 63, 64, 65, 119, 120, 128, 100_000]) {
      const data = new Uint8Array(n).map((_, i) => i * 7);
      expect(hex(new HmacSha256Key(new Uint8Array(32).fill(3)).mac(data))).toBe(hex(await webCrypto(new Uint8Array(32).fill(3), data)));
    }
  });
});

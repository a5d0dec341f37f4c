/**
 * Generated secrets and invites (issue 13, finding 7): a generated secret has 256 random
 * bits and derives its keys with HKDF (fast, nothing to guess); a passphrase goes through
 * PBKDF2 at 600,000 iterations; an invite round-trips and refuses anything else with a typed
 * error. Version 2 carries the anchor (PD voters' store keys, issue 13 finding 6), bounded; a
 * version 1 code (no anchor) is still read, and still written when there is no anchor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PBKDF2_ITERATIONS, deriveClusterKeys, open, seal } from '@peerkv/transport';
import { INVITE_ANCHORS_MAX, INVITE_CHARS_MAX, PeerKVError, decodeInvite, encodeInvite, generateClusterSecret, isGeneratedSecret } from '../src/index.ts';

describe('generated secrets', () => {
  it('are 256 random bits, distinct, and recognised', () => {
    const a = generateClusterSecret();
    const b = generateClusterSecret();
    expect(a).toMatch(/^pk1_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(isGeneratedSecret(a)).toBe(true);
    expect(isGeneratedSecret('s3cret')).toBe(false);
    expect(isGeneratedSecret(`${a}x`)).toBe(false);
  });

  it('derive keys fast (HKDF) that only the same secret and cluster open', async () => {
    const secret = generateClusterSecret();
    const t0 = performance.now();
    const k = await deriveClusterKeys('home', secret);
    const fastMs = performance.now() - t0;
    const sealed = await seal(k, 'topic', { hello: 'world' });
    expect(await open(await deriveClusterKeys('home', secret), 'topic', sealed)).toEqual({ hello: 'world' });
    expect(await open(await deriveClusterKeys('home', generateClusterSecret()), 'topic', sealed)).toBeUndefined();
    expect(await open(await deriveClusterKeys('other', secret), 'topic', sealed)).toBeUndefined();
    // A passphrase pays the PBKDF2 work factor: far slower than the generated secret's HKDF.
    expect(PBKDF2_ITERATIONS).toBe(600_000);
    const t1 = performance.now();
    await deriveClusterKeys('home', 'correct horse battery staple');
    const slowMs = performance.now() - t1;
    expect(slowMs).toBeGreaterThan(fastMs * 5);
  });
});

describe('invites', () => {
  const invite = { cluster: 'home', secret: generateClusterSecret(), signaling: ['wss://signal.example/peerkv', 'ws://127.0.0.1:4444'] };

  it('round-trip as a code and inside a link fragment', () => {
    const code = encodeInvite(invite);
    expect(code.startsWith('peerkv1.')).toBe(true);
    expect(decodeInvite(code)).toEqual(invite);
    expect(decodeInvite(`https://app.example/#invite=${code}`)).toEqual(invite);
    expect(decodeInvite(`  ${code}\n`)).toEqual(invite);
  });

  const storeKey = (fill: number): Uint8Array => {
    const k = new Uint8Array(65).fill(fill);
    k[0] = 0x04;
    return k;
  };
  const anchors = [1, 2, 3].map((storeId) => ({ storeId, publicKey: storeKey(storeId + 10) }));

  it('with an anchor round-trip as version 2; without one they stay version 1', () => {
    const code = encodeInvite({ ...invite, anchors });
    expect(code.startsWith('peerkv2.')).toBe(true);
    expect(decodeInvite(code)).toEqual({ ...invite, anchors });
    expect(decodeInvite(`https://app.example/#invite=${code}`)).toEqual({ ...invite, anchors });
    expect(encodeInvite({ ...invite, anchors: [] }).startsWith('peerkv1.')).toBe(true);
    expect(decodeInvite(encodeInvite({ ...invite, anchors: [] }))).toEqual(invite);
  });

  it('of version 1, written before anchors, still decode (with no anchor)', () => {
    // An invite code as the previous version wrote it (JSON {c, s, g}).
    const old = `peerkv1.${Buffer.from(JSON.stringify({ c: invite.cluster, s: invite.secret, g: invite.signaling })).toString('base64url')}`;
    const decoded = decodeInvite(old);
    expect(decoded).toEqual(invite);
    expect(decoded.anchors).toBeUndefined();
  });

  it('bound the anchor: at most INVITE_ANCHORS_MAX keys of store ids, 65 bytes each, no id twice', () => {
    expect(INVITE_ANCHORS_MAX).toBe(7);
    const most = Array.from({ length: INVITE_ANCHORS_MAX }, (_, i) => ({ storeId: i + 1, publicKey: storeKey(i + 1) }));
    const code = encodeInvite({ ...invite, anchors: most });
    expect(code.length).toBeLessThanOrEqual(INVITE_CHARS_MAX);
    expect(decodeInvite(code).anchors).toEqual(most);
    const refused = [
      [...most, { storeId: 99, publicKey: storeKey(99) }],
      [{ storeId: 1, publicKey: storeKey(1).slice(1) }],
      [{ storeId: 0, publicKey: storeKey(1) }],
      [{ storeId: 2 ** 53, publicKey: storeKey(1) }],
      [{ storeId: 1.5, publicKey: storeKey(1) }],
      [anchors[0]!, anchors[0]!],
    ];
    for (const a of refused) expect(() => encodeInvite({ ...invite, anchors: a }), JSON.stringify(a.map((x) => x.storeId))).toThrow(PeerKVError);
    // Read side: the same limits, and damaged entries, refused with InvalidArgument.
    const v2 = (a: unknown): string => `peerkv2.${Buffer.from(JSON.stringify({ c: invite.cluster, s: invite.secret, g: invite.signaling, a })).toString('base64url')}`;
    for (const a of [undefined, [], [[1]], [['1', 'AA']], [[1, 'not base64!']], [[1, 'A']], most.map((x) => [x.storeId, Buffer.from(x.publicKey).toString('base64url')]).concat([[99, 'AA']])]) {
      expect(() => decodeInvite(v2(a)), JSON.stringify(a)?.slice(0, 40)).toThrow(PeerKVError);
    }
    // Too long to read back: refused when written, not only when read.
    expect(() => encodeInvite({ cluster: 'c'.repeat(256), secret: 'x'.repeat(256), signaling: Array.from({ length: 8 }, (_, i) => `wss://${'s'.repeat(248)}${i}`), anchors: most })).toThrow(/more than 4096/);
  });

  it('refuse anything else with InvalidArgument', () => {
    const code = encodeInvite(invite);
    for (const badCode of ['', 'peerkv1.', 'peerkv2.abc', 'peerkv3.abc', code.slice(0, -5), `${code}!!`, 'peerkv1.' + btoa('{"c":"x"}'), 'x'.repeat(5000)]) {
      expect(() => decodeInvite(badCode), badCode.slice(0, 40)).toThrow(PeerKVError);
    }
    expect(() => encodeInvite({ ...invite, signaling: ['http://not-ws'] })).toThrow(/not ws: or wss:/);
    expect(() => encodeInvite({ ...invite, cluster: '' })).toThrow(PeerKVError);
  });

  it('throw nothing but PeerKVError(InvalidArgument) for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `peerkv1.${s}`), fc.jsonValue().map((v) => `peerkv1.${btoa(JSON.stringify(v) ?? '')}`), fc.jsonValue().map((v) => `peerkv2.${btoa(JSON.stringify(v) ?? '')}`), fc.jsonValue().map((v) => `peerkv2.${Buffer.from(JSON.stringify({ c: 'x', s: 'y', g: [], a: v }) ?? '').toString('base64url')}`)), (s) => {
        try {
          decodeInvite(s);
        } catch (e) {
          expect(e instanceof PeerKVError && e.kind).toBe('InvalidArgument');
        }
      }),
    );
  });
});

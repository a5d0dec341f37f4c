/**
 * Generated secrets and invites (issue 13, finding 7): a generated secret has 256 random
 * bits and derives its keys with HKDF (fast, nothing to guess); a passphrase goes through
 * PBKDF2 at 600,000 iterations; an invite round-trips and refuses anything else with a typed
 * error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PBKDF2_ITERATIONS, deriveClusterKeys, open, seal } from '@peerkv/transport';
import { PeerKVError, decodeInvite, encodeInvite, generateClusterSecret, isGeneratedSecret } from '../src/index.ts';

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

  it('refuse anything else with InvalidArgument', () => {
    const code = encodeInvite(invite);
    for (const badCode of ['', 'peerkv1.', 'peerkv2.abc', code.slice(0, -5), `${code}!!`, 'peerkv1.' + btoa('{"c":"x"}'), 'x'.repeat(5000)]) {
      expect(() => decodeInvite(badCode), badCode.slice(0, 40)).toThrow(PeerKVError);
    }
    expect(() => encodeInvite({ ...invite, signaling: ['http://not-ws'] })).toThrow(/not ws: or wss:/);
    expect(() => encodeInvite({ ...invite, cluster: '' })).toThrow(PeerKVError);
  });

  it('throw nothing but PeerKVError(InvalidArgument) for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `peerkv1.${s}`), fc.jsonValue().map((v) => `peerkv1.${btoa(JSON.stringify(v) ?? '')}`)), (s) => {
        try {
          decodeInvite(s);
        } catch (e) {
          expect(e instanceof PeerKVError && e.kind).toBe('InvalidArgument');
        }
      }),
    );
  });
});

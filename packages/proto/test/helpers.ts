/** Shared helpers and fast-check arbitraries of the proto tests. */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ByteReader, ByteWriter, DecodeError, type DecodeErrorKind, type KvOp, type Peer, type Region, type RegionHeartbeat, type StoreMeta, type StoreStats } from '../src/index.ts';

/** Lower-case hex of `b`. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Bytes of a hex string. */
export function unhex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
}

/** The bytes `write` produces for `v`. */
export function bytesOf<T>(write: (w: ByteWriter, v: T) => void, v: T): Uint8Array {
  const w = new ByteWriter();
  write(w, v);
  return w.finish();
}

/** Reads exactly one value from `bytes` (trailing bytes throw). */
export function readAll<T>(read: (r: ByteReader) => T, bytes: Uint8Array): T {
  const r = new ByteReader(bytes);
  const v = read(r);
  r.end();
  return v;
}

/** The `DecodeError` kind `fn` throws; fails the test on success or on any other error. */
export function decodeKind(fn: () => unknown): DecodeErrorKind {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return (e as DecodeError).kind;
  }
  throw new Error('decoded');
}

/** Expects `write` then `read` to give back `v`. */
export function expectRoundTrip<T>(write: (w: ByteWriter, v: T) => void, read: (r: ByteReader) => T, v: T): void {
  expect(readAll(read, bytesOf(write, v))).toEqual(v);
}

/** A string of `n` UTF-8 bytes. */
export function asciiOfBytes(n: number): string {
  return 'x'.repeat(n);
}

const bytes = (maxLength = 16): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });

export const arbPeer: fc.Arbitrary<Peer> = fc.record({
  id: fc.maxSafeNat(),
  storeId: fc.maxSafeNat(),
  role: fc.constantFrom('voter', 'learner', 'incomingVoter', 'demotingVoter'),
});

export const arbRegion: fc.Arbitrary<Region> = fc.record({
  id: fc.maxSafeNat(),
  startKey: bytes(),
  endKey: bytes(),
  epoch: fc.record({ confVer: fc.maxSafeNat(), version: fc.maxSafeNat() }),
  peers: fc.array(arbPeer, { maxLength: 6 }),
});

export const arbLabels: fc.Arbitrary<Record<string, string>> = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 5 });

export const arbStoreMeta: fc.Arbitrary<StoreMeta> = fc.record({
  id: fc.maxSafeNat(),
  address: fc.string({ maxLength: 40 }),
  labels: arbLabels,
  state: fc.constantFrom('up', 'offline', 'tombstone'),
});

export const arbStoreStats: fc.Arbitrary<StoreStats> = fc.record({
  storeId: fc.maxSafeNat(),
  capacityBytes: fc.maxSafeNat(),
  usedBytes: fc.maxSafeNat(),
  availableBytes: fc.maxSafeNat(),
  regionCount: fc.nat(),
  leaderCount: fc.nat(),
  draining: fc.boolean(),
  damagedRegionIds: fc.option(fc.array(fc.maxSafeNat(), { minLength: 1, maxLength: 5 }), { nil: undefined }),
}, { requiredKeys: ['storeId', 'capacityBytes', 'usedBytes', 'availableBytes', 'regionCount', 'leaderCount', 'draining'] });

export const arbHeartbeat: fc.Arbitrary<RegionHeartbeat> = fc.record({
  region: arbRegion,
  leader: arbPeer,
  downPeers: fc.array(fc.maxSafeNat(), { maxLength: 5 }),
  pendingPeers: fc.array(fc.maxSafeNat(), { maxLength: 5 }),
  approximateSizeBytes: fc.maxSafeNat(),
  approximateKeys: fc.maxSafeNat(),
  writtenBytesPerSec: fc.maxSafeNat(),
  term: fc.maxSafeNat(),
});

/** A column family: `default` or another valid name. */
const arbCf: fc.Arbitrary<{ cf: string }> = fc.oneof(
  fc.constant({ cf: 'default' }),
  fc.string({ minLength: 1, maxLength: 64 }).map((cf) => ({ cf })),
);

export const arbKvOp: fc.Arbitrary<KvOp> = fc.oneof(
  fc.tuple(arbCf, bytes(), bytes()).map(([cf, key, value]): KvOp => ({ type: 'put', ...cf, key, value })),
  fc.tuple(arbCf, bytes()).map(([cf, key]): KvOp => ({ type: 'delete', ...cf, key })),
  fc.tuple(arbCf, bytes(), bytes()).map(([cf, start, end]): KvOp => ({ type: 'deleteRange', ...cf, start, end })),
);

/** A u64 as a bigint. */
export const arbU64: fc.Arbitrary<bigint> = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

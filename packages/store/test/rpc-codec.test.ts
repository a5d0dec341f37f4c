/**
 * The store RPC codec: every request and response round-trips (every region error kind,
 * values, pairs, statuses, failures); random and mutated bytes only ever throw
 * `StoreRpcDecodeError`; unknown types and versions are refused with their own kinds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Peer, Region, RegionError } from '@peerkv/pd';
import {
  StoreClosedError,
  StoreRpcDecodeError,
  handleStoreRequest,
  type ServedStore,
  decodeStoreRequest,
  decodeStoreResponse,
  encodeStoreRequest,
  encodeStoreResponse,
  type StoreRequest,
  type StoreResponse,
} from '../src/index.ts';

const id = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const key = fc.uint8Array({ maxLength: 12 });
const epoch = fc.record({ confVer: id, version: id });
const peer: fc.Arbitrary<Peer> = fc.record({ id, storeId: id, role: fc.constantFrom('voter' as const, 'learner' as const, 'incomingVoter' as const, 'demotingVoter' as const) });
const region: fc.Arbitrary<Region> = fc.record({ id, startKey: key, endKey: key, epoch, peers: fc.array(peer, { maxLength: 4 }) });
const text = fc.string({ maxLength: 30 });
const consistency = fc.constantFrom('linearizable' as const, 'follower' as const, 'stale' as const);
const timed = fc.option(fc.nat(100_000), { nil: undefined }).map((t) => (t === undefined ? {} : { timeoutMs: t }));
const cf = fc.constantFrom('default', 'lock', 'write');
const op = fc.oneof(
  fc.record({ type: fc.constant('put' as const), cf, key, value: fc.uint8Array({ maxLength: 20 }) }),
  fc.record({ type: fc.constant('delete' as const), cf, key }),
  fc.record({ type: fc.constant('deleteRange' as const), cf, start: key, end: key }),
);
const range = fc.record({ start: key, end: key, limit: fc.oneof(fc.nat(1000), fc.constant(Infinity)), reverse: fc.boolean() }, { requiredKeys: ['start', 'limit', 'reverse'] });

const request: fc.Arbitrary<StoreRequest> = fc.oneof(
  fc.tuple(fc.record({ type: fc.constant('write' as const), regionId: id, epoch, clientId: text, seq: id, ackFloor: id, ops: fc.array(op, { maxLength: 4 }) }), timed).map(([q, t]) => ({ ...q, ...t })),
  fc.tuple(fc.record({ type: fc.constant('get' as const), regionId: id, epoch, key, consistency }), timed).map(([q, t]) => ({ ...q, ...t })),
  fc.tuple(fc.record({ type: fc.constant('scan' as const), regionId: id, epoch, range, consistency }), timed).map(([q, t]) => ({ ...q, ...t })),
  fc.tuple(fc.record({ type: fc.constant('changePeers' as const), regionId: id, changes: fc.array(fc.record({ type: fc.constantFrom('addNode' as const, 'removeNode' as const, 'addLearnerNode' as const), peer }), { maxLength: 3 }) }), timed).map(([q, t]) => ({ ...q, ...t })),
  fc.tuple(fc.record({ type: fc.constant('split' as const), regionId: id, epoch, splitKey: key, newRegionId: id, newPeerIds: fc.array(id, { maxLength: 4 }) }), timed).map(([q, t]) => ({ ...q, ...t })),
  fc.record({ type: fc.constant('transferLeader' as const), regionId: id, peerId: id }),
  fc.record({ type: fc.constant('campaign' as const), regionId: id }),
  fc.constant({ type: 'status' as const }),
);

const regionError: fc.Arbitrary<RegionError> = fc.oneof(
  fc.record({ kind: fc.constant('NotLeader' as const), regionId: id, leaderHint: peer }, { requiredKeys: ['kind', 'regionId'] }),
  fc.record({ kind: fc.constant('EpochNotMatch' as const), currentRegions: fc.array(region, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('RegionNotFound' as const), regionId: id }),
  fc.record({ kind: fc.constant('KeyNotInRegion' as const), key, regionId: id, startKey: key, endKey: key }),
  fc.record({ kind: fc.constant('ServerIsBusy' as const), reason: text, backoffMs: fc.nat(10_000) }),
  fc.record({ kind: fc.constant('StoreNotMatch' as const), requestStoreId: id, actualStoreId: id }),
  fc.record({ kind: fc.constant('Timeout' as const), what: text }),
);

function result<T>(value: fc.Arbitrary<T>) {
  return fc.oneof(value.map((v) => ({ ok: true as const, value: v })), regionError.map((error) => ({ ok: false as const, error })));
}

const pair = fc.record({ key, value: fc.uint8Array({ maxLength: 20 }) });
const regionStatus = fc.record({
  regionId: id, peerId: id, startKey: key, endKey: key, epoch, peers: fc.array(peer, { maxLength: 3 }),
  role: fc.constantFrom('leader', 'follower', 'candidate', 'preCandidate'), term: id, lead: id, commit: id, applied: id, hibernating: fc.boolean(),
  safeTs: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
}, { requiredKeys: ['regionId', 'peerId', 'startKey', 'endKey', 'epoch', 'peers', 'role', 'term', 'lead', 'commit', 'applied', 'hibernating'] });
const counters = fc.record({ rounds: id, writes: id, snapshotsGenerated: id, snapshotsInstalled: id, logCompactions: id });
const status = fc.record({ storeId: id, stoppedReason: text, counters, regions: fc.array(regionStatus, { maxLength: 3 }) }, { requiredKeys: ['storeId', 'counters', 'regions'] });

const response: fc.Arbitrary<StoreResponse> = fc.oneof(
  result(fc.constant(undefined)).map((r) => ({ type: 'unit' as const, result: r })),
  result(fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined })).map((r) => ({ type: 'value' as const, result: r })),
  result(fc.array(pair, { maxLength: 4 })).map((r) => ({ type: 'pairs' as const, result: r })),
  fc.constant({ type: 'ack' as const }),
  status.map((s) => ({ type: 'status' as const, status: s })),
  fc.record({ kind: fc.constantFrom('BadRequest' as const, 'StoreClosed' as const, 'Internal' as const), message: text }).map((f) => ({ type: 'failure' as const, failure: f })),
);

/** Flips, truncates, extends or splices bytes. */
const mutation = fc.oneof(
  fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }).map((m) => (b: Uint8Array) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[m.at % c.length] ^= m.xor;
    return c;
  }),
  fc.nat().map((n) => (b: Uint8Array) => b.subarray(0, b.length === 0 ? 0 : n % b.length)),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((x) => (b: Uint8Array) => new Uint8Array([...b, ...x])),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, x]) => (b: Uint8Array) => {
    const i = b.length === 0 ? 0 : at % b.length;
    return new Uint8Array([...b.subarray(0, i), ...x, ...b.subarray(i)]);
  }),
);

function decodesOrTypedError(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): void {
  try {
    decode(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(StoreRpcDecodeError);
  }
}

describe('store RPC codec', () => {
  it('round-trips every request', () => {
    fc.assert(fc.property(request, (q) => { expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q); }), { numRuns: 500 });
  });

  it('round-trips every response, including every region error kind', () => {
    fc.assert(fc.property(response, (s) => { expect(decodeStoreResponse(encodeStoreResponse(s))).toEqual(s); }), { numRuns: 500 });
  });

  it('random bytes only ever throw StoreRpcDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      decodesOrTypedError(decodeStoreRequest, b);
      decodesOrTypedError(decodeStoreResponse, b);
    }), { numRuns: 2000 });
  });

  it('mutated valid requests and responses decode or throw StoreRpcDecodeError', () => {
    fc.assert(fc.property(request, fc.array(mutation, { minLength: 1, maxLength: 3 }), (q, ms) => {
      decodesOrTypedError(decodeStoreRequest, ms.reduce((b, m) => m(b), encodeStoreRequest(q)));
    }), { numRuns: 1000 });
    fc.assert(fc.property(response, fc.array(mutation, { minLength: 1, maxLength: 3 }), (s, ms) => {
      decodesOrTypedError(decodeStoreResponse, ms.reduce((b, m) => m(b), encodeStoreResponse(s)));
    }), { numRuns: 1000 });
  });

  it('names unknown types, newer versions, bad enums and trailing bytes', () => {
    const kind = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as StoreRpcDecodeError).kind;
      }
      return 'decoded';
    };
    expect(kind(() => decodeStoreRequest(new Uint8Array([99, 1])))).toBe('UnknownType');
    expect(kind(() => decodeStoreResponse(new Uint8Array([0, 1])))).toBe('UnknownType');
    expect(kind(() => decodeStoreRequest(new Uint8Array([8, 2])))).toBe('UnsupportedVersion');
    expect(kind(() => decodeStoreRequest(new Uint8Array([8, 1])))).toBe('decoded');
    expect(kind(() => decodeStoreRequest(new Uint8Array([8, 1, 0])))).toBe('Malformed');
    const get = encodeStoreRequest({ type: 'get', regionId: 1, epoch: { confVer: 1, version: 1 }, key: new Uint8Array([1]), consistency: 'stale' });
    const badConsistency = get.slice();
    badConsistency[badConsistency.length - 2] = 7;
    expect(kind(() => decodeStoreRequest(badConsistency))).toBe('Malformed');
    // A key over the limit is refused by its named limit before anything is allocated.
    expect(kind(() => decodeStoreRequest(new Uint8Array([2, 1, 1, 1, 1, 0xff, 0xff, 0xff, 0x7f])))).toBe('LimitExceeded');
  });

  it('clips long human-readable strings rather than writing what a reader would refuse', () => {
    const long = 'é'.repeat(5000);
    const s = decodeStoreResponse(encodeStoreResponse({ type: 'unit', result: { ok: false, error: { kind: 'Timeout', what: long } } }));
    expect(s.type === 'unit' && !s.result.ok && s.result.error.kind === 'Timeout' && s.result.error.what.length).toBeGreaterThan(100);
  });
});

/** A store stand-in: answers by request type, or throws what it is told to. */
function fakeStore(mode: 'ok' | 'closed' | 'bug'): ServedStore {
  const ok = <T>(value: T) => ({ ok: true as const, value });
  const answers: Partial<Record<StoreRequest['type'], unknown>> = {
    write: ok(undefined),
    get: ok(new Uint8Array([1])),
    scan: ok([{ key: new Uint8Array([1]), value: new Uint8Array([2]) }]),
    changePeers: ok(undefined),
    split: ok(undefined),
    transferLeader: ok(undefined),
    campaign: ok(undefined),
    status: ok({ storeId: 1, counters: { rounds: 0, writes: 0, snapshotsGenerated: 0, snapshotsInstalled: 0, logCompactions: 0 }, regions: [] }),
  };
  return {
    handle: async (q: StoreRequest) => {
      if (mode === 'closed') throw new StoreClosedError('closed');
      if (mode === 'bug') throw new TypeError('a bug');
      if (!(q.type in answers)) throw new TypeError(`no answer for ${q.type}`);
      return answers[q.type];
    },
  } as unknown as ServedStore;
}

describe('handleStoreRequest', () => {
  it('answers any bytes with a decodable response and never rejects', async () => {
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(request, fc.array(mutation, { maxLength: 3 })).map(([q, ms]) => ms.reduce((b, m) => m(b), encodeStoreRequest(q))),
    );
    await fc.assert(
      fc.asyncProperty(anyBytes, fc.constantFrom('ok' as const, 'closed' as const, 'bug' as const), async (bytes, mode) => {
        const r = decodeStoreResponse(await handleStoreRequest(fakeStore(mode), bytes));
        expect(['unit', 'value', 'pairs', 'ack', 'status', 'failure']).toContain(r.type);
      }),
      { numRuns: 1000 },
    );
  });

  it('names the failure: BadRequest, StoreClosed, Internal', async () => {
    const q = encodeStoreRequest({ type: 'get', regionId: 1, epoch: { confVer: 1, version: 1 }, key: new Uint8Array([1]), consistency: 'stale' });
    const kindOf = async (store: ServedStore, bytes: Uint8Array) => {
      const r = decodeStoreResponse(await handleStoreRequest(store, bytes));
      return r.type === 'failure' ? r.failure.kind : r.type;
    };
    expect(await kindOf(fakeStore('ok'), new Uint8Array([42]))).toBe('BadRequest');
    expect(await kindOf(fakeStore('ok'), q)).toBe('value');
    expect(await kindOf(fakeStore('closed'), q)).toBe('StoreClosed');
    expect(await kindOf(fakeStore('bug'), q)).toBe('Internal');
  });
});

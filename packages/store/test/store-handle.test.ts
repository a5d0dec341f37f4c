/**
 * `Store.handle`: one request vocabulary. Bad input (an unknown type, a field of the wrong
 * type, not an object at all) is refused with a typed `StoreRequestError`, never a crash, and
 * over RPC with a `BadRequest` answer; a read of several engine reads (a scan over more than
 * a page) runs on one engine snapshot that is always released, and an engine out of
 * snapshots answers such a read `ServerIsBusy`.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine, StorageError, type KvEngine, type KvSnapshot } from '@peerkv/storage';
import {
  LocalRouter,
  READ_ONE_PAGE_PAIRS_MAX,
  STORE_CFS,
  STORE_REQUEST_CODECS,
  Store,
  StoreRequestError,
  checkStoreRequest,
  decodeStoreResponse,
  encodeStoreRequest,
  handleStoreRequest,
  type StoreRequest,
} from '../src/index.ts';

const t = (s: string): Uint8Array => new TextEncoder().encode(s);
const REGION: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: 12, storeId: 1, role: 'voter' }] };

/** A memory engine that counts snapshots taken and released, and may act right after taking one. */
class CountingEngine {
  taken = 0;
  released = 0;
  afterSnapshot: (() => Promise<void>) | undefined;
  static async open(snapshotsOpenMax?: number): Promise<KvEngine & CountingEngine> {
    const inner = await MemoryEngine.open({ columnFamilies: STORE_CFS, snapshotsOpenMax });
    const counts = new CountingEngine();
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'taken' || prop === 'released' || prop === 'afterSnapshot') return counts[prop];
        if (prop !== 'snapshot') {
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        }
        return async (): Promise<KvSnapshot> => {
          const s = await target.snapshot();
          counts.taken++;
          await counts.afterSnapshot?.();
          const release = async (): Promise<void> => {
            counts.released++;
            await s.release();
          };
          return { columnFamilies: s.columnFamilies, get: s.get.bind(s), scan: s.scan.bind(s), approximateSize: s.approximateSize.bind(s), release, close: release };
        };
      },
      set(_target, prop, value) {
        if (prop !== 'afterSnapshot') return false;
        counts.afterSnapshot = value as CountingEngine['afterSnapshot'];
        return true;
      },
    }) as unknown as KvEngine & CountingEngine;
  }
}

let store: Store | undefined;

afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function oneStore(engine: KvEngine): Promise<Store> {
  const router = new LocalRouter();
  const s = await Store.open({ dataModel: 'raw', storeId: 1, clusterId: 'handle', engine, transport: router.transportFor(1), tickIntervalMs: 5 });
  router.register(s);
  await s.createRegion(REGION);
  s.campaign(REGION.id);
  for (let i = 0; i < 200 && !s.status().regions.some((r) => r.regionId === REGION.id && r.role === 'leader'); i++) await new Promise((r) => setTimeout(r, 5));
  store = s;
  return s;
}

/** How `handle` ended: the answer's ok, or the error's class and kind. */
async function outcome(s: Store, q: unknown): Promise<string> {
  try {
    const r = await s.handle(q as StoreRequest);
    return `ok:${r.ok}`;
  } catch (e) {
    return e instanceof StoreRequestError ? `${e.name}:${e.kind}` : `other:${String(e)}`;
  }
}

describe('Store.handle refuses bad input with a typed error', () => {
  it('names an unknown type and each bad field', async () => {
    const s = await oneStore(await MemoryEngine.open({ columnFamilies: STORE_CFS }));
    const epoch = REGION.epoch;
    expect(await outcome(s, { type: 'nuke', regionId: 2 })).toBe('StoreRequestError:UnknownType');
    expect(await outcome(s, { type: 'constructor' })).toBe('StoreRequestError:UnknownType');
    expect(await outcome(s, { type: 'toString' })).toBe('StoreRequestError:UnknownType');
    expect(await outcome(s, null)).toBe('StoreRequestError:UnknownType');
    expect(await outcome(s, 'get')).toBe('StoreRequestError:UnknownType');
    expect(await outcome(s, { type: 'get', regionId: '2', epoch, key: t('k'), consistency: 'stale' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'get', regionId: 2, epoch, key: 'k', consistency: 'stale' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'get', regionId: 2, epoch, key: t('k'), consistency: 'sometimes' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'get', regionId: 2, epoch: { confVer: 1 }, key: t('k'), consistency: 'stale' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'get', regionId: 2, epoch, key: t('k'), consistency: 'stale', timeoutMs: 'soon' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: t('k') }] })).toBe('StoreRequestError:BadField');
    // Every op names its column family, and only one this store declares (another would stop every replica's apply).
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', key: t('k'), value: t('v') }] })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: '', key: t('k'), value: t('v') }] })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'lock', key: t('k'), value: t('v') }] })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: -1, ops: [] })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: 'put' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'scan', regionId: 2, epoch, range: { start: t('a'), limit: '9' }, consistency: 'stale' })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'changePeers', regionId: 2, changes: [{ type: 'addNode', peer: { id: 5, storeId: 2, role: 'boss' } }] })).toBe('StoreRequestError:BadField');
    expect(await outcome(s, { type: 'split', regionId: 2, epoch, splitKey: t('m'), newRegionId: 3, newPeerIds: [1.5] })).toBe('StoreRequestError:BadField');
    // The same requests well formed run.
    expect(await outcome(s, { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: t('k'), value: t('v') }] })).toBe('ok:true');
    expect(await outcome(s, { type: 'get', regionId: 2, epoch, key: t('k'), consistency: 'linearizable' })).toBe('ok:true');
    // The positional wrappers go through the same check.
    await expect(s.get(2, epoch, 'k' as unknown as Uint8Array)).rejects.toBeInstanceOf(StoreRequestError);
  });

  it('never throws anything but StoreRequestError for any value, and passes every well-formed request', async () => {
    const s = await oneStore(await MemoryEngine.open({ columnFamilies: STORE_CFS }));
    const types = Object.keys(STORE_REQUEST_CODECS);
    const junk = fc.oneof(fc.anything(), fc.record({ type: fc.constantFrom(...types) }), fc.dictionary(fc.string(), fc.anything()).map((d) => ({ ...d, type: fc.sample(fc.constantFrom(...types), 1)[0] })));
    fc.assert(
      fc.property(junk, (q) => {
        try {
          checkStoreRequest(q);
        } catch (e) {
          if (!(e instanceof StoreRequestError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
    // Answers of junk that happens to be well formed are region results, not crashes.
    for (const q of fc.sample(junk, 200)) expect(await outcome(s, q)).toMatch(/^(ok:(true|false)|StoreRequestError:(UnknownType|BadField))$/);
  });

  it('answers a request it refuses over RPC with BadRequest', async () => {
    const s = await oneStore(await MemoryEngine.open({ columnFamilies: STORE_CFS }));
    // A well-formed request whose field is refused only by the store (a stand-in that checks).
    const bytes = encodeStoreRequest({ type: 'get', regionId: 2, epoch: REGION.epoch, key: t('k'), consistency: 'stale' });
    const refusing = { handle: async () => Promise.reject(new StoreRequestError('BadField', 'get.key: refused')) };
    const r = decodeStoreResponse(await handleStoreRequest(refusing, bytes));
    expect(r.type === 'failure' && r.failure.kind).toBe('BadRequest');
    const served = decodeStoreResponse(await handleStoreRequest(s, bytes));
    expect(served.type).toBe('value');
  });
});

/** Writes `n` keys k000.. with `value`, 100 per write. */
async function fill(s: Store, n: number, value: string, seq: { n: number }): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const ops = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ type: 'put' as const, cf: 'default', key: t(`k${String(i + j).padStart(3, '0')}`), value: t(value) }));
    expect((await s.write(2, REGION.epoch, 'c', ++seq.n, ops)).ok).toBe(true);
  }
}

describe('reads on an engine snapshot', () => {
  it('a scan over several pages takes one snapshot and releases it; a get or a one-page scan reads the engine', async () => {
    const engine = await CountingEngine.open(2);
    const s = await oneStore(engine);
    const epoch = REGION.epoch;
    await fill(s, 600, 'a', { n: 0 });
    for (let i = 0; i < 10; i++) {
      expect(await s.get(2, epoch, t(`k${String(i).padStart(3, '0')}`), i % 2 ? 'linearizable' : 'stale')).toEqual({ ok: true, value: t('a') });
      const page = await s.scan(2, epoch, { start: t('k'), limit: READ_ONE_PAGE_PAIRS_MAX, reverse: i % 2 === 0 }, 'follower');
      expect(page.ok && page.value.length).toBe(READ_ONE_PAGE_PAIRS_MAX);
    }
    expect(engine.taken).toBe(0);
    for (let i = 0; i < 10; i++) {
      const all = await s.scan(2, epoch, { start: t('k'), limit: Infinity, reverse: i % 2 === 0 }, i % 2 ? 'linearizable' : 'stale');
      expect(all.ok && all.value.length).toBe(600);
    }
    // Refused before the read (a bad epoch): no snapshot taken.
    expect((await s.scan(2, { confVer: 1, version: 9 }, { start: t('k'), limit: 1000 })).ok).toBe(false);
    expect(engine.taken).toBe(10);
    expect(engine.released).toBe(10);
  });

  it('a scan over several pages sees one state: not a write that applies after its snapshot', async () => {
    const engine = await CountingEngine.open();
    const s = await oneStore(engine);
    const seq = { n: 0 };
    await fill(s, 600, 'a', seq);
    // Between the snapshot and the first page, every key changes (one write per 100 keys).
    engine.afterSnapshot = async () => {
      engine.afterSnapshot = undefined;
      await fill(s, 600, 'b', seq);
    };
    const r = await s.scan(2, REGION.epoch, { start: t('k'), limit: 1000 });
    expect(r.ok && new Set(r.value.map((p) => new TextDecoder().decode(p.value)))).toEqual(new Set(['a']));
    expect(r.ok && r.value.length).toBe(600);
    expect(await s.get(2, REGION.epoch, t('k599'))).toEqual({ ok: true, value: t('b') });
  });

  it('answers ServerIsBusy while the engine has no snapshot slot, and reads again once one is free', async () => {
    const engine = await CountingEngine.open(1);
    const s = await oneStore(engine);
    await fill(s, 300, 'v', { n: 0 });
    const held = await engine.snapshot();
    await expect(engine.snapshot()).rejects.toBeInstanceOf(StorageError);
    const busy = await s.scan(2, REGION.epoch, { start: t('k'), limit: 1000 });
    expect(!busy.ok && busy.error.kind).toBe('ServerIsBusy');
    const busyStale = await s.scan(2, REGION.epoch, { start: t('k'), limit: Infinity }, 'stale');
    expect(!busyStale.ok && busyStale.error.kind).toBe('ServerIsBusy');
    // One engine read needs no slot.
    expect(await s.get(2, REGION.epoch, t('k001'))).toEqual({ ok: true, value: t('v') });
    await held.release();
    const again = await s.scan(2, REGION.epoch, { start: t('k'), limit: 1000 });
    expect(again.ok && again.value.length).toBe(300);
  });
});

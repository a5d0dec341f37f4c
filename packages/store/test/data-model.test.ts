/**
 * The store's data model (data-model.ts): an mvcc store's column families hold only encoded
 * keys, and every walk over a region's data maps the region's user-key bounds through
 * `storedKeyRange`. Committed versions, locks and long values at edge keys ("b", "b\x00",
 * "b\xff", 8- and 9-byte keys, keys sharing a prefix with a split key) land in the right half
 * of each split, travel whole in a new replica's snapshot and leave with its destroy; a
 * size-based split key is a user key above the region's start; the model is recorded in the
 * engine and never mixed; raw requests are refused by an mvcc store, txn requests by a raw one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, RegionEpoch } from '@peerkv/pd';
import { regionContainsKey } from '@peerkv/pd';
import { MemoryEngine, WriteBatch, type KvEngine } from '@peerkv/storage';
import { composeTs, decodeKeyPrefix, deleteLock, type Mutation } from '@peerkv/txn';
import {
  COMMAND_HANDLERS,
  DATA_MODEL_DEFAULT,
  DataModelMismatchError,
  LocalRouter,
  Store,
  StoreConfigError,
  StoreRequestError,
  dataColumnFamiliesOf,
  decodeStoreResponse,
  encodeStoreRequest,
  handleStoreRequest,
  storeColumnFamilies,
  type Result,
  type StoreRequest,
  type WriteCommand,
} from '../src/index.ts';
import { StubPd, leaderOf as leaderOfStores, until } from './helpers.ts';

const MVCC_CFS = ['default', 'lock', 'write'];
/** Bytes of a string of char codes < 256 ("b\xff" is two bytes, 62 ff). */
const key = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const show = (b: Uint8Array): string => String.fromCharCode(...b);
const ts = (ms: number): bigint => composeTs(ms, 0);
const LONG = 300;

/** Fast ticks, frequent heartbeats (the PD-driven split), no hibernation. */
const FAST_TIMERS = { tickIntervalMs: 10, hibernateAfterTicks: 1_000_000, heartbeatIntervalTicks: 5, requestTimeoutMs: 3000 } as const;

interface Node {
  store: Store;
  engine: KvEngine;
}

const router = new LocalRouter();
const nodes = new Map<number, Node>();
/** Answers a region's next heartbeat with a `splitRegion` step (no key: the store picks it) when the test asks. */
let pd = new StubPd();

async function start(storeId: number, dataModel: 'raw' | 'mvcc' = 'mvcc', engine?: KvEngine): Promise<Node> {
  const e = engine ?? (await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) }));
  const store = await Store.open({
    storeId,
    clusterId: 'model',
    engine: e,
    dataColumnFamilies: MVCC_CFS,
    dataModel,
    transport: router.transportFor(storeId),
    ...FAST_TIMERS,
    pdClient: pd,
  });
  router.register(store);
  const node = { store, engine: e };
  nodes.set(storeId, node);
  return node;
}

async function cluster(dataModel: 'raw' | 'mvcc' = 'mvcc'): Promise<void> {
  for (const id of [1, 2, 3]) await start(id, dataModel);
  const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 10 + s, storeId: s, role: 'voter' as const })) };
  for (const n of nodes.values()) await n.store.createRegion(region);
  nodes.get(1)!.store.campaign(2);
  await leaderOf(2);
}

function leaderOf(regionId: number): Promise<Store> {
  return leaderOfStores(() => [...nodes.values()].map((n) => n.store), regionId);
}

/** Region `regionId` as its leader knows it. */
async function regionOf(regionId: number): Promise<Region & { epoch: RegionEpoch }> {
  const r = (await leaderOf(regionId)).status().regions.find((x) => x.regionId === regionId)!;
  return { id: r.regionId, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch, peers: r.peers };
}

async function send(regionId: number, q: Record<string, unknown> & { type: string }, to?: Store): Promise<Result<{ ok: boolean; value?: unknown; errors?: unknown[] }>> {
  const region = await regionOf(regionId);
  const target = to ?? (await leaderOf(regionId));
  return (await target.handle({ ...q, regionId, epoch: region.epoch } as unknown as StoreRequest)) as Result<{ ok: boolean; value?: unknown; errors?: unknown[] }>;
}

function expectTxnOk(r: Result<{ ok: boolean; errors?: unknown[] }>, what: string): void {
  expect(r.ok && r.value.ok, `${what}: ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`).toBe(true);
}

/** Prewrites and commits `mutations` in region `regionId` at (startMs, startMs + 1). */
async function commitTxn(regionId: number, startMs: number, mutations: Mutation[]): Promise<void> {
  const startTs = ts(startMs);
  expectTxnOk(await send(regionId, { type: 'txnPrewrite', mutations, primary: mutations[0].key, startTs, lockTtlMs: 60_000, txnSize: mutations.length, mode: { kind: 'twoPc' } }), 'prewrite');
  expectTxnOk(await send(regionId, { type: 'txnCommit', keys: mutations.map((m) => m.key), startTs, commitTs: ts(startMs + 1) }), 'commit');
}

/** Every stored record of `engine`'s data column families as `cf:hex(key)`, with its user key. */
async function records(engine: KvEngine): Promise<{ id: string; userKey: Uint8Array }[]> {
  const out: { id: string; userKey: Uint8Array }[] = [];
  for (const cf of MVCC_CFS) {
    for await (const kv of engine.scan(cf)) out.push({ id: `${cf}:${Buffer.from(kv.key).toString('hex')}`, userKey: decodeKeyPrefix(kv.key).key });
  }
  return out;
}

afterEach(async () => {
  for (const [id, n] of nodes) {
    router.unregister(id);
    await n.store.close();
  }
  nodes.clear();
  pd = new StubPd();
});

// Keys at the edges of the split keys below: equal to them, one byte shorter or longer, sharing
// an 8-byte group with them, and around the 0x00 and 0xff bytes.
const KEYS = ['a', 'abcdefg', 'abcdefgh', 'abcdefgh\x00', 'abcdefghW', 'abcdefghX', 'abcdefghX\x00', 'abcdefghXY', 'abcdefgi', 'b', 'b\x00', 'b\x00\x00', 'b\x01', 'b\xfe\xff', 'b\xff', 'b\xff\x00', 'b\xff\xff', 'c'];
const SPLITS = ['b\x00', 'abcdefghX', 'b\xff'];
const value = (k: string, v: number, long: boolean): Uint8Array => key(`${k}#${v}`.padEnd(long ? LONG : 0, '.'));
/** Keys with a lock left in place (a long value: a `default` record too). */
const locked = (i: number): boolean => i % 3 === 0;

describe('mvcc data model', () => {
  it('keeps every version, lock and long value in the right half of splits at edge keys, in snapshots and destroys', async () => {
    await cluster();
    // Two committed versions of every key (every other one long, in `default`), and a lock on every third.
    await commitTxn(2, 10, KEYS.map((k) => ({ op: 'put', key: key(k), value: value(k, 1, false) })));
    await commitTxn(2, 20, KEYS.map((k, i) => ({ op: 'put', key: key(k), value: value(k, 2, i % 2 === 0) })));
    const lockMutations: Mutation[] = KEYS.filter((_, i) => locked(i)).map((k) => ({ op: 'put', key: key(k), value: value(k, 3, true) }));
    expectTxnOk(await send(2, { type: 'txnPrewrite', mutations: lockMutations, primary: lockMutations[0].key, startTs: ts(30), lockTtlMs: 60_000, txnSize: lockMutations.length, mode: { kind: 'twoPc' } }), 'prewrite locks');
    // Per key: 2 write records; default: a long v2 and a locked long v3; lock: one if locked.
    const perKey = (i: number): number => 2 + (i % 2 === 0 ? 1 : 0) + (locked(i) ? 2 : 0);
    const total = KEYS.reduce((n, _, i) => n + perKey(i), 0);
    for (const n of nodes.values()) await until('every replica applied the data', async () => (await records(n.engine)).length === total);

    // Split at each edge key (region 2 keeps the left half).
    let nextRegion = 3;
    for (const s of SPLITS) {
      const at = key(s);
      const parent = [...nodes.get(1)!.store.status().regions].find((r) => r.regionId !== 1 && regionContainsKey(r, at))!;
      const region = await regionOf(parent.regionId);
      const id = nextRegion++;
      const r = await (await leaderOf(region.id)).split(region.id, region.epoch, at, id, [10 * id + 1, 10 * id + 2, 10 * id + 3]);
      expect(r.ok, `split at ${JSON.stringify(s)}`).toBe(true);
      await until(`region ${id} on every store`, () => [...nodes.values()].every((n) => n.store.regionIds().includes(id)));
    }
    const regions = await Promise.all([2, 3, 4, 5].map((id) => regionOf(id)));
    expect(regions.map((r) => [show(r.startKey), show(r.endKey)])).toEqual([
      ['', 'abcdefghX'],
      ['b\x00', 'b\xff'],
      ['abcdefghX', 'b\x00'],
      ['b\xff', ''],
    ]);
    const home = (k: Uint8Array): Region => regions.find((r) => regionContainsKey(r, k))!;

    // Reads: each key answers in its half only, with its newest version below the lock.
    for (const r of regions) {
      const leader = await leaderOf(r.id);
      for (const [i, k] of KEYS.entries()) {
        const got = await send(r.id, { type: 'txnGet', key: key(k), ts: ts(25) }, leader);
        if (home(key(k)).id === r.id) {
          expectTxnOk(got, `get ${JSON.stringify(k)} in region ${r.id}`);
          const v = got.ok ? (got.value.value as { value?: Uint8Array }).value : undefined;
          expect(v && show(v)).toBe(show(value(k, 2, i % 2 === 0)));
        } else {
          expect(got.ok ? 'ok' : got.error.kind, `get ${JSON.stringify(k)} in region ${r.id}`).toBe('KeyNotInRegion');
        }
      }
    }

    // The stores' own walks (digests) count exactly the records whose user key is in each half.
    const expected = new Map(regions.map((r) => [r.id, KEYS.reduce((n, k, i) => n + (home(key(k)).id === r.id ? perKey(i) : 0), 0)]));
    for (const n of nodes.values()) {
      await until('digests of every half', async () => (await n.store.regionDigests()).length === 4);
      for (const d of await n.store.regionDigests()) expect(d.keys, `store ${n.store.storeId} region ${d.regionId}`).toBe(expected.get(d.regionId));
    }

    // Snapshot: a fourth store gets replicas of the leftmost half and of [b\x00, b\xff): exactly their records.
    const fourth = await start(4);
    const joined = [regions[0], regions[1]];
    for (const r of joined) {
      const add = await (await leaderOf(r.id)).changePeers(r.id, [{ type: 'addLearnerNode', peer: { id: 400 + r.id, storeId: 4, role: 'learner' } }]);
      expect(add.ok).toBe(true);
    }
    const want = (await records(nodes.get(1)!.engine)).filter((x) => joined.some((r) => regionContainsKey(r, x.userKey))).map((x) => x.id).sort();
    expect(want.length).toBe(expected.get(2)! + expected.get(3)!);
    await until('the new replicas hold every record of their halves', async () => (await records(fourth.engine)).map((x) => x.id).sort().join() === want.join());
    expect(fourth.store.status().counters.snapshotsInstalled).toBeGreaterThanOrEqual(2);

    // Destroy: removing both replicas leaves no record behind.
    for (const r of joined) {
      const remove = await (await leaderOf(r.id)).changePeers(r.id, [{ type: 'removeNode', peer: { id: 400 + r.id, storeId: 4, role: 'learner' } }]);
      expect(remove.ok).toBe(true);
    }
    await until('the removed replicas left no record', async () => (await records(fourth.engine)).length === 0);
  });

  it('chooses a size-based split key that is a user key above the region start, however many versions the start key has', async () => {
    await cluster();
    for (let v = 0; v < 12; v++) await commitTxn(2, 10 + 2 * v, [{ op: 'put', key: key('m'), value: key(`m${v}`) }]);
    await commitTxn(2, 100, [
      { op: 'put', key: key('n'), value: key('n') },
      { op: 'put', key: key('o'), value: key('o') },
    ]);
    const region = await regionOf(2);
    expect((await (await leaderOf(2)).split(2, region.epoch, key('m'), 3, [31, 32, 33])).ok).toBe(true);
    await until('region 3 on every store', () => [...nodes.values()].every((n) => n.store.regionIds().includes(3)));
    // 14 write records in [m, ∞), 12 of them versions of "m": the median record is a version of the start key.
    pd.stepsOnce.set(3, { kind: 'splitRegion' });
    await until('PD split region 3', () => nodes.get(1)!.store.regionIds().length === 3);
    const right = nodes.get(1)!.store.status().regions.find((r) => ![1, 2, 3].includes(r.regionId))!;
    expect(show(right.startKey)).toBe('n');
    expect(show((await regionOf(3)).endKey)).toBe('n');
  });

  it('refuses raw write, get and scan (WrongDataModel, BadRequest over RPC); a raw store refuses txn requests', async () => {
    await cluster();
    const leader = await leaderOf(2);
    const epoch = (await regionOf(2)).epoch;
    const raw: StoreRequest[] = [
      { type: 'write', regionId: 2, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: key('a'), value: key('A') }] },
      { type: 'get', regionId: 2, epoch, key: key('a'), consistency: 'linearizable' },
      { type: 'scan', regionId: 2, epoch, range: { start: key('a'), limit: 10 }, consistency: 'linearizable' },
    ];
    for (const q of raw) {
      const e = await leader.handle(q).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, q.type).toBeInstanceOf(StoreRequestError);
      expect((e as StoreRequestError).kind).toBe('WrongDataModel');
      expect((e as Error).message).toMatch(/'mvcc' data/);
      const wired = decodeStoreResponse(await handleStoreRequest(leader, encodeStoreRequest(q)));
      expect(wired).toMatchObject({ type: 'failure', failure: { kind: 'BadRequest' } });
    }
    for (const n of [...nodes.values()]) {
      router.unregister(n.store.storeId);
      await n.store.close();
    }
    nodes.clear();

    // A raw store declaring every txn column family still refuses txn requests.
    await cluster('raw');
    const r = await send(2, { type: 'txnGet', key: key('a'), ts: ts(10) });
    expect(r.ok && r.value).toEqual({ ok: false, errors: [{ kind: 'TxnUnsupported', missingColumnFamilies: [] }] });
  });
});

describe('the data model record', () => {
  const open = (engine: KvEngine, dataModel: 'raw' | 'mvcc', dataColumnFamilies = MVCC_CFS): Promise<Store> =>
    Store.open({ storeId: 7, clusterId: 'model', engine, dataColumnFamilies, dataModel, transport: router.transportFor(7), tickIntervalMs: 10 });

  it('is written at first open; reopening with the other model fails naming both', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    await (await open(engine, 'mvcc')).close();
    await expect(open(engine, 'raw')).rejects.toThrow(StoreConfigError);
    await expect(open(engine, 'raw')).rejects.toThrow(/records data model 'mvcc' v1, but the store opens it as 'raw' v1/);
    await (await open(engine, 'mvcc')).close();

    const rawEngine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    await (await open(rawEngine, 'raw')).close();
    await expect(open(rawEngine, 'mvcc')).rejects.toThrow(/records data model 'raw' v1, but the store opens it as 'mvcc' v1 \(raw keys have no MVCC versions/);
  });

  it('takes an engine written before data models were recorded as raw v1', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    await (await open(engine, 'raw')).close();
    await engine.write(new WriteBatch().delete('meta', key('m')), { durability: 'strict' });
    await expect(open(engine, 'mvcc')).rejects.toThrow(/no data model record.*'raw' v1, but the store opens it as 'mvcc' v1/);
    await (await open(engine, 'raw')).close();
    // Now recorded: still raw.
    await expect(open(engine, 'mvcc')).rejects.toThrow(/records data model 'raw' v1/);
  });

  it('refuses a store written under the old default (raw) when it is reopened naming no model (mvcc now)', async () => {
    expect(DATA_MODEL_DEFAULT).toBe('mvcc');
    // Written before this change: no model named meant raw, so the engine holds raw keys.
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    await (await open(engine, 'raw')).close();
    const unnamed = Store.open({ storeId: 7, clusterId: 'model', engine, transport: router.transportFor(7), tickIntervalMs: 10 });
    await expect(unnamed).rejects.toThrow(StoreConfigError);
    await expect(Store.open({ storeId: 7, clusterId: 'model', engine, transport: router.transportFor(7), tickIntervalMs: 10 })).rejects.toThrow(
      /records data model 'raw' v1, but the store opens it as 'mvcc' v1 \(raw keys have no MVCC versions: migrate the data into a new mvcc store, or open it as raw\)/,
    );
    // Nothing was mixed: the record still says raw, and naming raw opens it.
    await (await open(engine, 'raw')).close();
    // A store that never named a model records mvcc: reopening it as raw is refused the same way.
    const fresh = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    await (await Store.open({ storeId: 7, clusterId: 'model', engine: fresh, transport: router.transportFor(7), tickIntervalMs: 10 })).close();
    await expect(open(fresh, 'raw')).rejects.toThrow(/records data model 'mvcc' v1, but the store opens it as 'raw' v1/);
  });

  it('a store that names only its model gets that model\'s column families', async () => {
    expect(dataColumnFamiliesOf('mvcc')).toEqual(['default', 'lock', 'write']);
    expect(dataColumnFamiliesOf('raw')).toEqual(['default']);
    expect(dataColumnFamiliesOf('mvcc', ['default'])).toEqual(['default']);
    const openModel = (engine: KvEngine, dataModel: 'raw' | 'mvcc'): Promise<Store> => Store.open({ storeId: 7, clusterId: 'model', engine, dataModel, transport: router.transportFor(7), tickIntervalMs: 10 });
    const mvcc = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(MVCC_CFS) });
    const s = await openModel(mvcc, 'mvcc');
    expect((s as unknown as { ctx: { dataCfs: readonly string[] } }).ctx.dataCfs).toEqual(MVCC_CFS);
    await s.close();
    // An engine without the txn families is refused by name, not opened as raw.
    const rawEngine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(['default']) });
    await expect(openModel(rawEngine, 'mvcc')).rejects.toThrow(/the engine was opened without column families 'lock', 'write'/);
    await (await openModel(rawEngine, 'raw')).close();
  });

  it('needs the txn column families for mvcc, and a known model', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(['default']) });
    await expect(open(engine, 'mvcc', ['default'])).rejects.toThrow(/data model 'mvcc' needs the data column families 'default', 'lock', 'write'; missing 'lock', 'write'/);
    await expect(open(engine, 'other' as 'raw', ['default'])).rejects.toThrow(StoreConfigError);
  });
});

describe('apply of a command of the other model', () => {
  // Leaders refuse those requests before proposing, so one in the log is a broken invariant: the store stops.
  const region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [] };
  const context = (dataModel: 'raw' | 'mvcc'): Parameters<typeof COMMAND_HANDLERS.write>[1] =>
    ({ peer: { region, regionId: 2, mutations: {} }, kv: { put: () => undefined, delete: () => undefined }, dataCfs: MVCC_CFS, dataModel, applied: [] }) as unknown as Parameters<typeof COMMAND_HANDLERS.write>[1];

  it('a raw write in an mvcc store, a txn command in a raw one: DataModelMismatchError', () => {
    const write: WriteCommand = { type: 'write', clientId: 'c', seq: 1, ackFloor: 0, stampMs: 0, ops: [{ type: 'put', cf: 'default', key: key('a'), value: key('A') }] };
    expect(() => COMMAND_HANDLERS.write(write, context('mvcc'))).toThrow(DataModelMismatchError);
    expect(() => COMMAND_HANDLERS.txn({ type: 'txn', ops: [deleteLock(key('a'))] }, context('raw'))).toThrow(/committed 'txn' command writes mvcc keys, but this store's data model is 'raw'/);
    expect(COMMAND_HANDLERS.txn({ type: 'txn', ops: [deleteLock(key('a'))] }, context('mvcc')).ok).toBe(true);
  });
});

/**
 * The three-store harness the store's txn tests share (LocalRouter, one region on stores 1–3,
 * every request sent through the RPC codec both ways), and a PD fake whose TSO a test can move
 * or cut off.
 */
import { expect } from 'vitest';
import type { PdApplyResult, Region } from '@peerkv/pd';
import type { RegionMessage } from '@peerkv/transport';
import { MemoryEngine } from '@peerkv/storage';
import { composeTs, type Mutation } from '@peerkv/txn';
import {
  LocalRouter,
  STORE_REQUEST_CODECS,
  Store,
  decodeStoreRequest,
  decodeStoreResponse,
  encodeStoreRequest,
  encodeStoreResponse,
  storeColumnFamilies,
  type AppliedCommand,
  type PdClient,
  type RequestOf,
  type ResponseOf,
  type Result,
  type StoreOptions,
  type StoreRequest,
} from '../src/index.ts';
import { until } from './helpers.ts';

const enc = new TextEncoder();
export const dec = new TextDecoder();
export const k = (s: string): Uint8Array => enc.encode(s);
export const TXN_CFS = ['default', 'lock', 'write'];
export const ts = (ms: number, logical = 0): bigint => composeTs(ms, logical);

/** A PD that answers heartbeats with nothing, allocates ids, and hands out timestamps from `tsoNext` (none while `tsoDown`). */
export class QuietPd implements PdClient {
  private nextId = 1000;
  tsoNext = ts(1_000_000);
  tsoDown = false;
  tsoCalls = 0;
  storeHeartbeat(): Promise<Result<PdApplyResult>> {
    return Promise.resolve({ ok: true, value: { kind: 'none' } as unknown as PdApplyResult });
  }
  regionHeartbeat(): Promise<Result<{}>> {
    return Promise.resolve({ ok: true, value: {} });
  }
  allocId(): Promise<Result<number>> {
    return Promise.resolve({ ok: true, value: this.nextId++ });
  }
  getTimestamps(count: number): Promise<Result<{ first: bigint; count: number }>> {
    this.tsoCalls++;
    if (this.tsoDown) return Promise.resolve({ ok: false, error: { kind: 'Timeout', what: 'PD is cut off in this test' } });
    const first = this.tsoNext;
    this.tsoNext += BigInt(count);
    return Promise.resolve({ ok: true, value: { first, count } });
  }
  putStore(): Promise<Result<PdApplyResult>> {
    return Promise.resolve({ ok: true, value: { kind: 'none' } as unknown as PdApplyResult });
  }
}

/** Loses a send between stores when it answers true (`LocalRouterOptions.drop`); `closeAll` clears it. */
export const sends: { drop?: (from: number, to: number, messages: readonly RegionMessage[]) => boolean } = {};
export const router = new LocalRouter({ drop: (from, to, messages) => sends.drop?.(from, to, messages) ?? false });
export const stores = new Map<number, { store: Store; applied: AppliedCommand[] }>();
export const pd = new QuietPd();
export const REGION: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [1, 2, 3].map((s) => ({ id: 10 + s, storeId: s, role: 'voter' as const })) };

export async function start(storeId: number, dataCfs: string[] = TXN_CFS, extra: Partial<StoreOptions> = {}): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: storeColumnFamilies(dataCfs) });
  const applied: AppliedCommand[] = [];
  const store = await Store.open({
    storeId,
    clusterId: 'txn',
    engine,
    dataColumnFamilies: dataCfs,
    // Txn requests need an mvcc store (which needs every txn cf); a store without them is raw.
    dataModel: TXN_CFS.every((cf) => dataCfs.includes(cf)) ? 'mvcc' : 'raw',
    applyObservers: [{ onApplied: (c) => applied.push(c) }],
    transport: router.transportFor(storeId),
    tickIntervalMs: 10,
    hibernateAfterTicks: 1_000_000,
    heartbeatIntervalTicks: 5,
    requestTimeoutMs: 3000,
    pdClient: pd,
    // The resolved ts asks PD for timestamps and raises maxTs: off unless a test turns it on
    // (these tests count PD calls and pin commit timestamps).
    safeTsIntervalMs: 0,
    ...extra,
  });
  router.register(store);
  stores.set(storeId, { store, applied });
  return store;
}

/** Three stores holding `REGION`, store 1 campaigning first. */
export async function cluster(dataCfs: string[] = TXN_CFS, extra: Partial<StoreOptions> = {}): Promise<void> {
  for (const id of [1, 2, 3]) await start(id, dataCfs, extra);
  for (const { store } of stores.values()) await store.createRegion(REGION);
  stores.get(1)!.store.campaign(2);
  await leader();
}

/** Closes every store and resets the PD fake (call in `afterEach`). */
export async function closeAll(): Promise<void> {
  for (const [id, n] of stores) {
    router.unregister(id);
    await n.store.close();
  }
  stores.clear();
  delete sends.drop;
  router.heal();
  pd.tsoNext = ts(1_000_000);
  pd.tsoDown = false;
  pd.tsoCalls = 0;
}

export async function leader(): Promise<Store> {
  let found: Store | undefined;
  await until('a leader', () => {
    for (const { store } of stores.values()) if (store.status().regions.find((r) => r.regionId === 2 && r.role === 'leader')) found = store;
    return found !== undefined;
  });
  return found!;
}

/** Moves the region's leadership from `from` to another store and returns that store. */
export async function moveLeader(from: Store): Promise<Store> {
  const other = [...stores.values()].map((n) => n.store).find((s) => s !== from)!;
  const otherPeer = REGION.peers.find((p) => p.storeId === other.storeId)!.id;
  from.transferLeader(2, otherPeer);
  await until('leadership moved', () => other.status().regions.some((r) => r.regionId === 2 && r.role === 'leader'));
  return other;
}

/** Sends `q` (without region fields) to the leader, through the RPC codec both ways (so every txn type's wire round trip is exercised). */
export async function send<K extends RequestOf<StoreRequest['type']>['type']>(q: Omit<RequestOf<K>, 'regionId' | 'epoch'> & { type: K }, to?: Store): Promise<ResponseOf<K>> {
  const full = { ...q, regionId: 2, epoch: REGION.epoch } as unknown as StoreRequest;
  const wired = decodeStoreRequest(encodeStoreRequest(full));
  expect(wired).toEqual(full);
  const target = to ?? (await leader());
  const answer = await target.handle(wired);
  const codec = STORE_REQUEST_CODECS[full.type].answer as { toWire(v: unknown): Parameters<typeof encodeStoreResponse>[0]; fromWire(s: unknown): unknown };
  const back = codec.fromWire(decodeStoreResponse(encodeStoreResponse(codec.toWire(answer))));
  expect(back).toEqual(answer);
  return answer as ResponseOf<K>;
}

/** The txn answer's value, expecting region ok and txn ok. */
export function value<T>(r: Result<{ ok: true; value: T } | { ok: false; errors: unknown[] }>): T {
  if (!r.ok) throw new Error(`region error ${r.error.kind}`);
  if (!r.value.ok) throw new Error(`txn errors ${JSON.stringify(r.value.errors, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return r.value.value;
}

/** The txn errors' kinds, expecting region ok and txn refused. */
export function errorKinds(r: Result<{ ok: true } | { ok: false; errors: { kind: string }[] }>): string[] {
  if (!r.ok) throw new Error(`region error ${r.error.kind}`);
  if (r.value.ok) throw new Error('expected txn errors');
  return r.value.errors.map((e) => e.kind);
}

export const put = (key: string, v: string): Mutation => ({ op: 'put', key: k(key), value: k(v) });

export function prewrite(startTs: bigint, mutations: Mutation[], primary = mutations[0].key, extra: Partial<RequestOf<'txnPrewrite'>> = {}, to?: Store): Promise<ResponseOf<'txnPrewrite'>> {
  return send({ type: 'txnPrewrite', mutations, primary, startTs, lockTtlMs: 3000, txnSize: mutations.length, mode: { kind: 'twoPc' }, ...extra }, to);
}

export function commit(startTs: bigint, commitTs: bigint, keys: string[], to?: Store): Promise<ResponseOf<'txnCommit'>> {
  return send({ type: 'txnCommit', keys: keys.map(k), startTs, commitTs }, to);
}

export async function get(key: string, at: bigint, to?: Store): Promise<ResponseOf<'txnGet'>> {
  return send({ type: 'txnGet', key: k(key), ts: at }, to);
}

export async function getValue(key: string, at: bigint, to?: Store): Promise<string | undefined> {
  const v = value(await get(key, at, to)).value;
  return v === undefined ? undefined : dec.decode(v);
}

/**
 * A store's identity and loading: the engine records which store of which cluster owns it
 * (a wiped engine has none and must join as a new store), a persisted boot counter, and the
 * regions (with their dedup tables, tombstones and PD's persisted state) loaded at open, and the
 * data model the engine's data was written in (data-model.ts: checked at open, never mixed).
 * Also creates a region from scratch at cluster bootstrap.
 */
import type { Region } from '@peerkv/pd';
import { PdStateMachine } from '@peerkv/pd';
import { WriteBatch, type KvEngine, type RegionLog } from '@peerkv/storage';
import { decodeRegion } from './command.ts';
import { DATA_MODEL_KEY, DATA_MODEL_VERSIONS, type DataModel, type DataModelRecord } from './data-model.ts';
import type { StoreContext } from './context.ts';
import { DedupTable, decodeDedupRecord, type DedupEntry } from './dedup.ts';
import { META_CF, REGION_STATE_PREFIX_END, REGION_STATE_PREFIX_START, STORE_BOOT_KEY, STORE_IDENT_KEY, dataKeySwitchKey, dedupPrefix, pendingApplyKey, prefixEnd, regionStateKey, safeTsKey } from './keys.ts';
import { decodeSafeTs } from './apply.ts';
import { RAFT_INIT_INDEX, RAFT_INIT_TERM, StoreConfigError, type StoreIdentity } from './options.ts';
import { PD_REGION_ID, PD_STATE_KEY, PdHost, decodePdState } from './pd-host.ts';
import { REGION_STATE_CODE } from './peer.ts';
import { decodeTombstonePeer, stageInitialRegion } from './region-meta.ts';
import { loadedApplying, stageDropPendingApply } from './snapshot-stage.ts';

/** The identity recorded in an engine by the store that used it, if any. */
export async function readIdentity(engine: KvEngine): Promise<StoreIdentity | undefined> {
  const v = await engine.get(META_CF, STORE_IDENT_KEY);
  if (!v) return undefined;
  const o = JSON.parse(new TextDecoder().decode(v)) as StoreIdentity;
  return o;
}

function describe(r: DataModelRecord): string {
  return `'${r.model}' v${r.version}`;
}

/** The record in `engine`, if any (a record it cannot read is a `StoreConfigError`). */
export async function readDataModel(engine: KvEngine): Promise<DataModelRecord | undefined> {
  const v = await engine.get(META_CF, DATA_MODEL_KEY);
  if (!v) return undefined;
  let r: Partial<DataModelRecord>;
  try {
    r = JSON.parse(new TextDecoder().decode(v)) as Partial<DataModelRecord>;
  } catch {
    throw new StoreConfigError('the engine holds an unreadable data model record');
  }
  if ((r.model !== 'raw' && r.model !== 'mvcc') || !Number.isSafeInteger(r.version)) {
    throw new StoreConfigError(`the engine records an unknown data model ${JSON.stringify(r)}`);
  }
  return { model: r.model, version: r.version! };
}

/**
 * Checks the model recorded in `engine` against the one a store opens it with, and stages
 * the record into `batch` when the engine has none. `used`: the engine was written by a store
 * before (it has an identity); one without a record then predates data models: raw, v1.
 */
export async function checkDataModel(engine: KvEngine, model: DataModel, used: boolean, batch: WriteBatch): Promise<void> {
  const want: DataModelRecord = { model, version: DATA_MODEL_VERSIONS[model] };
  const recorded = await readDataModel(engine);
  const have = recorded ?? (used ? { model: 'raw' as const, version: 1 } : undefined);
  if (have && (have.model !== want.model || have.version !== want.version)) {
    const origin = recorded ? 'records' : 'has no data model record, so it holds data written before data models were recorded:';
    const hint =
      have.model === 'raw' && want.model === 'mvcc'
        ? ' (raw keys have no MVCC versions: migrate the data into a new mvcc store, or open it as raw)'
        : have.model === want.model
          ? ` (this build reads ${describe(want)} only)`
          : ` (open it with dataModel '${have.model}')`;
    throw new StoreConfigError(`the engine ${origin} data model ${describe(have)}, but the store opens it as ${describe(want)}${hint}`);
  }
  if (!recorded) batch.put(META_CF, DATA_MODEL_KEY, new TextEncoder().encode(JSON.stringify(want)));
}

/** Persists one more boot before any request is served (read contexts include it). */
export async function bumpBoot(ctx: StoreContext): Promise<void> {
  const v = await ctx.engine.get(META_CF, STORE_BOOT_KEY);
  const prev = v && v.length === 8 ? new DataView(v.buffer, v.byteOffset).getFloat64(0) : 0;
  ctx.boot = prev + 1;
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, ctx.boot);
  await ctx.engine.write(new WriteBatch().put(META_CF, STORE_BOOT_KEY, out), { durability: 'strict' });
}

/**
 * Regions whose records (Raft log, dedup records, resolved ts) `loadRegions` reads at once.
 * One region after another made a store's open one engine round trip per record and region
 * (51 regions on LevelDB: 70-180 ms of the open); LevelDB's thread pool and IndexedDB both
 * serve reads side by side. Bounded so a store of 10,000 regions does not hold every scan open.
 */
export const REGION_LOADS_INFLIGHT_MAX = 32;

/** A hosted region's state record, as `loadRegions` lists it before reading the rest. */
interface ListedRegion {
  region: Region;
  peerId: number;
  /** The region state's first byte (`REGION_STATE_CODE`). */
  code: number;
}

/** What `readRegion` read for one region: everything `addLoaded` needs, with no engine call left. */
interface ReadRegion extends ListedRegion {
  log: RegionLog;
  /** PD's group: its persisted state machine, if any. */
  pdState?: Uint8Array;
  dedup?: DedupTable;
  safeTs?: Uint8Array;
  pendingApply?: Uint8Array;
}

/** Loads every region this store hosts (marking those stopped in the middle of a snapshot apply), and the tombstones of those it destroyed. */
export async function loadRegions(ctx: StoreContext): Promise<void> {
  const removed: number[] = [];
  const listed: ListedRegion[] = [];
  for await (const { key, value } of ctx.engine.scan(META_CF, { start: REGION_STATE_PREFIX_START, end: REGION_STATE_PREFIX_END })) {
    const regionId = Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1));
    if (value[0] === REGION_STATE_CODE.tombstone) {
      ctx.tombstones.add(decodeTombstonePeer(value));
      continue;
    }
    const region = decodeRegion(value.subarray(1));
    const me = region.peers.find((p) => p.storeId === ctx.storeId);
    if (!me) {
      // It applied its own removal, and the destroy that follows (a separate write) was lost
      // in a crash: finish it now. Its Raft log and state must go, or a later replica of the
      // region made here inherits them and applies from the middle of the log with no region.
      removed.push(regionId);
      continue;
    }
    listed.push({ region, peerId: me.id, code: value[0] });
  }
  // Read side by side, added in the order listed (region id order, as before).
  for (const r of await mapInflight(listed, REGION_LOADS_INFLIGHT_MAX, (l) => readRegion(ctx, l))) addLoaded(ctx, r);
  for (const regionId of removed) await destroyRemovedAtOpen(ctx, regionId);
}

async function readRegion(ctx: StoreContext, l: ListedRegion): Promise<ReadRegion> {
  const regionId = l.region.id;
  const log = await ctx.logs.open(regionId);
  // PD's state lives in memory: resumed from its persisted snapshot (`addLoaded`).
  if (regionId === PD_REGION_ID && !ctx.witness) return { ...l, log, pdState: await ctx.engine.get(META_CF, PD_STATE_KEY) };
  const [dedup, safeTs, pendingApply] = await Promise.all([
    loadDedup(ctx, regionId),
    ctx.engine.get(META_CF, safeTsKey(regionId)),
    l.code === REGION_STATE_CODE.applying ? ctx.engine.get(META_CF, pendingApplyKey(regionId)) : undefined,
  ]);
  return { ...l, log, dedup, safeTs, pendingApply };
}

function addLoaded(ctx: StoreContext, r: ReadRegion): void {
  if (r.dedup === undefined) {
    // PD's group: resume from its persisted snapshot and replay after it.
    const { index, sm } = r.pdState ? decodePdState(r.pdState) : { index: RAFT_INIT_INDEX, sm: PdStateMachine.create() };
    const peer = ctx.addPeer(r.region, r.peerId, r.log, new DedupTable(), index);
    ctx.hostPd(peer, new PdHost(r.peerId, sm, index));
    peer.persistedEffectsThrough = r.log.applyState().appliedIndex;
    ctx.pdReplayTarget = r.log.hardState().commit;
    return;
  }
  const peer = ctx.addPeer(r.region, r.peerId, r.log, r.dedup, r.log.applyState().appliedIndex);
  peer.safeTs = decodeSafeTs(r.safeTs);
  // Stopped in the middle of applying a snapshot: resumed (`SnapshotWorker.resumeApplies`) before it serves anything.
  if (r.code === REGION_STATE_CODE.applying) peer.applying = loadedApplying(r.pendingApply);
}

/** `f` over `items`, at most `inflightMax` calls unsettled at a time; results in `items`' order. */
async function mapInflight<T, R>(items: readonly T[], inflightMax: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]);
  };
  await Promise.all(Array.from({ length: Math.min(inflightMax, items.length) }, lane));
  return out;
}

/**
 * Destroys, at open, the replica of `regionId` that applied its own removal before a crash cut
 * its destroy short: its Raft log and state, dedup records, resolved ts and pending apply go in
 * one write, and its region state with them (its peer id is not known any more, so no
 * tombstone: a leader never sends to a removed peer, and a stale message's replica is found
 * stale like any other). Its data is left to the snapshot that brings the range back, which
 * clears the range first.
 */
async function destroyRemovedAtOpen(ctx: StoreContext, regionId: number): Promise<void> {
  await ctx.logs.open(regionId);
  const batch = ctx.logs.batch();
  stageDropPendingApply(batch.kv, regionId, undefined);
  batch.stageDestroy(regionId);
  const prefix = dedupPrefix(regionId);
  batch.kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
  batch.kv.delete(META_CF, safeTsKey(regionId));
  batch.kv.delete(META_CF, dataKeySwitchKey(regionId));
  batch.kv.delete(META_CF, regionStateKey(regionId));
  await ctx.logs.write(batch, { durability: ctx.opts.durability });
  ctx.logs.unload(regionId);
}

async function loadDedup(ctx: StoreContext, regionId: number): Promise<DedupTable> {
  const entries: DedupEntry[] = [];
  const prefix = dedupPrefix(regionId);
  const dec = new TextDecoder();
  for await (const { key, value } of ctx.engine.scan(META_CF, { start: prefix, end: prefixEnd(prefix) })) {
    entries.push(decodeDedupRecord(dec.decode(key.subarray(prefix.length)), value));
  }
  return DedupTable.from(entries);
}

/**
 * Creates a region on this store from scratch (cluster bootstrap): its log starts at
 * `RAFT_INIT_INDEX` with the region's voters. Every store listed in `region.peers` calls
 * this with the same region.
 */
export async function createRegion(ctx: StoreContext, region: Region): Promise<void> {
  ctx.assertOpen();
  const me = region.peers.find((p) => p.storeId === ctx.storeId);
  if (!me) throw new Error(`store ${ctx.storeId} is not in region ${region.id}`);
  if (ctx.peers.has(region.id)) throw new Error(`region ${region.id} already exists on store ${ctx.storeId}`);
  const log = await ctx.logs.open(region.id);
  const batch = ctx.logs.batch();
  stageInitialRegion(batch, region, { term: RAFT_INIT_TERM, vote: 0 });
  await ctx.logs.write(batch, { durability: ctx.opts.durability });
  ctx.addPeer(region, me.id, log, new DedupTable(), RAFT_INIT_INDEX);
}

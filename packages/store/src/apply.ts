/**
 * Apply: turns a region's committed entries into engine writes (TiKV's `ApplyFsm`, scaled
 * down and single-threaded). A membership change is applied here; every other entry goes to
 * the region's state machine (`region-machine.ts`): a data region decodes the command and
 * dispatches on `COMMAND_HANDLERS`, one handler per command type, PD's region hands it to
 * PD's state machine. Observers see each applied command, its writes with their column
 * family, and its index, once the write holding it is durable (the change feed hooks in here).
 *
 * Deterministic: every replica does the same for the same log, so a handler depends only on
 * the entry and the replicated state (never on a clock, a local setting or leadership).
 */
import type { Peer, Region, RegionError } from '@peerkv/pd';
import { compareKeys, regionContainsKey } from '@peerkv/pd';
import { decodeConfChange, type ConfChangeV2, type Entry } from '@peerkv/raft';
import type { WriteBatch } from '@peerkv/storage';
import { decodeConfChangeContext, type Command, type DataKeyCommand, type KvOp, type SafeTsCommand, type SplitCommand, type WriteCommand } from './command.ts';
import { applyTxn } from './txn/apply-txn.ts';
import { stageDedupRecords } from './dedup.ts';
import { assertDataModel } from './data-model.ts';
import { META_CF, dataKeySwitchKey, regionStateKey, safeTsKey, type DataModel } from './keys.ts';
import { encodeRegionState, ok, rolesOf, type ApplyContext, type ApplyCounters, type ApplyEffects, type RegionPeer, type Result } from './peer.ts';

export type { ApplyContext, ApplyCounters, ApplyEffects, RegionStateMachine } from './peer.ts';

/** One applied command as its observers see it. */
export interface AppliedCommand {
  regionId: number;
  /** The Raft index and term of the entry that carried it. */
  index: number;
  term: number;
  type: Command['type'];
  /** The writes it made, each naming its column family (`cf` absent = `default`); empty for a split or a deduplicated retry. */
  ops: readonly KvOp[];
}

/**
 * Sees every command a data region applies on this store, in log order per region, after
 * the write holding it is durable. It must not throw (a throw is caught and counted) and
 * must not block: it runs inside the store's round.
 */
export interface ApplyObserver {
  onApplied(cmd: AppliedCommand): void;
}

/** Applies one decoded command; returns the answer its proposer gets. */
export type CommandHandler<C extends Command> = (cmd: C, a: ApplyContext) => Result<unknown>;

/** One handler per command type: adding a command is one entry here plus its codec. */
export type CommandHandlers = { [K in Command['type']]: CommandHandler<Extract<Command, { type: K }>> };

export const COMMAND_HANDLERS: CommandHandlers = { write: applyWrite, split: applySplit, txn: applyTxn, safeTs: applySafeTs, dataKey: applyDataKey };

/**
 * A data-key switch (`data-key-switch.ts`): from this entry on, the region's entries are sealed
 * under `cmd.keyId` or a later key. Only moves forward (a switch to an older id is a no-op, so
 * a late duplicate proposal changes nothing); staged with the apply state (`dataKeySwitchKey`),
 * so a restarted replica knows it. The store's keyring moves on with it (a replica that becomes
 * leader seals with it), and it already did when the entry was appended (`OpenedPayloads`).
 */
function applyDataKey(cmd: DataKeyCommand, a: ApplyContext): Result<unknown> {
  const peer = a.peer;
  if (cmd.keyId <= peer.dataKeyId) return ok();
  installDataKeySwitch(peer, a.kv, a.keyring, cmd.keyId, a.entry.index);
  return ok();
}

/**
 * Makes `peer`'s data-key switch the one to `keyId` at entry `index`: in memory, staged in `kv`
 * with the write that makes it true (a switch entry's apply, a snapshot's install), and on the
 * store's keyring. The caller checks that it moves forward.
 */
export function installDataKeySwitch(peer: RegionPeer, kv: WriteBatch, keyring: ApplyContext['keyring'], keyId: number, index: number): void {
  peer.dataKeyId = keyId;
  peer.dataKeySwitchIndex = index;
  kv.put(META_CF, dataKeySwitchKey(peer.regionId), encodeDataKeySwitch(keyId, index));
  keyring?.observe(keyId);
}

/** A persisted data-key switch: key id (u32 BE) and entry index (u64 BE). */
export function encodeDataKeySwitch(keyId: number, index: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, keyId);
  v.setBigUint64(4, BigInt(index));
  return out;
}

/** Reads what `encodeDataKeySwitch` wrote; none (key id 0 at index 0) for anything else. */
export function decodeDataKeySwitch(b: Uint8Array | undefined): { keyId: number; index: number } {
  if (b === undefined || b.length !== 12) return { keyId: 0, index: 0 };
  const v = new DataView(b.buffer, b.byteOffset, 12);
  return { keyId: v.getUint32(0), index: Number(v.getBigUint64(4)) };
}

/**
 * Counts an entry sealed under a key id older than its region's applied switch (the leader
 * sealed with a stale key: `ApplyCounters.staleKeyEntries`) and remembers its index, which keeps
 * that older key from retiring until the log is compacted past it.
 */
function checkSealedKeyId(a: ApplyContext): void {
  const peer = a.peer;
  if (a.sealedKeyId === undefined || a.sealedKeyId >= peer.dataKeyId) return;
  a.counters.staleKeyEntries++;
  peer.dataKeyOldThrough = Math.max(peer.dataKeyOldThrough, a.entry.index);
}

/**
 * A resolved ts: readable at or below it once the write holding every entry before it is
 * durable (the callback runs after that write), never lowered. It is staged in that write too
 * (`safeTsKey`), so a restarted replica serves at it at once: it stays true after a restart,
 * since no commit at or below it can come after the entry it was applied with, and the
 * replica's applied state never goes back before that entry.
 */
function applySafeTs(cmd: SafeTsCommand, a: ApplyContext): Result<unknown> {
  const peer = a.peer;
  if (cmd.ts > peer.safeTs) a.kv.put(META_CF, safeTsKey(peer.regionId), encodeSafeTs(cmd.ts));
  a.fx.callbacks.push(() => {
    if (cmd.ts > peer.safeTs) peer.safeTs = cmd.ts;
  });
  return ok();
}

/** A persisted resolved ts: 8 bytes, big-endian. */
export function encodeSafeTs(ts: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, ts);
  return out;
}

/** Reads what `encodeSafeTs` wrote; 0 for anything else (a replica then waits for the next advance). */
export function decodeSafeTs(b: Uint8Array | undefined): bigint {
  return b !== undefined && b.length === 8 ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0) : 0n;
}

/** Runs `cmd`'s handler from `handlers`. */
export function dispatchCommand(handlers: CommandHandlers, cmd: Command, a: ApplyContext): Result<unknown> {
  const handler = handlers[cmd.type] as CommandHandler<Command>;
  return handler(cmd, a);
}

/**
 * Applies `entries` of `peer` into `kv` and returns what must happen after the write.
 * Observers are called from the returned callbacks, so they see only durable writes.
 */
export function applyEntries(
  peer: RegionPeer,
  entries: readonly Entry[],
  env: {
    kv: WriteBatch;
    storeId: number;
    dataCfs: readonly string[];
    dataModel: DataModel;
    observers: readonly ApplyObserver[];
    counters: ApplyCounters;
    keyring?: ApplyContext['keyring'];
    /** The key id each of `entries` was sealed under (same order; undefined: plain), `OpenedPayloads.open`. */
    sealedKeyIds?: readonly (number | undefined)[];
  },
): ApplyEffects {
  const fx: ApplyEffects = { callbacks: [], splits: [], removed: false, confChanged: false, storesJoined: false, traced: [] };
  for (const [i, e] of entries.entries()) {
    let result: Result<unknown> = ok();
    const a: ApplyContext = { peer, entry: e, kv: env.kv, storeId: env.storeId, dataCfs: env.dataCfs, dataModel: env.dataModel, fx, applied: [], sealedKeyId: env.sealedKeyIds?.[i], keyring: env.keyring, counters: env.counters };
    checkSealedKeyId(a);
    if (e.type === 'confChange' && e.index <= peer.persistedEffectsThrough) {
      // Replayed after a restart (PD): the membership change is already in the persisted
      // conf state and region state; applying it again would double-count it.
      result = ok();
    } else if (e.type === 'confChange') {
      result = applyConfChange(a);
    } else if (e.data.length > 0) {
      result = peer.machine.applyCommand(e.data, a);
    }
    peer.applied = e.index;
    notifyObservers(a, env.observers, env.counters);
    resolveProposal(peer, e, result, fx);
  }
  return fx;
}

function notifyObservers(a: ApplyContext, observers: readonly ApplyObserver[], counters: ApplyCounters): void {
  if (observers.length === 0 || a.type === undefined) return;
  const cmd: AppliedCommand = { regionId: a.peer.regionId, index: a.entry.index, term: a.entry.term, type: a.type, ops: a.applied };
  a.fx.callbacks.push(() => {
    for (const o of observers) {
      try {
        o.onApplied(cmd);
      } catch {
        counters.observerErrors++;
      }
    }
  });
}

function resolveProposal(peer: RegionPeer, e: Entry, result: Result<unknown>, fx: ApplyEffects): void {
  while (peer.proposals.length > 0 && peer.proposals[0].index <= e.index) {
    const p = peer.proposals.shift()!;
    // Another entry took this index: the proposal was lost to a leader change.
    const mine = p.index === e.index && p.term === e.term;
    const r: Result<unknown> = mine ? result : { ok: false, error: peer.notLeader() };
    if (mine && p.trace) fx.traced.push(p.trace);
    fx.callbacks.push(() => p.resolve(r));
  }
}

function epochNotMatch(region: Region): Result<never> {
  return { ok: false, error: { kind: 'EpochNotMatch', currentRegions: [region] } };
}

/**
 * A committed command names a column family this store does not declare. Requests are
 * checked against the declaration before they are proposed, and every store of a cluster
 * declares the same list, so this is a broken invariant: the store stops (its round fails)
 * rather than apply differently from the other replicas.
 */
export class ColumnFamilyMismatchError extends Error {
  override readonly name = 'ColumnFamilyMismatchError';
}

/** Why `op` may not apply in `region` (its keys moved away in a split), or undefined when it may. */
function opProblem(op: KvOp, region: Region, dataCfs: readonly string[]): RegionError | undefined {
  const cf = op.cf;
  if (!dataCfs.includes(cf)) throw new ColumnFamilyMismatchError(`a committed write names column family '${cf}', which this store does not declare (${dataCfs.join(', ')})`);
  const key = op.type === 'deleteRange' ? op.start : op.key;
  if (!regionContainsKey(region, key)) return { kind: 'EpochNotMatch', currentRegions: [region] };
  if (op.type === 'deleteRange' && region.endKey.length > 0 && compareKeys(op.end, region.endKey) > 0) {
    return { kind: 'EpochNotMatch', currentRegions: [region] };
  }
  return undefined;
}

/**
 * Applies a client write at most once (dedup.ts). Every branch depends only on the entry
 * and the replicated state, so every replica decides alike.
 */
function applyWrite(cmd: WriteCommand, a: ApplyContext): Result<void> {
  const { peer, kv } = a;
  assertDataModel(a.dataModel, 'write');
  const dedup = peer.dedup;
  const expired = dedup.expireIdle(cmd.stampMs);
  if (expired.length > 0) stageDedupRecords(kv, peer.regionId, dedup, expired);
  // The floor first: a client at its record limit frees itself by acknowledging. A seq
  // equal to the floor is still the client's to judge (ackFloor ≤ seq, checked at propose).
  if (!peer.mutations.dedupOff && dedup.check(cmd.clientId, cmd.seq, cmd.stampMs).kind !== 'stale') {
    const acked = dedup.acknowledge(cmd.clientId, Math.min(cmd.ackFloor, cmd.seq));
    if (acked.length > 0) stageDedupRecords(kv, peer.regionId, dedup, acked);
  }
  const verdict = peer.mutations.dedupOff ? { kind: 'new' as const } : dedup.check(cmd.clientId, cmd.seq, cmd.stampMs);
  if (verdict.kind === 'stale') return { ok: false, error: { kind: 'StaleWrite', reason: verdict.reason } };
  if (verdict.kind === 'full') {
    return { ok: false, error: { kind: 'ServerIsBusy', reason: `client ${cmd.clientId} has too many unacknowledged writes in region ${peer.regionId}`, backoffMs: 100 } };
  }
  if (verdict.kind === 'applied') {
    stageDedupRecords(kv, peer.regionId, dedup, dedup.record(cmd.clientId, cmd.seq, cmd.ackFloor, cmd.stampMs, false));
    return ok();
  }
  // Keys must still be in the region: a split between proposal and apply moves them.
  for (const op of cmd.ops) {
    const problem = opProblem(op, peer.region, a.dataCfs);
    if (problem) return { ok: false, error: problem };
  }
  for (const op of cmd.ops) applyOp(kv, op);
  a.applied.push(...cmd.ops);
  stageDedupRecords(kv, peer.regionId, dedup, dedup.record(cmd.clientId, cmd.seq, cmd.ackFloor, cmd.stampMs));
  return ok();
}

function applyOp(kv: WriteBatch, op: KvOp): void {
  const cf = op.cf;
  if (op.type === 'put') kv.put(cf, op.key, op.value);
  else if (op.type === 'delete') kv.delete(cf, op.key);
  else kv.deleteRange(cf, op.start, op.end);
}

/**
 * Splits the region at `cmd.splitKey`: the left half keeps the region id, the right half
 * becomes a new region on the same stores. Data stays where it is in every column family
 * (regions partition the key space, not the engine), so nothing moves.
 */
function applySplit(cmd: SplitCommand, a: ApplyContext): Result<void> {
  const { peer } = a;
  const r = peer.region;
  const inside = regionContainsKey(r, cmd.splitKey) && compareKeys(cmd.splitKey, r.startKey) > 0;
  if (!inside || cmd.newPeerIds.length !== r.peers.length) return epochNotMatch(r);
  // No split in a joint configuration (TiKV refuses it too): the right half would start with
  // the transitional roles but a plain Raft configuration, a change it can never leave
  // (cluster seed 543). A split proposed before the change entered it is refused here.
  if (inJointConfig(r)) return { ok: false, error: { kind: 'ServerIsBusy', reason: `region ${r.id} is in a joint configuration: split after it is left`, backoffMs: 100 } };
  const version = r.epoch.version + 1;
  const right: Region = {
    id: cmd.newRegionId,
    startKey: cmd.splitKey,
    endKey: r.endKey,
    epoch: { confVer: r.epoch.confVer, version },
    peers: r.peers.map((p, i) => ({ id: cmd.newPeerIds[i], storeId: p.storeId, role: p.role, ...(p.witness ? { witness: true as const } : {}) })),
  };
  peer.region = { ...r, endKey: cmd.splitKey, epoch: { confVer: r.epoch.confVer, version } };
  a.kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
  a.fx.splits.push({ region: right, parentLeader: peer.isLeader(), dedup: peer.dedup.clone() });
  return ok();
}

/** Whether `region` is between two configurations (a peer entering or leaving the voters). */
export function inJointConfig(region: Region): boolean {
  return region.peers.some((p) => p.role === 'incomingVoter' || p.role === 'demotingVoter');
}

function applyConfChange(a: ApplyContext): Result<void> {
  const { peer } = a;
  const cc: ConfChangeV2 = decodeConfChange(a.entry.data);
  const ctxPeers = cc.context ? decodeConfChangeContext(cc.context).peers : [];
  const cs = peer.raw.applyConfChange(cc);
  const storeOfPeer = new Map<number, number>();
  // A peer is a witness or not for its whole life: the flag comes with the peer's addition.
  const witnesses = new Set<number>();
  for (const p of ctxPeers) {
    storeOfPeer.set(p.id, p.storeId);
    if (p.witness) witnesses.add(p.id);
  }
  for (const p of peer.region.peers) {
    storeOfPeer.set(p.id, p.storeId);
    if (p.witness) witnesses.add(p.id);
    else witnesses.delete(p.id);
  }
  const peers: Peer[] = [];
  for (const [id, role] of rolesOf(cs)) {
    const sid = storeOfPeer.get(id);
    if (sid !== undefined) peers.push(witnesses.has(id) ? { id, storeId: sid, role, witness: true } : { id, storeId: sid, role });
  }
  // One membership change bumps confVer once: leaving a joint config (an empty change)
  // completes the change that entered it (PD's operators expect one bump per step).
  const bump = cc.changes.length > 0 ? 1 : 0;
  peer.region = { ...peer.region, peers, epoch: { ...peer.region.epoch, confVer: peer.region.epoch.confVer + bump } };
  a.kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
  a.fx.confChanged = true;
  if (!peers.some((p) => p.id === peer.peerId && p.storeId === a.storeId)) a.fx.removed = true;
  return ok();
}

/**
 * One replica of one region on this store: its RawNode, its log, its region metadata, the
 * proposals and reads waiting on it, and the apply rules of its commands (TiKV `PeerFsm` +
 * `ApplyFsm`, single-threaded).
 */
import type { Peer, PeerRole, Region, RegionError } from '@peerkv/pd';
import { compareKeys, regionContainsKey } from '@peerkv/pd';
import {
  decodeConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type RawNode,
  type ReadState,
} from '@peerkv/raft';
import type { RegionLog } from '@peerkv/storage';
import { WriteBatch } from '@peerkv/storage';
import { decodeCommand, decodeConfChangeContext, encodeRegion, type KvOp, type SplitCommand, type WriteCommand } from './command.ts';
import { DedupTable, stageDedupRecords } from './dedup.ts';
import type { PdHost } from './pd-host.ts';
import type { StoreTestMutations } from './mutations.ts';
import { DATA_CF, META_CF, regionStateKey } from './keys.ts';

/** The outcome of a request, as a value. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: RegionError };

/** A proposal waiting for its entry to be applied. */
export interface PendingProposal {
  index: number;
  term: number;
  resolve: (r: Result<unknown>) => void;
}

/** A read waiting for its ReadIndex and then for apply to catch up. */
export interface PendingRead {
  ctx: string;
  index?: number;
  resolve: (r: Result<void>) => void;
}

/** What applying one entry asks the store to do once the write is durable. */
export interface ApplyEffects {
  /** Callbacks to run after the write. */
  callbacks: (() => void)[];
  /**
   * A split created this region (the store creates its peer), with the parent's completion
   * records as of the split entry: they move with the data, the same on every replica.
   */
  splits: { region: Region; parentLeader: boolean; dedup: DedupTable }[];
  /** This peer was removed from its region. */
  removed: boolean;
  /** A membership change was applied (the conf state must be persisted). */
  confChanged: boolean;
}

export function ok(): Result<void> {
  return { ok: true, value: undefined };
}

export class RegionPeer {
  readonly regionId: number;
  region: Region;
  readonly peerId: number;
  raw: RawNode;
  log: RegionLog;
  dedup: DedupTable;
  /** Last applied index (mirrors the persisted apply state). */
  applied: number;
  proposals: PendingProposal[] = [];
  reads = new Map<string, PendingRead>();
  /** Ticks since the last activity; the peer hibernates when idle. */
  idleTicks = 0;
  hibernating = false;
  /** Set once the peer was removed and destroyed: it must not be used. */
  destroyed = false;
  /**
   * Entries up to here already had their persisted effects (membership, region state) applied
   * before a restart; PD's replica replays them only to rebuild its in-memory state machine.
   */
  persistedEffectsThrough = 0;
  /** Consecutive store heartbeats this replica had no leader (stale peer check). */
  leaderlessHeartbeats = 0;
  /** Consecutive store heartbeats without a message from its group (a removed replica hears none). */
  silentHeartbeats = 0;
  /** The placement driver, when this peer belongs to PD's Raft group. */
  pd: PdHost | undefined;
  /** Test-only deliberate bugs (the store's). */
  mutations: StoreTestMutations = {};

  constructor(args: { region: Region; peerId: number; raw: RawNode; log: RegionLog; dedup: DedupTable; applied: number }) {
    this.region = args.region;
    this.regionId = args.region.id;
    this.peerId = args.peerId;
    this.raw = args.raw;
    this.log = args.log;
    this.dedup = args.dedup;
    this.applied = args.applied;
  }

  /** Whether this peer holds region metadata (an uninitialized peer waits for a snapshot). */
  get initialized(): boolean {
    return this.region.peers.length > 0;
  }

  isLeader(): boolean {
    return this.raw.status().role === 'leader';
  }

  leaderPeer(): Peer | undefined {
    const lead = this.raw.status().lead;
    return this.region.peers.find((p) => p.id === lead);
  }

  notLeader(): RegionError {
    const hint = this.leaderPeer();
    return hint ? { kind: 'NotLeader', regionId: this.regionId, leaderHint: hint } : { kind: 'NotLeader', regionId: this.regionId };
  }

  storeOf(peerId: number): number | undefined {
    return this.region.peers.find((p) => p.id === peerId)?.storeId;
  }

  /**
   * Fails every waiting read with `error`. Every waiting proposal is in the log already and may
   * still commit (under another leader, or on another replica after this one is destroyed):
   * it gets `MaybeCommitted`, never a plain failure.
   */
  failPending(error: RegionError): void {
    const lead = this.leaderPeer();
    const maybe: RegionError = { kind: 'MaybeCommitted', regionId: this.regionId, ...(lead ? { leaderHint: lead } : {}) };
    for (const p of this.proposals) p.resolve({ ok: false, error: maybe });
    this.proposals = [];
    for (const r of this.reads.values()) r.resolve({ ok: false, error });
    this.reads.clear();
  }

  /** Records ReadIndex results; reads are served once applied catches up. */
  onReadStates(states: ReadState[]): void {
    for (const rs of states) {
      const key = new TextDecoder().decode(rs.requestCtx);
      const r = this.reads.get(key);
      if (r) r.index = rs.index;
    }
  }

  /** Resolves reads whose index has been applied. */
  serveReads(): void {
    for (const [key, r] of this.reads) {
      if (r.index !== undefined && r.index <= this.applied) {
        this.reads.delete(key);
        r.resolve(ok());
      }
    }
  }

  /**
   * Applies committed entries into `kv` (data, dedup records, region state) and returns what
   * must happen after the write. Deterministic: every replica does the same for the same log.
   */
  applyEntries(entries: Entry[], kv: WriteBatch, storeId: number): ApplyEffects {
    const fx: ApplyEffects = { callbacks: [], splits: [], removed: false, confChanged: false };
    for (const e of entries) {
      let result: Result<unknown> = ok();
      if (e.type === 'confChange' && e.index <= this.persistedEffectsThrough) {
        // Replayed after a restart (PD): the membership change is already in the persisted
        // conf state and region state; applying it again would double-count it.
        result = ok();
      } else if (e.type === 'confChange') {
        result = this.applyConfChange(e, kv, storeId, fx);
      } else if (e.data.length > 0 && this.pd) {
        const pd = this.pd;
        const applied = pd.sm.applyEntry(e.data);
        // The allocators serve a granted id batch or TSO window only once the entry granting it
        // is durable (the round's write may hold it: a one-voter PD commits before it persists).
        fx.callbacks.push(() => pd.onApplied(applied));
        result = { ok: true, value: applied };
      } else if (e.data.length > 0) {
        const cmd = decodeCommand(e.data);
        result = cmd.type === 'write' ? this.applyWrite(cmd, kv) : this.applySplit(cmd, kv, fx);
      }
      this.applied = e.index;
      this.resolveProposal(e, result, fx);
    }
    return fx;
  }

  private resolveProposal(e: Entry, result: Result<unknown>, fx: ApplyEffects): void {
    while (this.proposals.length > 0 && this.proposals[0].index <= e.index) {
      const p = this.proposals.shift()!;
      // Another entry took this index: the proposal was lost to a leader change.
      const r: Result<unknown> = p.index === e.index && p.term === e.term ? result : { ok: false, error: this.notLeader() };
      fx.callbacks.push(() => p.resolve(r));
    }
  }

  /**
   * Applies a client write at most once (dedup.ts). Every branch depends only on the entry
   * and the replicated state, so every replica decides alike.
   */
  private applyWrite(cmd: WriteCommand, kv: WriteBatch): Result<void> {
    const expired = this.dedup.expireIdle(cmd.stampMs);
    if (expired.length > 0) stageDedupRecords(kv, this.regionId, this.dedup, expired);
    // The floor first: a client at its record limit frees itself by acknowledging. A seq
    // equal to the floor is still the client's to judge (ackFloor ≤ seq, checked at propose).
    if (!this.mutations.dedupOff && this.dedup.check(cmd.clientId, cmd.seq, cmd.stampMs).kind !== 'stale') {
      const acked = this.dedup.acknowledge(cmd.clientId, Math.min(cmd.ackFloor, cmd.seq));
      if (acked.length > 0) stageDedupRecords(kv, this.regionId, this.dedup, acked);
    }
    const verdict = this.mutations.dedupOff ? { kind: 'new' as const } : this.dedup.check(cmd.clientId, cmd.seq, cmd.stampMs);
    if (verdict.kind === 'stale') return { ok: false, error: { kind: 'StaleWrite', reason: verdict.reason } };
    if (verdict.kind === 'full') {
      return { ok: false, error: { kind: 'ServerIsBusy', reason: `client ${cmd.clientId} has too many unacknowledged writes in region ${this.regionId}`, backoffMs: 100 } };
    }
    if (verdict.kind === 'applied') {
      stageDedupRecords(kv, this.regionId, this.dedup, this.dedup.record(cmd.clientId, cmd.seq, cmd.ackFloor, cmd.stampMs, false));
      return ok();
    }
    // Keys must still be in the region: a split between proposal and apply moves them.
    for (const op of cmd.ops) {
      const key = op.type === 'deleteRange' ? op.start : op.key;
      if (!regionContainsKey(this.region, key)) return { ok: false, error: { kind: 'EpochNotMatch', currentRegions: [this.region] } };
      if (op.type === 'deleteRange' && this.region.endKey.length > 0 && compareKeys(op.end, this.region.endKey) > 0) {
        return { ok: false, error: { kind: 'EpochNotMatch', currentRegions: [this.region] } };
      }
    }
    for (const op of cmd.ops) applyOp(kv, op);
    stageDedupRecords(kv, this.regionId, this.dedup, this.dedup.record(cmd.clientId, cmd.seq, cmd.ackFloor, cmd.stampMs));
    return ok();
  }

  private applySplit(cmd: SplitCommand, kv: WriteBatch, fx: ApplyEffects): Result<void> {
    const r = this.region;
    const inside = regionContainsKey(r, cmd.splitKey) && compareKeys(cmd.splitKey, r.startKey) > 0;
    if (!inside || cmd.newPeerIds.length !== r.peers.length) {
      return { ok: false, error: { kind: 'EpochNotMatch', currentRegions: [r] } };
    }
    const version = r.epoch.version + 1;
    const right: Region = {
      id: cmd.newRegionId,
      startKey: cmd.splitKey,
      endKey: r.endKey,
      epoch: { confVer: r.epoch.confVer, version },
      peers: r.peers.map((p, i) => ({ id: cmd.newPeerIds[i], storeId: p.storeId, role: p.role })),
    };
    this.region = { ...r, endKey: cmd.splitKey, epoch: { confVer: r.epoch.confVer, version } };
    kv.put(META_CF, regionStateKey(this.regionId), encodeRegionState(this.region, 'normal'));
    fx.splits.push({ region: right, parentLeader: this.isLeader(), dedup: this.dedup.clone() });
    return ok();
  }

  private applyConfChange(e: Entry, kv: WriteBatch, storeId: number, fx: ApplyEffects): Result<void> {
    const cc: ConfChangeV2 = decodeConfChange(e.data);
    const ctxPeers = cc.context ? decodeConfChangeContext(cc.context).peers : [];
    const cs = this.raw.applyConfChange(cc);
    const storeOfPeer = new Map<number, number>();
    for (const p of this.region.peers) storeOfPeer.set(p.id, p.storeId);
    for (const p of ctxPeers) storeOfPeer.set(p.id, p.storeId);
    const peers: Peer[] = [];
    for (const [id, role] of rolesOf(cs)) {
      const sid = storeOfPeer.get(id);
      if (sid !== undefined) peers.push({ id, storeId: sid, role });
    }
    // One membership change bumps confVer once: leaving a joint config (an empty change)
    // completes the change that entered it (PD's operators expect one bump per step).
    const bump = cc.changes.length > 0 ? 1 : 0;
    this.region = { ...this.region, peers, epoch: { ...this.region.epoch, confVer: this.region.epoch.confVer + bump } };
    kv.put(META_CF, regionStateKey(this.regionId), encodeRegionState(this.region, 'normal'));
    fx.confChanged = true;
    if (!peers.some((p) => p.id === this.peerId && p.storeId === storeId)) fx.removed = true;
    return ok();
  }
}

function applyOp(kv: WriteBatch, op: KvOp): void {
  if (op.type === 'put') kv.put(DATA_CF, op.key, op.value);
  else if (op.type === 'delete') kv.delete(DATA_CF, op.key);
  else kv.deleteRange(DATA_CF, op.start, op.end);
}

/** Each member's role in a (possibly joint) configuration. */
export function rolesOf(cs: ConfState): Map<number, PeerRole> {
  const roles = new Map<number, PeerRole>();
  const incoming = new Set(cs.voters);
  const outgoing = new Set(cs.votersOutgoing);
  const joint = outgoing.size > 0;
  for (const id of incoming) roles.set(id, joint && !outgoing.has(id) ? 'incomingVoter' : 'voter');
  for (const id of outgoing) if (!incoming.has(id)) roles.set(id, 'demotingVoter');
  for (const id of cs.learners) roles.set(id, 'learner');
  return roles;
}

/** The persisted local state of a region on this store. */
export type RegionLocalState = 'normal' | 'tombstone';

export function encodeRegionState(region: Region, state: RegionLocalState): Uint8Array {
  const body = encodeRegion(region);
  const out = new Uint8Array(body.length + 1);
  out[0] = state === 'normal' ? 1 : 2;
  out.set(body, 1);
  return out;
}

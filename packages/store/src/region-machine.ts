/**
 * The state machines behind a region's Raft group. Two kinds share one interface
 * (`RegionStateMachine`, declared in peer.ts beside the peer that holds one), so the round and
 * apply treat every region alike:
 * - `DataRegionMachine`: user data in the store's data column families; a committed entry is
 *   a `Command`, dispatched on the apply table (`COMMAND_HANDLERS`, apply.ts);
 * - `PdRegionMachine`: the placement driver's replica (`PdHost`); an entry is a PD command,
 *   applied to PD's in-memory state machine, which is persisted every
 *   `PD_PERSIST_EVERY_ENTRIES` entries and replayed from there after a restart;
 * - `WitnessRegionMachine`: a witness replica of either (`StoreOptions.witness`): it keeps the
 *   log and the region's metadata (membership in apply.ts, splits here) and applies no user
 *   data and no PD state. Sealed payloads (sealing.ts) it cannot even read.
 */
import { PdStateMachine, compareKeys } from '@peerkv/pd';
import type { RaftWriteBatch, WriteBatch } from '@peerkv/storage';
import { COMMAND_HANDLERS, dispatchCommand, type CommandHandlers } from './apply.ts';
import { decodeCommand } from './command.ts';
import { DATA_CF, META_CF } from './keys.ts';
import { PD_PERSIST_EVERY_ENTRIES, PD_SNAPSHOT_PAIR_KEY, PD_STATE_KEY, type PdHost } from './pd-host.ts';
import { ok, type ApplyContext, type RegionPeer, type RegionStateMachine, type Result } from './peer.ts';
import { stagePdState } from './region-meta.ts';
import { isSealed } from './sealing.ts';
import type { WitnessEntryCounts } from './options.ts';

export class DataRegionMachine implements RegionStateMachine {
  readonly kind = 'data';
  readonly holdsData = true;

  constructor(private readonly handlers: CommandHandlers) {}

  applyCommand(data: Uint8Array, a: ApplyContext): Result<unknown> {
    // The round opens every sealed entry of a full replica before it applies it (sealing.ts).
    if (isSealed(data)) throw new Error(`region ${a.peer.regionId}: entry ${a.entry.index} reached apply still sealed`);
    const cmd = decodeCommand(data);
    a.type = cmd.type;
    return dispatchCommand(this.handlers, cmd, a);
  }

  stageApplied(): void {}

  logCompactLimit(): number {
    return Number.POSITIVE_INFINITY;
  }

  onRole(): void {}

  snapshotPairs(): undefined {
    return undefined;
  }

  installSnapshot(): boolean {
    return false;
  }

  stageDestroy(): void {}
}

export class PdRegionMachine implements RegionStateMachine {
  readonly kind = 'pd';
  readonly holdsData = false;

  constructor(readonly host: PdHost) {}

  applyCommand(data: Uint8Array, a: ApplyContext): Result<unknown> {
    const host = this.host;
    const applied = host.sm.applyEntry(data);
    // The allocators serve a granted id batch or TSO window only once the entry granting it
    // is durable (the round's write may hold it: a one-voter PD commits before it persists).
    a.fx.callbacks.push(() => host.onApplied(applied));
    if (applied.kind === 'storePut' && applied.isNew && host.servingTerm !== undefined) a.fx.storesJoined = true;
    return { ok: true, value: applied };
  }

  stageApplied(batch: RaftWriteBatch, peer: RegionPeer): void {
    if (peer.applied - this.host.persistedIndex >= PD_PERSIST_EVERY_ENTRIES) stagePdState(batch, peer);
  }

  logCompactLimit(): number {
    return this.host.persistedIndex;
  }

  onRole(peer: RegionPeer, nowMs: number): void {
    const st = peer.raw.status();
    this.host.updateRole(st.role === 'leader', st.term, peer.applied, st.lastIndex, nowMs);
  }

  snapshotPairs(): { key: Uint8Array; value: Uint8Array }[] {
    return [{ key: PD_SNAPSHOT_PAIR_KEY, value: this.host.sm.snapshot() }];
  }

  installSnapshot(batch: RaftWriteBatch, peer: RegionPeer, pairs: readonly { cf: string; key: Uint8Array; value: Uint8Array }[], index: number): boolean {
    const pair = pairs.find((p) => p.cf === DATA_CF && compareKeys(p.key, PD_SNAPSHOT_PAIR_KEY) === 0);
    // The initial snapshot of the PD group carries no state yet.
    if (pair) this.host.replace(PdStateMachine.restore(pair.value), index);
    peer.applied = index;
    stagePdState(batch, peer);
    return true;
  }

  stageDestroy(kv: WriteBatch): void {
    kv.delete(META_CF, PD_STATE_KEY);
  }
}

/**
 * A witness replica (TiKV's witness): it votes and keeps the Raft log, but writes nothing to
 * the data column families and keeps no PD state. Of a data region's commands it applies only
 * the split, which is region metadata: the witness must host the right half too, or that
 * half would lose a voter. Writes, transactions and resolved ts are skipped (so its
 * `safeTs` stays 0 and its dedup table empty: it never leads and never serves a read, see
 * `StoreRequests.checkRequest`). A snapshot sent to it carries the region and no pairs
 * (`SnapshotWorker.sendSnapshot`); one that does carry pairs has them ignored here.
 *
 * `holdsData` is false: no split overlap checks, size, digests, routing or data deletion
 * cover a witness's range, since it owns no keys on this store.
 */
export class WitnessRegionMachine implements RegionStateMachine {
  readonly holdsData = false;

  constructor(
    readonly kind: 'data' | 'pd',
    private readonly counts: WitnessEntryCounts = { sealed: 0, plain: 0 },
  ) {}

  applyCommand(data: Uint8Array, a: ApplyContext): Result<unknown> {
    if (this.kind === 'pd') return ok();
    // A sealed payload (a write or txn: sealing.ts) is user data the witness has no key for.
    if (isSealed(data)) {
      this.counts.sealed++;
      return ok();
    }
    const cmd = decodeCommand(data);
    if (cmd.type === 'write' || cmd.type === 'txn') this.counts.plain++;
    if (cmd.type !== 'split') return ok();
    return dispatchCommand(COMMAND_HANDLERS, cmd, a);
  }

  stageApplied(): void {}

  /** Nothing is replayed from the log after a restart (no in-memory state to rebuild). */
  logCompactLimit(): number {
    return Number.POSITIVE_INFINITY;
  }

  onRole(): void {}

  /** Never asked (a witness never leads, so never sends a snapshot); the region alone if it were. */
  snapshotPairs(): { key: Uint8Array; value: Uint8Array }[] {
    return [];
  }

  /** Takes the snapshot's region (the snapshot worker adopts it) and its index; its pairs are dropped. */
  installSnapshot(_batch: RaftWriteBatch, peer: RegionPeer, _pairs: readonly unknown[], index: number): boolean {
    peer.applied = index;
    return true;
  }

  stageDestroy(): void {}
}

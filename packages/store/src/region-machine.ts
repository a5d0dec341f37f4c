/**
 * The state machines behind a region's Raft group. Two kinds share one interface
 * (`RegionStateMachine`, declared in peer.ts beside the peer that holds one), so the round and
 * apply treat every region alike:
 * - `DataRegionMachine`: user data in the store's data column families; a committed entry is
 *   a `Command`, dispatched on the apply table (`COMMAND_HANDLERS`, apply.ts);
 * - `PdRegionMachine`: the placement driver's replica (`PdHost`); an entry is a PD command,
 *   applied to PD's in-memory state machine, which is persisted every
 *   `PD_PERSIST_EVERY_ENTRIES` entries and replayed from there after a restart.
 */
import { PdStateMachine, compareKeys } from '@peerkv/pd';
import type { RaftWriteBatch, WriteBatch } from '@peerkv/storage';
import { dispatchCommand, type CommandHandlers } from './apply.ts';
import { decodeCommand } from './command.ts';
import { DATA_CF, META_CF } from './keys.ts';
import { PD_PERSIST_EVERY_ENTRIES, PD_SNAPSHOT_PAIR_KEY, PD_STATE_KEY, type PdHost } from './pd-host.ts';
import type { ApplyContext, RegionPeer, RegionStateMachine, Result } from './peer.ts';
import { stagePdState } from './region-meta.ts';

export class DataRegionMachine implements RegionStateMachine {
  readonly kind = 'data';
  readonly holdsData = true;

  constructor(private readonly handlers: CommandHandlers) {}

  applyCommand(data: Uint8Array, a: ApplyContext): Result<unknown> {
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

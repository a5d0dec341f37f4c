/**
 * Hosting the placement driver on a store. PD is a `PdStateMachine` replicated by its own
 * Raft group, region `PD_REGION_ID`: its entries are PD commands, applied in log order on
 * every PD replica; the replica that leads the group serves ids and timestamps from memory
 * (`IdAllocator`, `TsoAllocator`) under windows it persisted through Raft.
 *
 * Persistence: the state machine is in memory, so its snapshot is written to the store's
 * meta column family every `PD_PERSIST_EVERY_ENTRIES` applied entries, and a restart
 * resumes from that snapshot's index (the PD log is never compacted past it).
 */
import { IdAllocator, PdStateMachine, Scheduler, TsoAllocator, type PdApplyResult } from '@peerkv/pd';
import { ByteReader, ByteWriter } from '@peerkv/transport';

/** The region id of PD's Raft group in every cluster. Data regions have larger ids. */
export const PD_REGION_ID = 1;
/** Applied PD entries between two persisted PD snapshots. */
export const PD_PERSIST_EVERY_ENTRIES = 64;
/** Key of the persisted PD snapshot in the meta column family. */
export const PD_STATE_KEY = new Uint8Array([0x70 /* p */]);
/** Key of the PD snapshot inside a PD region's Raft snapshot payload. */
export const PD_SNAPSHOT_PAIR_KEY = new TextEncoder().encode('pd-state');

export class PdHost {
  /** The checkers and schedulers; they run only while this replica serves as leader. */
  readonly scheduler = new Scheduler();
  /** When this replica started serving as leader (its clock). */
  leaderSinceMs = 0;
  readonly ids: IdAllocator;
  readonly tso: TsoAllocator;
  /** The index the last persisted snapshot reflects. */
  persistedIndex: number;
  /** The term the allocators serve in, once this replica may serve as leader. */
  servingTerm: number | undefined;
  /** As leader: the first index of our term; we serve once it is applied. */
  termStartIndex = 0;

  constructor(
    readonly peerId: number,
    public sm: PdStateMachine,
    persistedIndex: number,
  ) {
    this.ids = new IdAllocator(peerId);
    this.tso = new TsoAllocator(peerId);
    this.persistedIndex = persistedIndex;
  }

  /** Every applied result goes to the allocators (they keep only their own grants). */
  onApplied(result: PdApplyResult): void {
    this.ids.onApplied(result);
    this.tso.onApplied(result);
  }

  /**
   * Starts or stops serving after a role change. Serving starts only once every entry
   * committed before our term is applied (the term's first entry is applied), so the TSO
   * floor includes every window an earlier leader persisted.
   */
  updateRole(isLeader: boolean, term: number, applied: number, lastIndex: number, nowMs: number): void {
    if (!isLeader) {
      if (this.servingTerm !== undefined) {
        this.ids.stepDown();
        this.tso.stepDown();
        this.scheduler.stepDown(nowMs);
        this.servingTerm = undefined;
      }
      this.termStartIndex = 0;
      return;
    }
    if (this.servingTerm === term) return;
    if (this.termStartIndex === 0) this.termStartIndex = lastIndex;
    if (applied < this.termStartIndex) return;
    this.ids.becomeLeader(term);
    this.tso.becomeLeader(term, this.sm.maxPersistedPhysicalMs);
    this.servingTerm = term;
    this.leaderSinceMs = nowMs;
  }

  replace(sm: PdStateMachine, index: number): void {
    this.sm = sm;
    this.persistedIndex = index;
  }
}

/** The persisted PD record: the applied index and the state machine snapshot. */
export function encodePdState(index: number, snapshot: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.varUint(index);
  w.bytes(snapshot);
  return w.finish();
}

export function decodePdState(data: Uint8Array): { index: number; sm: PdStateMachine } {
  const r = new ByteReader(data);
  const index = r.varUint();
  const snapshot = r.bytes(256 * 1024 * 1024, 'pd snapshot');
  return { index, sm: PdStateMachine.restore(snapshot) };
}

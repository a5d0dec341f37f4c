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
import { PdLeader, PdStateMachine, type GcConfig, type PdApplyResult, type SchedulerOptions } from '@peerkv/pd';
import { ByteReader, ByteWriter } from '@peerkv/transport';

/** The region id of PD's Raft group in every cluster. Data regions have larger ids. */
export const PD_REGION_ID = 1;
/** Least wall-clock ms between two scheduling rounds on the PD leader. */
export const PD_SCHEDULE_INTERVAL_MS = 500;
/** Applied PD entries between two persisted PD snapshots. */
export const PD_PERSIST_EVERY_ENTRIES = 64;
/** Key of the persisted PD snapshot in the meta column family. */
export const PD_STATE_KEY = new Uint8Array([0x70 /* p */]);
/** Key of the PD snapshot inside a PD region's Raft snapshot payload. */
export const PD_SNAPSHOT_PAIR_KEY = new TextEncoder().encode('pd-state');

export class PdHost {
  /** TSO, ids and scheduling; they serve only while this replica leads PD's group. */
  leader: PdLeader;
  /** The index the last persisted snapshot reflects. */
  persistedIndex: number;
  /** The term the leader services run in, once this replica may serve. */
  servingTerm: number | undefined;
  /** As leader: the first index of our term; we serve once it is applied. */
  termStartIndex = 0;
  /** The GC safe point's knobs (`StoreOptions.pdGc`; PD's defaults when empty). */
  private gcConfig: Partial<GcConfig> = {};
  /** The scheduler's knobs (`StoreOptions.pdScheduler`; PD's defaults when empty). */
  private schedulerOptions: Partial<SchedulerOptions> = {};

  constructor(
    readonly peerId: number,
    sm: PdStateMachine,
    persistedIndex: number,
  ) {
    this.leader = this.makeLeader(sm);
    this.persistedIndex = persistedIndex;
  }

  private makeLeader(sm: PdStateMachine): PdLeader {
    return new PdLeader(sm, this.peerId, { scheduleIntervalMs: PD_SCHEDULE_INTERVAL_MS, gc: this.gcConfig, scheduler: this.schedulerOptions });
  }

  /** Sets the GC knobs (before this replica serves: they take effect from its next leadership). */
  useGcConfig(config: Partial<GcConfig>): void {
    this.gcConfig = config;
    if (this.servingTerm === undefined) this.leader = this.makeLeader(this.leader.sm);
  }

  /** Sets the scheduler's knobs (before this replica serves: they take effect from its next leadership). */
  useSchedulerOptions(options: Partial<SchedulerOptions>): void {
    this.schedulerOptions = options;
    if (this.servingTerm === undefined) this.leader = this.makeLeader(this.leader.sm);
  }

  get sm(): PdStateMachine {
    return this.leader.sm;
  }

  /** Every applied result goes to the allocators (they keep only their own grants). */
  onApplied(result: PdApplyResult): void {
    this.leader.onApplied(result);
  }

  /**
   * Starts or stops serving after a role change. Serving starts only once every entry
   * committed before our term is applied (the term's first entry is applied), so the TSO
   * floor includes every window an earlier leader persisted.
   */
  updateRole(isLeader: boolean, term: number, applied: number, lastIndex: number, nowMs: number): void {
    if (!isLeader) {
      if (this.servingTerm !== undefined) {
        this.leader.stepDown(nowMs);
        this.servingTerm = undefined;
      }
      this.termStartIndex = 0;
      return;
    }
    if (this.servingTerm === term) return;
    if (this.termStartIndex === 0) this.termStartIndex = lastIndex;
    if (applied < this.termStartIndex) return;
    this.leader.becomeLeader(term, nowMs);
    this.servingTerm = term;
  }

  /** A snapshot replaced the state (only on a replica that does not serve). */
  replace(sm: PdStateMachine, index: number): void {
    this.leader = this.makeLeader(sm);
    this.servingTerm = undefined;
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

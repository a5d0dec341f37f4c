/**
 * One replica of one region on this store: its RawNode, its log, its region metadata, and
 * the proposals and reads waiting on it (TiKV `PeerFsm`, single-threaded). What its
 * committed entries do lives in apply.ts and its `machine` (region-machine.ts); the types
 * they share (`ApplyContext`, `ApplyEffects`, `RegionStateMachine`) are declared here, so
 * imports point one way: apply.ts and region-machine.ts → peer.ts.
 */
import type { Peer, PeerRole, Region, RegionError } from '@peerkv/pd';
import type { ConfState, Entry, RawNode, ReadState } from '@peerkv/raft';
import type { RaftWriteBatch, RegionLog, WriteBatch } from '@peerkv/storage';
import { encodeRegion, type Command, type KvOp } from './command.ts';
import type { DedupTable } from './dedup.ts';
import type { PdHost } from './pd-host.ts';
import type { StoreTestMutations } from './mutations.ts';
import type { DataModel } from './keys.ts';
import type { ProposalTrace } from './write-trace.ts';

/** The outcome of a request, as a value. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: RegionError };

/** A proposal waiting for its entry to be applied. */
export interface PendingProposal {
  index: number;
  term: number;
  resolve: (r: Result<unknown>) => void;
  /** A client write's times (`write-trace.ts`); none for the store's own proposals. */
  trace?: ProposalTrace;
}

/** A read waiting for its ReadIndex and then for apply to catch up. */
export interface PendingRead {
  ctx: string;
  index?: number;
  resolve: (r: Result<void>) => void;
}

/** What applying one entry asks the store to do once the write is durable. */
export interface ApplyEffects {
  /** Callbacks to run after the write, in apply order (proposal answers, observers, PD). */
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
  /** PD's replica, serving as PD's leader, applied a new store's join (PD schedules for it at once). */
  storesJoined: boolean;
  /** The traces of the client writes this Ready applied (the round stamps them). */
  traced: ProposalTrace[];
}

/** Everything a command handler may read and write. */
export interface ApplyContext {
  peer: RegionPeer;
  entry: Entry;
  /** The round's engine batch: every write of the entry goes here. */
  kv: WriteBatch;
  storeId: number;
  /** The column families holding region data (the store's declaration, the same on every replica). */
  dataCfs: readonly string[];
  /** What the data column families hold (the store's declaration, the same on every replica). */
  dataModel: DataModel;
  fx: ApplyEffects;
  /** Writes the entry made, reported to observers after the write. */
  applied: KvOp[];
  /** The type of the data command the entry carried (set by the data region's machine; observers see only these). */
  type?: Command['type'];
  /** The data key id the entry's payload was sealed under (undefined: a plain payload). */
  sealedKeyId?: number;
  /** The store's data keys (`sealing.ts`'s `EntryKeyring`; none on a witness or a store that does not seal): a `dataKey` entry moves it on. */
  keyring?: { observe(keyId: number): void };
  /** Counts what apply found wrong but applied alike on every replica. */
  counters: ApplyCounters;
}

/** What apply found wrong but applied alike on every replica (it never stops the store). */
export interface ApplyCounters {
  /** Observers that threw. */
  observerErrors: number;
  /**
   * Sealed entries applied after their region's data-key switch under an older key id
   * (`data-key-switch.ts`): the leader's proposals must seal with the switched key. Applied
   * all the same (the older key is still valid and every replica decides alike), but they keep
   * the older key from retiring, and the simulator reports them.
   */
  staleKeyEntries: number;
}

/**
 * The state machine behind a region's Raft group (region-machine.ts has the two kinds: user
 * data, and PD's replica), so the round and apply treat every region alike.
 */
export interface RegionStateMachine {
  /** `data`: user keys (split, snapshot, size and digests cover them); `pd`: the placement driver. */
  readonly kind: 'data' | 'pd';
  /** Applies one committed normal entry's payload (never empty); the answer goes to its proposer. */
  applyCommand(data: Uint8Array, a: ApplyContext): Result<unknown>;
  /** Stages what must be persisted with this round's write once `peer`'s entries were applied. */
  stageApplied(batch: RaftWriteBatch, peer: RegionPeer): void;
  /** The Raft log may be compacted below this index and no further (a restart replays from it). */
  logCompactLimit(): number;
  /**
   * The peer's role as of now: called when it loses leadership (before anything more is
   * applied) and after each round's write.
   */
  onRole(peer: RegionPeer, nowMs: number): void;
  /**
   * Whether the region's key range holds user data in the data column families (split,
   * overlap checks, size, digests, routing and destroy cover it). PD's does not: its state
   * lives in memory and in its own meta record.
   */
  readonly holdsData: boolean;
  /**
   * The state a snapshot of this region carries when it is not the data column families
   * (PD's state machine, as one `default` pair); undefined for a data region, whose snapshot
   * is read from the engine.
   */
  snapshotPairs(): { key: Uint8Array; value: Uint8Array }[] | undefined;
  /**
   * Installs a snapshot's pairs in place of the machine's own state, staging what must
   * persist with it (PD); returns false for a data region (the snapshot worker installs its
   * data into the engine).
   */
  installSnapshot(batch: RaftWriteBatch, peer: RegionPeer, pairs: readonly { cf: string; key: Uint8Array; value: Uint8Array }[], index: number): boolean;
  /** Stages the removal of what the machine persisted outside the data column families (its replica is destroyed). */
  stageDestroy(kv: WriteBatch): void;
}

/**
 * A snapshot this replica is applying into the data column families (TiKV's pending apply):
 * its Raft state and the region's `applying` state are persisted, its staged stream is being
 * written in chunks. Until it is done the replica takes no Ready and serves no request.
 */
export interface ApplyingSnapshot {
  index: number;
  term: number;
  /** The snapshot's `data` (its format 3 header, naming the staged stream). */
  data: Uint8Array;
  /** The apply running now (undefined before it starts, e.g. between the round's write and its start). */
  task: Promise<void> | undefined;
  /**
   * Why the apply cannot finish (staged stream gone or corrupt): the replica stays unserved
   * until a new snapshot arrives (`request`) or PD replaces it (`damaged`).
   */
  failed?: string;
  /**
   * Once failed: the replica's Raft node was restarted from its persisted state and asks its
   * leader for a new snapshot (`SnapshotWorker.requestSnapshot`); it takes Readies again (Raft
   * appends nothing meanwhile). `sent` requests so far, `timer` the next one.
   */
  request?: { sent: number; timer: unknown };
  /** This snapshot answered such requests: how many were sent before it (the count goes on if it fails too). */
  requestsSentBefore?: number;
  /** `requestsMax` requests went unanswered: the store reports the replica to PD (`damagedRegionIds`), which replaces it where it can; the requests go on. */
  damaged?: boolean;
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
  /** Last applied index (mirrors the persisted apply state; set while a round stages its write). */
  applied: number;
  /**
   * Last applied index whose write the engine holds (the round's write has completed): what an
   * engine read sees. `applied` runs ahead of it while a round's write is in flight.
   */
  appliedVisible: number;
  proposals: PendingProposal[] = [];
  reads = new Map<string, PendingRead>();
  /** Ticks since the last activity; the peer hibernates when idle. */
  idleTicks = 0;
  /** The store tick at which the peer last began to hibernate (`StoreLoop.wakeForElection` counts the ticks it missed). */
  asleepSinceTick = 0;
  private asleep = false;
  /** Told when the peer wakes (the store keeps its awake replicas in a set: `StoreContext.awake`). */
  onWake: ((peer: RegionPeer) => void) | undefined;
  /** Idle and caught up: not ticked (`StoreLoop.tick`). Setting it false wakes the peer (`onWake`). */
  get hibernating(): boolean {
    return this.asleep;
  }
  set hibernating(v: boolean) {
    const woke = this.asleep && !v;
    this.asleep = v;
    if (woke) this.onWake?.(this);
  }
  /** Set once the peer was removed and destroyed: it must not be used. */
  destroyed = false;
  /**
   * The newest resolved ts this replica applied (a `safeTs` command, made visible once the
   * write holding the entries before it is durable): it serves reads at or below it from its
   * own state. 0 until one applied; persisted with it (`safeTsKey`), so a restarted replica
   * starts from the last one it applied.
   */
  safeTs = 0n;
  /**
   * The data key id of the region's last applied data-key switch (`dataKey` command), and that
   * entry's index: every entry after it is sealed under that key id or a later one
   * (`data-key-switch.ts`). 0 and 0 until one applied; persisted with it (`dataKeySwitchKey`).
   */
  dataKeyId = 0;
  dataKeySwitchIndex = 0;
  /**
   * The highest index of an entry applied here under a key id below `dataKeyId` (a stale seal),
   * or, after a restart, the applied index then (what the log held before is not known): a key
   * retires only once the log is compacted past it (`retirableDataKeyFloor`).
   */
  dataKeyOldThrough = 0;
  /**
   * Entries up to here already had their persisted effects (membership, region state) applied
   * before a restart; PD's replica replays them only to rebuild its in-memory state machine.
   */
  persistedEffectsThrough = 0;
  /** Consecutive store heartbeats this replica had no leader (stale peer check). */
  leaderlessHeartbeats = 0;
  /** Consecutive store heartbeats without a message from its group (a removed replica hears none). */
  silentHeartbeats = 0;
  /**
   * A replica made on demand that started with no Raft state and has never voted: it holds no
   * vote, no entry and no data, so dropping it without a tombstone forgets nothing its group
   * counted on (`StoreLoop.reclaimPendingReplicas`). Cleared by its first vote.
   */
  reclaimable = false;
  /** The placement driver, when this peer belongs to PD's Raft group (set with `hostPd`). */
  pd: PdHost | undefined;
  /** What its committed entries apply to: user data, or PD's state machine. */
  machine: RegionStateMachine;
  /** Test-only deliberate bugs (the store's). */
  mutations: StoreTestMutations = {};
  /** The snapshot being applied (pending apply), if any: no Ready is taken and nothing is served meanwhile. */
  applying: ApplyingSnapshot | undefined;
  /** A witness replica (`StoreOptions.witness`): votes, keeps the log, applies no data, serves nothing. */
  witness = false;

  constructor(args: { region: Region; peerId: number; raw: RawNode; log: RegionLog; dedup: DedupTable; applied: number; machine: RegionStateMachine }) {
    this.machine = args.machine;
    this.region = args.region;
    this.regionId = args.region.id;
    this.peerId = args.peerId;
    this.raw = args.raw;
    this.log = args.log;
    this.dedup = args.dedup;
    this.applied = args.applied;
    this.appliedVisible = args.applied;
  }

  /** Makes this the replica of PD's group hosting `host` (its entries apply to PD's state machine). */
  hostPd(host: PdHost, machine: RegionStateMachine): void {
    this.pd = host;
    this.machine = machine;
  }

  /**
   * Whether the round takes this peer's Ready: not while a snapshot is being applied (TiKV's
   * pending apply), again once that apply failed and its Raft node asks for a new snapshot.
   */
  get takesReady(): boolean {
    if (this.destroyed) return false;
    return this.applying === undefined || this.applying.request !== undefined;
  }

  /** Whether this peer holds region metadata (an uninitialized peer waits for a snapshot). */
  get initialized(): boolean {
    return this.region.peers.length > 0;
  }

  isLeader(): boolean {
    return this.raw.role() === 'leader';
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

  /** Resolves reads whose index has been applied (none while a snapshot is being applied). */
  serveReads(): void {
    if (this.applying) return;
    for (const [key, r] of this.reads) {
      if (r.index !== undefined && r.index <= this.applied) {
        this.reads.delete(key);
        r.resolve(ok());
      }
    }
  }
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

/**
 * The persisted local state of a region on this store: `applying` while a received snapshot
 * is written into the data column families (the pending-apply record names it; a store opening
 * with it resumes the apply before the region serves anything).
 */
export type RegionLocalState = 'normal' | 'tombstone' | 'applying';

/** The first byte of a region state record, by state. */
export const REGION_STATE_CODE = { normal: 1, tombstone: 2, applying: 3 } as const satisfies Record<RegionLocalState, number>;

export function encodeRegionState(region: Region, state: RegionLocalState): Uint8Array {
  const body = encodeRegion(region);
  const out = new Uint8Array(body.length + 1);
  out[0] = REGION_STATE_CODE[state];
  out.set(body, 1);
  return out;
}

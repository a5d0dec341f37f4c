/**
 * GC in `--txn` runs, racing the workload's long readers. The simulator plays TiDB's GC
 * worker; the stores' own GC workers (`packages/store/src/gc-worker.ts`) collect:
 *
 * 1. **Safe point**: every `gcIntervalMs`, the target is the oldest start ts of any transaction
 *    the run's clients still have open (or ended less than `gcGraceMs` ago: their requests may
 *    still be on the wire), and never above `gcLifeMs` ago.
 * 2. **The stores' lock registrations** bound it, as PD's service safe points bound TiDB's GC
 *    worker: never above the oldest live `store-…` registration on PD's leader
 *    (`pdGcRegistrationsFloor`), and not at all while that leader is in its hold after taking
 *    over. Each store registers the oldest lock it holds (its GC worker resolves the expired
 *    ones first, round by round, through `PdCluster.gcLockResolver`, a client's lock resolver,
 *    for those it cannot resolve itself: `packages/store/src/gc-worker.ts`). So no lock is
 *    ever below the safe point, and no commit record a lock still needs is collected. (Until
 *    the stores did this, this driver resolved the locks itself by a snapshot scan at the
 *    target; it no longer does.)
 * 3. **Publish** it: `setGcSafePoint` proposed to PD (never lower). Clients then refuse
 *    `kv.snapshot(ts)` below it, and every mvcc store's GC worker (a round every
 *    `STORE_GC_INTERVAL_MS` here) learns it, collects the versions below it through Raft
 *    (`txnGc`) and refuses reads below it (`SafePointPassed`).
 *
 * Mutation `gcPastReader`: the target is only `gcLifeMs` ago, whatever transactions are open,
 * and it is collected at once on every running store's engine (as TiKV's compaction-filter
 * GC would, without Raft) and never published: versions an open reader needs are gone and
 * nothing refuses its reads. Per user key, the newest `put` or `delete` at or below the
 * target is kept and every older record dropped.
 */
import { WriteBatch } from '@peerkv/storage';
import { CF_DEFAULT, CF_WRITE, MvccReader, TSO_LOGICAL_BITS, encodeMvccKey, type ReadView } from '@peerkv/txn';
import { GC_LOCK_SERVICE_PREFIX, type Store } from '@peerkv/store';
import type { ClusterEnv } from './cluster-env.ts';

/** The start ts of a transaction a client has open, registered for the GC driver. */
export interface GcRegistration {
  ts: bigint;
  /** A read-only transaction (a long reader or a snapshot at an old ts). */
  reader: boolean;
  /** Virtual ms after which it no longer holds the safe point back (set when it ends). */
  untilMs?: number;
}

/** The stores' GC worker round interval in `--txn` runs with GC, virtual ms (the store default, 30 s, would run no round). */
export const STORE_GC_INTERVAL_MS = 300;
/** PD's longest registration TTL in `--txn` runs (the stores' lock registrations and the clients' holds), virtual ms. */
export const PD_SERVICE_TTL_MS_MAX = 1_000;

/** Keys one GC pass of a store looks at, at most. */
const GC_KEYS_PER_PASS_MAX = 4096;

export interface GcStats {
  /** Safe points published to PD. */
  safePoints: number;
  /** Write records dropped on all replicas by the simulator's own GC (mutation `gcPastReader` only). */
  versionsDropped: number;
  /** Rounds whose target the registrations held back (a store's oldest lock, a reader's hold, or a new PD leader's hold). */
  heldByRegistrations: number;
  /** Write records the stores' GC workers dropped (through Raft), over every store run seen. */
  storeVersionsDropped: number;
  /** Expired locks the stores' GC workers resolved, over every store run seen. */
  storeLocksResolved: number;
}

export interface GcOptions {
  gcIntervalMs: number;
  gcLifeMs: number;
  gcGraceMs: number;
  /** Mutation: no open transaction holds GC back, and it collects at once without telling anyone. */
  pastReaders: boolean;
}

/** The timestamp at the start of virtual millisecond `ms`. */
export function tsAtMs(ms: number): bigint {
  return BigInt(Math.max(0, Math.floor(ms))) << BigInt(TSO_LOGICAL_BITS);
}

export class GcDriver {
  readonly registry = new Set<GcRegistration>();
  readonly stats: GcStats = { safePoints: 0, versionsDropped: 0, heldByRegistrations: 0, storeVersionsDropped: 0, storeLocksResolved: 0 };
  /** The last GC counters read from each store run (a restarted store is a new `Store`). */
  private readonly storeStats = new Map<Store, { versionsDropped: number; locksResolved: number }>();
  /** The highest safe point proposed (a snapshot below it may be refused). */
  proposed = 0n;

  constructor(
    private readonly env: ClusterEnv,
    private readonly o: GcOptions,
  ) {}

  /** Registers an open transaction's start ts; call `end` when it ends. */
  register(ts: bigint, reader: boolean): GcRegistration {
    const r: GcRegistration = { ts, reader };
    this.registry.add(r);
    return r;
  }

  end(r: GcRegistration): void {
    r.untilMs = this.env.sched.now() + this.o.gcGraceMs;
  }

  /** Where the safe point may go now. */
  target(): bigint {
    const now = this.env.sched.now();
    let t = tsAtMs(now - this.o.gcLifeMs);
    if (this.o.pastReaders) return t;
    for (const r of [...this.registry]) {
      if (r.untilMs !== undefined && r.untilMs <= now) {
        this.registry.delete(r);
        continue;
      }
      if (r.ts < t) t = r.ts;
    }
    return t;
  }

  /** Runs GC rounds until `untilMs`. */
  async loop(untilMs: number): Promise<void> {
    while (this.env.sched.now() < untilMs) {
      await this.env.sched.sleep(this.o.gcIntervalMs);
      try {
        await this.round();
      } catch (e) {
        this.env.note(`gc round failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.readStoreStats();
    }
  }

  /** Reads the live stores' GC counters into `stats` (each store run counted once, at its last reading). */
  readStoreStats(): void {
    for (const s of this.env.liveStores()) {
      const st = s.gcStatus().stats;
      this.storeStats.set(s, { versionsDropped: st.versionsDropped, locksResolved: st.locksResolved });
    }
    this.stats.storeVersionsDropped = 0;
    this.stats.storeLocksResolved = 0;
    for (const st of this.storeStats.values()) {
      this.stats.storeVersionsDropped += st.versionsDropped;
      this.stats.storeLocksResolved += st.locksResolved;
    }
  }

  private async round(): Promise<void> {
    let target = this.target();
    if (target <= this.proposed) return;
    if (this.o.pastReaders) {
      this.proposed = target;
      this.stats.safePoints++;
      await this.collect(target);
      return;
    }
    const leader = this.env.liveStores().find((s) => s.pdIsLeader());
    if (!leader) return;
    // The stores' lock registrations only: the clients' transactions are in `registry` (exactly;
    // the clients' own registrations keep an idle snapshot's hold for GC_HOLD_IDLE_MS, a minute,
    // longer than a run).
    const floor = leader.pdGcRegistrationsFloor(GC_LOCK_SERVICE_PREFIX);
    if (floor === 'hold' || (floor !== undefined && floor < target)) {
      this.stats.heldByRegistrations++;
      if (floor === 'hold') return;
      target = floor;
      if (target <= this.proposed) return;
    }
    if (await this.publish(leader, target)) {
      this.proposed = target;
      this.stats.safePoints++;
      this.env.note(`gc safe point ${target} published`);
    }
  }

  /** Proposes `setGcSafePoint` on PD's leader; true once applied. */
  private async publish(leader: Store, safePoint: bigint): Promise<boolean> {
    const r = await leader.pdPropose({ kind: 'setGcSafePoint', safePoint }, { timeoutMs: this.env.o.requestTimeoutMs }).catch(() => undefined);
    return r !== undefined && r.ok;
  }

  /** Collects versions below `safePoint` on every running store's engine (mutation `gcPastReader`). */
  private async collect(safePoint: bigint): Promise<void> {
    for (const d of this.env.devices) {
      const engine = this.env.engineOf(d);
      if (!engine) continue;
      let snap;
      try {
        snap = await engine.snapshot();
      } catch {
        continue;
      }
      const batch = new WriteBatch();
      let dropped = 0;
      try {
        const view = new MvccReader(snap);
        for await (const key of view.writeKeys({}, GC_KEYS_PER_PASS_MAX)) {
          dropped += await collectKey(view, key, safePoint, batch);
        }
      } catch {
        continue;
      } finally {
        await snap.release();
      }
      if (batch.ops.length === 0) continue;
      try {
        await engine.write(batch, { durability: 'strict' });
        this.stats.versionsDropped += dropped;
      } catch {
        // The store crashed meanwhile: its disk keeps what it keeps.
      }
    }
  }
}

/** Adds the deletes of `key`'s records below the newest data record at or below `safePoint`; returns how many. */
async function collectKey(view: ReadView, key: Uint8Array, safePoint: bigint, batch: WriteBatch): Promise<number> {
  let kept = false;
  let dropped = 0;
  for await (const v of view.writes(key, safePoint)) {
    if (!kept && (v.write.kind === 'put' || v.write.kind === 'delete')) {
      kept = true;
      continue;
    }
    batch.delete(CF_WRITE, encodeMvccKey(key, v.commitTs));
    if (v.write.kind === 'put' && v.write.shortValue === undefined) batch.delete(CF_DEFAULT, encodeMvccKey(key, v.write.startTs));
    dropped++;
  }
  return dropped;
}


/**
 * GC in `--txn` runs, racing the workload's long readers. The simulator plays TiDB's GC
 * worker; the stores' own GC workers (`packages/store/src/gc-worker.ts`) collect:
 *
 * 1. **Safe point**: every `gcIntervalMs`, the target is the oldest start ts of any transaction
 *    the run's clients still have open (or ended less than `gcGraceMs` ago: their requests may
 *    still be on the wire), and never above `gcLifeMs` ago.
 * 2. **Resolve locks** below it: a snapshot at the target scans the whole key space (the
 *    client's reader resolves every lock that may have committed at or below it), so no
 *    commit record below the safe point is still needed by a lock (the store's GC does not
 *    resolve locks first).
 * 3. **Publish** it: `setGcSafePoint` proposed to PD (never lower). Clients then refuse
 *    `kv.snapshot(ts)` below it, and every mvcc store's GC worker learns it, collects the
 *    versions below it through Raft (`txnGc`) and refuses reads below it (`SafePointPassed`).
 *
 * Mutation `gcPastReader`: the target is only `gcLifeMs` ago, whatever transactions are open,
 * and it is collected at once on every running store's engine (as TiKV's compaction-filter
 * GC would, without Raft) and never published: versions an open reader needs are gone and
 * nothing refuses its reads. Per user key, the newest `put` or `delete` at or below the
 * target is kept and every older record dropped.
 */
import { WriteBatch } from '@peerkv/storage';
import { CF_DEFAULT, CF_WRITE, MvccReader, TSO_LOGICAL_BITS, encodeMvccKey, type ReadView } from '@peerkv/txn';
import type { PeerKV } from 'peerkv';
import type { ClusterEnv } from './cluster-env.ts';

/** The start ts of a transaction a client has open, registered for the GC driver. */
export interface GcRegistration {
  ts: bigint;
  /** A read-only transaction (a long reader or a snapshot at an old ts). */
  reader: boolean;
  /** Virtual ms after which it no longer holds the safe point back (set when it ends). */
  untilMs?: number;
}

/** Keys one GC pass of a store looks at, at most. */
const GC_KEYS_PER_PASS_MAX = 4096;

export interface GcStats {
  /** Safe points published to PD. */
  safePoints: number;
  /** Write records dropped on all replicas by the simulator's own GC (mutation `gcPastReader` only). */
  versionsDropped: number;
  /** Lock-resolution scans at a target that failed (the target is not published). */
  resolveFailures: number;
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
  readonly stats: GcStats = { safePoints: 0, versionsDropped: 0, resolveFailures: 0 };
  /** The highest safe point proposed (a snapshot below it may be refused). */
  proposed = 0n;

  constructor(
    private readonly env: ClusterEnv,
    private readonly client: PeerKV,
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
    }
  }

  private async round(): Promise<void> {
    const target = this.target();
    if (target <= this.proposed) return;
    if (this.o.pastReaders) {
      this.proposed = target;
      this.stats.safePoints++;
      await this.collect(target);
      return;
    }
    if (!(await this.resolveLocksBelow(target))) {
      this.stats.resolveFailures++;
    } else if (await this.publish(target)) {
      this.proposed = target;
      this.stats.safePoints++;
      this.env.note(`gc safe point ${target} published`);
    }
  }

  /** Reads the whole key space at `ts` (resolving every lock met that may commit at or below it). */
  private async resolveLocksBelow(ts: bigint): Promise<boolean> {
    try {
      const snap = await this.client.snapshot(ts);
      for await (const _ of snap.scan({})) void _;
      return true;
    } catch {
      return false;
    }
  }

  /** Proposes `setGcSafePoint` on PD's leader; true once applied. */
  private async publish(safePoint: bigint): Promise<boolean> {
    const leader = this.env.liveStores().find((s) => s.pdIsLeader());
    if (!leader) return false;
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


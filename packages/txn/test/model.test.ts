/**
 * A model-based property test: random interleavings of a few transactions (optimistic or
 * pessimistic; 2PC, async commit or 1PC) on a few keys, with readers at fresh and past
 * timestamps that resolve the locks they meet (pushing, TTL expiry, secondary checks), and GC
 * behind the oldest live transaction, against the in-memory view. A plain model records each
 * transaction's writes at its commit point (2PC: the primary's commit; async commit: the last
 * prewrite, at the largest min_commit_ts; 1PC: the prewrite). Checked:
 * - every successful read at ts sees exactly the newest committed write ≤ ts, and every read
 *   still agrees with the model at the end (no commit lands "in the past");
 * - after everything is finished, each key's put/delete records are exactly the model's above
 *   the last safe point (plus the newest put at or below it), in commit ts order: nothing
 *   committed is lost, reordered or half-applied; no lock is left;
 * - no rollback ever meets a committed transaction (`apply` throws on any unexpected error).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryCfs,
  MvccReader,
  TS_MAX,
  acquirePessimisticLock,
  asyncCommitMinTs,
  checkSecondaryLocks,
  checkTxnStatus,
  commit,
  composeTs,
  gcRange,
  isLockExpired,
  maxTs,
  prewrite,
  prewriteKey,
  read,
  resolveLock,
  rollback,
  scan,
  type ActionResult,
  type Lock,
  type Mutation,
  type Timestamp,
  type TxnProps,
  type TxnStatus,
} from '../src/index.ts';

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const TXNS = 4;
const TTL_MS = 50;
/** How far behind "now" the GC safe point trails, in ms (besides the oldest live transaction). */
const GC_LAG_MS = 30;
const enc = new TextEncoder();
const dec = new TextDecoder();
const keyOf = (i: number): Uint8Array => enc.encode(KEYS[i]);

type CommitKind = 'twoPc' | 'async' | 'onePc';

type Cmd =
  /**
   * Advances one transaction by its next natural step: begin (writing the keys of `keysMask`,
   * deleting those of `delMask`), take one more pessimistic lock, prewrite one more key (or
   * all, for 1PC), commit the primary (2PC), commit one more key, and, once done, begin again.
   */
  | { t: 'step'; txn: number; commitKind: CommitKind; pessimistic: boolean; keysMask: number; delMask: number; long: boolean }
  | { t: 'abort'; txn: number }
  | { t: 'read'; key: number; back: number }
  | { t: 'scan'; back: number }
  | { t: 'resolve'; key: number }
  | { t: 'gc' }
  | { t: 'tick'; ms: number };

const KEYS_MASK_MAX = (1 << KEYS.length) - 1;
const arbStep = fc.record({
  t: fc.constant('step' as const),
  txn: fc.nat(TXNS - 1),
  commitKind: fc.constantFrom<CommitKind>('twoPc', 'async', 'onePc'),
  pessimistic: fc.boolean(),
  keysMask: fc.integer({ min: 1, max: KEYS_MASK_MAX }),
  delMask: fc.nat(KEYS_MASK_MAX),
  long: fc.boolean(),
});
const arbCmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: arbStep, weight: 8 },
  { arbitrary: fc.record({ t: fc.constant('abort' as const), txn: fc.nat(TXNS - 1) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('read' as const), key: fc.nat(KEYS.length - 1), back: fc.oneof(fc.constant(0), fc.nat(40)) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('scan' as const), back: fc.oneof(fc.constant(0), fc.nat(40)) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('resolve' as const), key: fc.nat(KEYS.length - 1) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('gc' as const) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 80 }) }), weight: 1 },
);

interface Txn {
  startTs: Timestamp;
  commitKind: CommitKind;
  pessimistic: boolean;
  /** The largest for-update ts of its pessimistic locks (0 while none). */
  forUpdateTs: Timestamp;
  /** Key index → value (null: delete). */
  writes: Map<number, Uint8Array | null>;
  /** Keys in lock/prewrite order; the first is the primary. */
  order: number[];
  locked: number;
  prewritten: number;
  minCommitTs: Timestamp;
  state: 'running' | 'committed' | 'aborted';
  /** 2PC: the commit ts fetched from the TSO, not yet used. */
  pendingCommitTs?: Timestamp;
  commitTs?: Timestamp;
  committedKeys: Set<number>;
}

interface Version {
  commitTs: Timestamp;
  startTs: Timestamp;
  value: Uint8Array | null;
}

const showError = (e: unknown): string => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? dec.decode(v) : v));

class World {
  readonly cfs = new MemoryCfs();
  readonly view = new MvccReader(this.cfs);
  private now = composeTs(1000);
  /** The concurrency manager's max_ts: the largest ts read at. */
  private maxTs = 0n;
  /** The GC safe point (0: never collected). */
  private safePoint = 0n;
  readonly txns: (Txn | undefined)[] = [];
  /** The model: per key, committed versions. */
  readonly versions: Version[][] = KEYS.map(() => []);
  readonly counts = { reads: 0, readsChecked: 0, scans: 0, bypassed: 0, commitTsExpired: 0, gcDropped: 0, pessimisticLocks: 0, onePc: 0 };
  /** Every successful read: a snapshot never changes, so each must still hold at the end. */
  private readonly history: { k: number; ts: Timestamp; seen: string | null }[] = [];

  tso(): Timestamp {
    this.now += 1n;
    return this.now;
  }

  private apply<T extends object>(r: ActionResult<T>): T & { ok: true } {
    if (!r.ok) throw new Error(`unexpected ${showError(r.error)}`);
    this.cfs.apply(r.ops);
    return r;
  }

  private props(t: Txn): TxnProps {
    const secondaries = t.order.slice(1).map(keyOf);
    return {
      primary: keyOf(t.order[0]),
      startTs: t.startTs,
      lockTtlMs: TTL_MS,
      txnSize: t.order.length,
      forUpdateTs: t.forUpdateTs,
      mode: t.commitKind === 'async' ? { kind: 'asyncCommit', secondaries, maxTs: this.maxTs } : { kind: 'twoPc' },
    };
  }

  private mutation(t: Txn, k: number): Mutation {
    const value = t.writes.get(k) ?? null;
    const flag = t.pessimistic ? { pessimistic: true } : {};
    return value === null ? { op: 'delete', key: keyOf(k), ...flag } : { op: 'put', key: keyOf(k), value, ...flag };
  }

  private reachCommitPoint(t: Txn, commitTs: Timestamp): void {
    t.state = 'committed';
    t.commitTs = commitTs;
    for (const k of t.order) this.versions[k].push({ commitTs, startTs: t.startTs, value: t.writes.get(k) ?? null });
  }

  private finished(t: Txn | undefined): boolean {
    return t === undefined || t.state === 'aborted' || (t.state === 'committed' && t.committedKeys.size === t.order.length);
  }

  async run(c: Cmd): Promise<void> {
    switch (c.t) {
      case 'step':
        return this.step(c);
      case 'abort': {
        const t = this.txns[c.txn];
        if (t?.state === 'running') await this.abort(t);
        return;
      }
      case 'read':
        return this.read(c.key, this.readTs(c.back));
      case 'scan':
        return this.scan(this.readTs(c.back));
      case 'resolve': {
        const lock = await this.view.lock(keyOf(c.key));
        if (lock !== undefined) await this.resolve(keyOf(c.key), lock, 0n);
        return;
      }
      case 'gc':
        return this.gc();
      case 'tick':
        this.now += BigInt(c.ms) << 18n;
        return;
    }
  }

  private async step(c: Extract<Cmd, { t: 'step' }>): Promise<void> {
    const t = this.txns[c.txn];
    if (t === undefined || this.finished(t)) return this.begin(c);
    if (t.state === 'committed') return this.commitNext(t);
    if (t.pessimistic && t.locked < t.order.length) return this.lockNext(t);
    if (t.commitKind === 'onePc') return this.onePc(t);
    if (t.prewritten < t.order.length) return this.prewriteNext(t);
    return this.commitPrimary(t);
  }

  private begin(c: Extract<Cmd, { t: 'step' }>): void {
    const startTs = this.tso();
    const writes = new Map<number, Uint8Array | null>();
    for (let k = 0; k < KEYS.length; k++) {
      if ((c.keysMask & (1 << k)) === 0) continue;
      writes.set(k, (c.delMask & (1 << k)) !== 0 ? null : enc.encode(`${c.long ? 'x'.repeat(300) : ''}v${startTs}`));
    }
    // The primary is the first key in a rotated order, so primaries differ between transactions.
    const keys = [...writes.keys()];
    const rot = Number(startTs % BigInt(keys.length));
    this.txns[c.txn] = {
      startTs,
      commitKind: c.commitKind,
      pessimistic: c.pessimistic,
      forUpdateTs: 0n,
      writes,
      order: [...keys.slice(rot), ...keys.slice(0, rot)],
      locked: 0,
      prewritten: 0,
      minCommitTs: 0n,
      state: 'running',
      committedKeys: new Set(),
    };
  }

  /** Takes one more pessimistic lock at a fresh for-update ts (a statement of the transaction). */
  private async lockNext(t: Txn): Promise<void> {
    const forUpdateTs = this.tso();
    const k = t.order[t.locked];
    const r = await acquirePessimisticLock(this.view, { key: keyOf(k), primary: keyOf(t.order[0]), startTs: t.startTs, forUpdateTs, lockTtlMs: TTL_MS, shouldNotExist: false, returnValue: false });
    if (!r.ok) {
      // A newer commit: the statement retries at a newer for-update ts (next step). Its own
      // rollback (resolved after its TTL): the transaction is over. A lock: wait (next step).
      if (r.error.kind === 'WriteConflict' && r.error.conflictStartTs === t.startTs) return this.abort(t);
      expect(['WriteConflict', 'KeyIsLocked']).toContain(r.error.kind);
      return;
    }
    this.cfs.apply(r.ops);
    this.counts.pessimisticLocks++;
    t.locked++;
    t.forUpdateTs = maxTs(t.forUpdateTs, forUpdateTs);
  }

  private async onePc(t: Txn): Promise<void> {
    const commitTs = maxTs(this.tso(), asyncCommitMinTs(t.startTs, t.forUpdateTs, this.maxTs));
    const mutations = t.order.map((k) => this.mutation(t, k));
    const r = await prewrite(this.view, { ...this.props(t), mode: { kind: 'onePc', commitTs } }, mutations);
    if (!r.ok) {
      for (const e of r.errors) expect(['KeyIsLocked', 'WriteConflict', 'TxnNotFound', 'CommitTsExpired']).toContain(e.kind);
      return this.abort(t);
    }
    this.cfs.apply(r.ops);
    this.counts.onePc++;
    this.reachCommitPoint(t, commitTs);
    t.committedKeys = new Set(t.order);
  }

  private async prewriteNext(t: Txn): Promise<void> {
    const r = await prewriteKey(this.view, this.props(t), this.mutation(t, t.order[t.prewritten]));
    if (!r.ok) {
      expect(['KeyIsLocked', 'WriteConflict', 'TxnNotFound']).toContain(r.error.kind);
      return this.abort(t);
    }
    this.cfs.apply(r.ops);
    t.prewritten++;
    t.minCommitTs = maxTs(t.minCommitTs, r.minCommitTs);
    // Async commit: committed once every key is prewritten, at the largest min_commit_ts.
    if (t.commitKind === 'async' && t.prewritten === t.order.length) this.reachCommitPoint(t, t.minCommitTs);
  }

  /**
   * 2PC's commit: one step fetches the commit ts, a later one commits the primary with it, so
   * readers may push the primary in between (`CommitTsExpired`: fetch a new one).
   */
  private async commitPrimary(t: Txn): Promise<void> {
    if (t.pendingCommitTs === undefined) {
      t.pendingCommitTs = this.tso();
      return;
    }
    const commitTs = t.pendingCommitTs;
    t.pendingCommitTs = undefined;
    const r = await commit(this.view, keyOf(t.order[0]), t.startTs, commitTs);
    if (!r.ok && r.error.kind === 'CommitTsExpired') {
      this.counts.commitTsExpired++;
      return;
    }
    if (!r.ok) {
      // Rolled back by a resolver after its TTL.
      expect(r.error.kind, showError(r.error)).toBe('TxnNotFound');
      return this.abort(t);
    }
    this.cfs.apply(r.ops);
    this.reachCommitPoint(t, commitTs);
    t.committedKeys.add(t.order[0]);
  }

  private async commitNext(t: Txn): Promise<void> {
    const k = t.order.find((x) => !t.committedKeys.has(x));
    if (k === undefined) return;
    const r = this.apply(await commit(this.view, keyOf(k), t.startTs, t.commitTs!));
    expect(r.commitTs).toBe(t.commitTs);
    t.committedKeys.add(k);
  }

  /** The owner gives up before its commit point: rolls back every key it may have locked. */
  private async abort(t: Txn): Promise<void> {
    for (const k of t.order) this.apply(await rollback(this.view, keyOf(k), t.startTs));
    t.state = 'aborted';
  }

  /** The owner finishes a committed transaction: commits the keys still locked. */
  private async finish(t: Txn): Promise<void> {
    // Only the keys still locked: GC may have collected the records of the others already.
    for (const k of t.order) if (!t.committedKeys.has(k)) this.apply(await commit(this.view, keyOf(k), t.startTs, t.commitTs!));
    t.committedKeys = new Set(t.order);
  }

  /** A fresh ts, or one `back` logical steps in the past (never below the GC safe point). */
  private readTs(back: number): Timestamp {
    return back === 0 ? this.tso() : maxTs(this.now - BigInt(back), this.safePoint, 1n);
  }

  /** Scans every key at `ts`, resolving one lock it meets; the result must match the model. */
  private async scan(ts: Timestamp): Promise<void> {
    this.maxTs = maxTs(this.maxTs, ts);
    let r = await scan(this.view, {}, ts, { limit: KEYS.length });
    if (!r.ok && r.error.kind === 'KeyIsLocked') {
      const lock = (await this.view.lock(r.error.key))!;
      await this.resolve(r.error.key, lock, ts);
      r = await scan(this.view, {}, ts, { limit: KEYS.length });
    }
    if (!r.ok) return;
    this.counts.scans++;
    expect(r.nextKey).toBeUndefined();
    const seen = new Map(r.pairs.map((p) => [dec.decode(p.key), dec.decode(p.value)]));
    for (let k = 0; k < KEYS.length; k++) {
      expect(seen.get(KEYS[k]) ?? null, `scan ${KEYS[k]}@${ts}`).toBe(this.expectedAt(k, ts));
      this.history.push({ k, ts, seen: seen.get(KEYS[k]) ?? null });
    }
  }

  private async read(k: number, ts: Timestamp): Promise<void> {
    this.maxTs = maxTs(this.maxTs, ts);
    this.counts.reads++;
    let r = await read(this.view, keyOf(k), ts);
    if (!r.ok && r.error.kind === 'KeyIsLocked') {
      const lock = (await this.view.lock(keyOf(k)))!;
      const status = await this.resolve(keyOf(k), lock, ts);
      // The primary will commit above the read ts (pushed, or an async-commit ts): read past
      // the lock, as client-go's resolver does.
      const bypass = status?.kind === 'locked' && status.lock.minCommitTs > ts ? { bypassLocks: [lock.startTs] } : {};
      r = await read(this.view, keyOf(k), ts, bypass);
      if (Object.keys(bypass).length > 0 && r.ok) this.counts.bypassed++;
    }
    if (!r.ok) return;
    this.counts.readsChecked++;
    const seen = r.value === undefined ? null : dec.decode(r.value);
    expect(seen, `read ${KEYS[k]}@${ts}`).toBe(this.expectedAt(k, ts));
    this.history.push({ k, ts, seen });
  }

  /** The model's value of key `k` as of `ts`: its newest committed write at or below `ts`. */
  private expectedAt(k: number, ts: Timestamp): string | null {
    const newest = this.versions[k].filter((v) => v.commitTs <= ts).sort((a, b) => (a.commitTs < b.commitTs ? -1 : 1)).at(-1);
    return newest?.value == null ? null : dec.decode(newest.value);
  }

  /** A lock resolver (client-go's `lock_resolver.go`, reduced): asks the primary, then follows it. */
  private async resolve(key: Uint8Array, lock: Lock, callerStartTs: Timestamp): Promise<TxnStatus> {
    this.maxTs = maxTs(this.maxTs, callerStartTs);
    const currentTs = this.tso();
    const { status } = this.apply(await checkTxnStatus(this.view, { primaryKey: lock.primary, lockTs: lock.startTs, callerStartTs, currentTs, rollbackIfNotExist: true }));
    if (status.kind === 'committed') {
      this.apply(await resolveLock(this.view, key, lock.startTs, { kind: 'commit', commitTs: status.commitTs }));
    } else if (status.kind === 'rolledBack') {
      this.apply(await resolveLock(this.view, key, lock.startTs, { kind: 'rollback' }));
    } else if (status.lock.useAsyncCommit && isLockExpired(status.lock.startTs, status.lock.ttlMs, currentTs)) {
      await this.resolveAsync(lock.primary, status.lock);
    }
    return status;
  }

  private async resolveAsync(primary: Uint8Array, primaryLock: Lock): Promise<void> {
    const { statuses } = this.apply(await checkSecondaryLocks(this.view, primaryLock.secondaries, primaryLock.startTs));
    let commitTs: Timestamp | undefined = primaryLock.minCommitTs;
    for (const s of statuses) {
      if (s.kind === 'rolledBack') commitTs = undefined;
      else if (commitTs !== undefined) commitTs = s.kind === 'committed' ? s.commitTs : maxTs(commitTs, s.lock.minCommitTs);
    }
    for (const k of [primary, ...primaryLock.secondaries]) {
      const resolution = commitTs === undefined ? ({ kind: 'rollback' } as const) : ({ kind: 'commit', commitTs } as const);
      this.apply(await resolveLock(this.view, k, primaryLock.startTs, resolution));
    }
  }

  /** GC at a safe point behind "now" and behind every transaction not yet finished. */
  private async gc(): Promise<void> {
    let safePoint = this.now - (BigInt(GC_LAG_MS) << 18n);
    for (const t of this.txns) if (!this.finished(t)) safePoint = t!.startTs - 1n < safePoint ? t!.startTs - 1n : safePoint;
    if (safePoint <= this.safePoint) return;
    this.safePoint = safePoint;
    const r = await gcRange(this.view, {}, safePoint, KEYS.length);
    expect(r.nextKey).toBeUndefined();
    this.cfs.apply(r.ops);
    this.counts.gcDropped += r.versionsDropped;
  }

  /** Ends the run: every transaction finished by its owner, then the final state is checked. */
  async finishAll(): Promise<void> {
    this.now += 1_000_000n << 18n;
    for (const t of this.txns) {
      if (t === undefined) continue;
      if (t.state === 'committed') await this.finish(t);
      else if (t.state === 'running') await this.abort(t);
    }
    for (const h of this.history) expect(h.seen, `repeat read ${KEYS[h.k]}@${h.ts}`).toBe(this.expectedAt(h.k, h.ts));
    for (let k = 0; k < KEYS.length; k++) {
      expect(await this.view.lock(keyOf(k)), `lock left on ${KEYS[k]}`).toBeUndefined();
      const actual: Version[] = [];
      for await (const v of this.view.writes(keyOf(k), TS_MAX)) {
        if (v.write.kind !== 'put' && v.write.kind !== 'delete') continue;
        const value = v.write.kind === 'delete' ? null : (v.write.shortValue ?? (await this.view.value(keyOf(k), v.write.startTs))!);
        actual.push({ commitTs: v.commitTs, startTs: v.write.startTs, value });
      }
      const all = this.versions[k].slice().sort((a, b) => (a.commitTs < b.commitTs ? 1 : -1));
      // GC kept everything above the last safe point and the newest put at or below it.
      const above = all.filter((v) => v.commitTs > this.safePoint);
      const visible = all.find((v) => v.commitTs <= this.safePoint);
      const expected = visible?.value != null ? [...above, visible] : above;
      const show = (vs: Version[]) => vs.map((v) => `${v.commitTs}:${v.startTs}:${v.value === null ? 'del' : dec.decode(v.value).slice(-12)}`);
      expect(show(actual), `versions of ${KEYS[k]}`).toEqual(show(expected));
    }
  }
}

describe('model: random transactions against the in-memory view', () => {
  it('never loses, reorders or half-applies a committed write; reads see the newest commit ≤ ts', async () => {
    const totals = { committed: 0, reads: 0, readsChecked: 0, scans: 0, bypassed: 0, commitTsExpired: 0, gcDropped: 0, pessimisticLocks: 0, onePc: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(arbCmd, { minLength: 10, maxLength: 80 }), async (cmds) => {
        const world = new World();
        for (const c of cmds) await world.run(c);
        await world.finishAll();
        totals.committed += world.versions.reduce((n, vs) => n + vs.length, 0);
        for (const key of ['reads', 'readsChecked', 'scans', 'bypassed', 'commitTsExpired', 'gcDropped', 'pessimisticLocks', 'onePc'] as const) totals[key] += world.counts[key];
      }),
      { numRuns: 300 },
    );
    if (process.env.TXN_MODEL_STATS) console.log('model:', totals);
    // The generator must exercise the interesting paths, not just empty runs.
    expect(totals.committed).toBeGreaterThan(100);
    expect(totals.readsChecked).toBeGreaterThan(totals.reads / 2);
    expect(totals.scans).toBeGreaterThan(50);
    expect(totals.bypassed).toBeGreaterThan(5);
    expect(totals.gcDropped).toBeGreaterThan(10);
    expect(totals.pessimisticLocks).toBeGreaterThan(50);
    expect(totals.onePc).toBeGreaterThan(10);
  });
});

/**
 * A model-based property test: random interleavings of a few transactions (2PC and async
 * commit) on a few keys, with readers at fresh and past timestamps that resolve the locks they
 * meet (pushing, TTL expiry, secondary checks), against the in-memory view. A plain model
 * records each transaction's writes at its commit point (2PC: the primary's commit; async
 * commit: the last prewrite, at the largest min_commit_ts). Checked:
 * - every successful read at ts sees exactly the newest committed write ≤ ts;
 * - after everything is finished, each key's put/delete records are exactly the model's, in
 *   commit ts order (nothing committed is lost, reordered or half-applied), and no lock is left;
 * - no rollback ever meets a committed transaction, and the owner's commit never fails by a push.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryCfs,
  MvccReader,
  TS_MAX,
  checkSecondaryLocks,
  checkTxnStatus,
  commit,
  composeTs,
  isLockExpired,
  prewriteKey,
  read,
  resolveLock,
  rollback,
  type ActionResult,
  type Lock,
  type Mutation,
  type Timestamp,
  type TxnProps,
} from '../src/index.ts';

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const TXNS = 4;
const TTL_MS = 50;
const enc = new TextEncoder();
const dec = new TextDecoder();
const keyOf = (i: number): Uint8Array => enc.encode(KEYS[i]);

type Cmd =
  /**
   * Advances one transaction by its next natural step: begin (writing the keys of `keysMask`,
   * deleting those of `delMask`), prewrite one more key, commit the primary (2PC), commit one
   * more key, and, once done, begin again.
   */
  | { t: 'step'; txn: number; async: boolean; keysMask: number; delMask: number; long: boolean }
  | { t: 'abort'; txn: number }
  | { t: 'read'; key: number; back: number }
  | { t: 'resolve'; key: number }
  | { t: 'tick'; ms: number };

const KEYS_MASK_MAX = (1 << KEYS.length) - 1;
const arbStep = fc.record({
  t: fc.constant('step' as const),
  txn: fc.nat(TXNS - 1),
  async: fc.boolean(),
  keysMask: fc.integer({ min: 1, max: KEYS_MASK_MAX }),
  delMask: fc.nat(KEYS_MASK_MAX),
  long: fc.boolean(),
});
const arbCmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: arbStep, weight: 8 },
  { arbitrary: fc.record({ t: fc.constant('abort' as const), txn: fc.nat(TXNS - 1) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('read' as const), key: fc.nat(KEYS.length - 1), back: fc.oneof(fc.constant(0), fc.nat(40)) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('resolve' as const), key: fc.nat(KEYS.length - 1) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 80 }) }), weight: 1 },
);

interface Txn {
  startTs: Timestamp;
  async: boolean;
  /** Key index → value (null: delete). */
  writes: Map<number, Uint8Array | null>;
  /** Keys in prewrite order; the first is the primary. */
  order: number[];
  prewritten: number;
  minCommitTs: Timestamp;
  state: 'prewriting' | 'committed' | 'aborted';
  commitTs?: Timestamp;
  committedKeys: Set<number>;
}

interface Version {
  commitTs: Timestamp;
  startTs: Timestamp;
  value: Uint8Array | null;
}

class World {
  readonly cfs = new MemoryCfs();
  readonly view = new MvccReader(this.cfs);
  private now = composeTs(1000);
  /** The concurrency manager's max_ts: the largest ts read at. */
  private maxTs = 0n;
  readonly txns: (Txn | undefined)[] = [];
  /** The model: per key, committed versions. */
  readonly versions: Version[][] = KEYS.map(() => []);
  reads = 0;
  readsChecked = 0;
  /** Every successful read: a snapshot never changes, so each must still hold at the end. */
  private readonly history: { k: number; ts: Timestamp; seen: string | null }[] = [];

  tso(): Timestamp {
    this.now += 1n;
    return this.now;
  }

  private apply<T extends object>(r: ActionResult<T>): T & { ok: true } {
    if (!r.ok) throw new Error(`unexpected ${JSON.stringify(r.error, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? dec.decode(v) : v))}`);
    this.cfs.apply(r.ops);
    return r;
  }

  private props(t: Txn): TxnProps {
    const primary = keyOf(t.order[0]);
    const secondaries = t.order.slice(1).map(keyOf);
    return {
      primary,
      startTs: t.startTs,
      lockTtlMs: TTL_MS,
      txnSize: t.order.length,
      forUpdateTs: 0n,
      mode: t.async ? { kind: 'asyncCommit', secondaries, maxTs: this.maxTs } : { kind: 'twoPc' },
    };
  }

  private reachCommitPoint(t: Txn, commitTs: Timestamp): void {
    t.state = 'committed';
    t.commitTs = commitTs;
    for (const k of t.order) this.versions[k].push({ commitTs, startTs: t.startTs, value: t.writes.get(k) ?? null });
  }

  async run(c: Cmd): Promise<void> {
    switch (c.t) {
      case 'step':
        return this.step(c);
      case 'abort': {
        const t = this.txns[c.txn];
        if (t === undefined || t.state !== 'prewriting') return;
        return this.abort(t);
      }
      case 'read':
        return this.read(c.key, c.back === 0 ? this.tso() : this.now - BigInt(c.back) > 0n ? this.now - BigInt(c.back) : 1n);
      case 'resolve': {
        const lock = await this.view.lock(keyOf(c.key));
        if (lock !== undefined) await this.resolve(keyOf(c.key), lock, 0n);
        return;
      }
      case 'tick':
        this.now += BigInt(c.ms) << 18n;
        return;
    }
  }

  private async step(c: Extract<Cmd, { t: 'step' }>): Promise<void> {
    const t = this.txns[c.txn];
    if (t === undefined || t.state === 'aborted' || (t.state === 'committed' && t.committedKeys.size === t.order.length)) {
      this.begin(c);
      return;
    }
    if (t.state === 'prewriting' && t.prewritten < t.order.length) return this.prewriteNext(c.txn);
    return this.commitNext(c.txn);
  }

  private begin(c: Extract<Cmd, { t: 'step' }>): void {
    const startTs = this.tso();
    const writes = new Map<number, Uint8Array | null>();
    for (let k = 0; k < KEYS.length; k++) {
      if ((c.keysMask & (1 << k)) === 0) continue;
      writes.set(k, (c.delMask & (1 << k)) !== 0 ? null : enc.encode(`${c.long ? 'x'.repeat(300) : ''}v${startTs}`));
    }
    // The primary is the first key in a rotated order, so primaries differ between transactions.
    const order = [...writes.keys()];
    const rot = Number(startTs % BigInt(order.length));
    this.txns[c.txn] = { startTs, async: c.async, writes, order: [...order.slice(rot), ...order.slice(0, rot)], prewritten: 0, minCommitTs: 0n, state: 'prewriting', committedKeys: new Set() };
  }

  private async prewriteNext(i: number): Promise<void> {
    const t = this.txns[i]!;
    const k = t.order[t.prewritten];
    const value = t.writes.get(k) ?? null;
    const m: Mutation = value === null ? { op: 'delete', key: keyOf(k) } : { op: 'put', key: keyOf(k), value };
    const r = await prewriteKey(this.view, this.props(t), m);
    if (!r.ok) {
      expect(['KeyIsLocked', 'WriteConflict', 'TxnNotFound']).toContain(r.error.kind);
      return this.abort(t);
    }
    this.cfs.apply(r.ops);
    t.prewritten++;
    if (r.minCommitTs > t.minCommitTs) t.minCommitTs = r.minCommitTs;
    // Async commit: committed once every key is prewritten, at the largest min_commit_ts.
    if (t.async && t.prewritten === t.order.length) this.reachCommitPoint(t, t.minCommitTs);
  }

  private async commitNext(i: number): Promise<void> {
    const t = this.txns[i];
    if (t === undefined) return;
    if (t.state === 'prewriting' && !t.async && t.prewritten === t.order.length) {
      const commitTs = this.tso();
      const r = await commit(this.view, keyOf(t.order[0]), t.startTs, commitTs);
      if (!r.ok) {
        // Rolled back by a resolver after its TTL; never refused for a push (TSO ts are fresh).
        expect(r.error.kind).toBe('TxnNotFound');
        return this.abort(t);
      }
      this.cfs.apply(r.ops);
      this.reachCommitPoint(t, commitTs);
      t.committedKeys.add(t.order[0]);
      return;
    }
    if (t.state !== 'committed') return;
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
  async finish(t: Txn): Promise<void> {
    for (const k of t.order) this.apply(await commit(this.view, keyOf(k), t.startTs, t.commitTs!));
    t.committedKeys = new Set(t.order);
  }

  private async read(k: number, ts: Timestamp): Promise<void> {
    if (ts > this.maxTs) this.maxTs = ts;
    this.reads++;
    let r = await read(this.view, keyOf(k), ts);
    if (!r.ok && r.error.kind === 'KeyIsLocked') {
      const lock = await this.view.lock(keyOf(k));
      await this.resolve(keyOf(k), lock!, ts);
      r = await read(this.view, keyOf(k), ts);
    }
    if (!r.ok) return;
    this.readsChecked++;
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
  async resolve(key: Uint8Array, lock: Lock, callerStartTs: Timestamp): Promise<void> {
    if (callerStartTs > this.maxTs) this.maxTs = callerStartTs;
    const currentTs = this.tso();
    const { status } = this.apply(await checkTxnStatus(this.view, { primaryKey: lock.primary, lockTs: lock.startTs, callerStartTs, currentTs, rollbackIfNotExist: true }));
    if (status.kind === 'committed') {
      this.apply(await resolveLock(this.view, key, lock.startTs, { kind: 'commit', commitTs: status.commitTs }));
    } else if (status.kind === 'rolledBack') {
      this.apply(await resolveLock(this.view, key, lock.startTs, { kind: 'rollback' }));
    } else if (status.lock.useAsyncCommit && isLockExpired(status.lock.startTs, status.lock.ttlMs, currentTs)) {
      await this.resolveAsync(lock.primary, status.lock);
    }
  }

  private async resolveAsync(primary: Uint8Array, primaryLock: Lock): Promise<void> {
    const { statuses } = this.apply(await checkSecondaryLocks(this.view, primaryLock.secondaries, primaryLock.startTs));
    let commitTs: Timestamp | undefined = primaryLock.minCommitTs;
    for (const s of statuses) {
      if (s.kind === 'rolledBack') commitTs = undefined;
      else if (commitTs !== undefined) commitTs = s.kind === 'committed' ? s.commitTs : s.lock.minCommitTs > commitTs ? s.lock.minCommitTs : commitTs;
    }
    for (const k of [primary, ...primaryLock.secondaries]) {
      const resolution = commitTs === undefined ? ({ kind: 'rollback' } as const) : ({ kind: 'commit', commitTs } as const);
      this.apply(await resolveLock(this.view, k, primaryLock.startTs, resolution));
    }
  }

  /** Ends the run: every transaction finished by its owner, then the final state is checked. */
  async finishAll(): Promise<void> {
    this.now += 1_000_000n << 18n;
    for (const t of this.txns) {
      if (t === undefined) continue;
      if (t.state === 'committed') await this.finish(t);
      else if (t.state === 'prewriting') await this.abort(t);
    }
    // A commit "in the past" (at or below a ts already read at) would change an earlier read.
    for (const h of this.history) expect(h.seen, `repeat read ${KEYS[h.k]}@${h.ts}`).toBe(this.expectedAt(h.k, h.ts));
    for (let k = 0; k < KEYS.length; k++) {
      expect(await this.view.lock(keyOf(k)), `lock left on ${KEYS[k]}`).toBeUndefined();
      const actual: Version[] = [];
      for await (const v of this.view.writes(keyOf(k), TS_MAX)) {
        if (v.write.kind !== 'put' && v.write.kind !== 'delete') continue;
        const value = v.write.kind === 'delete' ? null : v.write.shortValue ?? (await this.view.value(keyOf(k), v.write.startTs))!;
        actual.push({ commitTs: v.commitTs, startTs: v.write.startTs, value });
      }
      const expected = this.versions[k].slice().sort((a, b) => (a.commitTs < b.commitTs ? 1 : -1));
      const show = (vs: Version[]) => vs.map((v) => `${v.commitTs}:${v.startTs}:${v.value === null ? 'del' : dec.decode(v.value).slice(-12)}`);
      expect(show(actual), `versions of ${KEYS[k]}`).toEqual(show(expected));
    }
  }
}

describe('model: random transactions against the in-memory view', () => {
  it('never loses, reorders or half-applies a committed write; reads see the newest commit ≤ ts', async () => {
    let reads = 0;
    let checked = 0;
    let committed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbCmd, { minLength: 10, maxLength: 80 }), async (cmds) => {
        const world = new World();
        for (const c of cmds) await world.run(c);
        await world.finishAll();
        reads += world.reads;
        checked += world.readsChecked;
        committed += world.versions.reduce((n, vs) => n + vs.length, 0);
      }),
      { numRuns: 300 },
    );
    // The generator must exercise the interesting paths, not just empty runs.
    if (process.env.TXN_MODEL_STATS) console.log(`model: committed=${committed} reads=${reads} checked=${checked}`);
    expect(committed).toBeGreaterThan(100);
    expect(checked).toBeGreaterThan(reads / 2);
  });
});

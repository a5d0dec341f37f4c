/**
 * A write command's local read on a new leader (`txn/scheduler.ts` `readsLocally`, FINDINGS
 * T12): the old leader commits a 1PC put of `k` with one follower's ack and dies before its
 * commit index reaches anyone. That follower wins the next election and learns the put is
 * committed only from its own term's first entry, so the put's apply lands in a round after it
 * already leads with a commit of its term. A 1PC put of `k` by a transaction that started
 * before the first put committed must meet `WriteConflict`: the command must not read the
 * engine before the old term's entries are in it. With `localReadSkipsCatchUp` (the read taken
 * at once) the second put commits over the first: a lost update.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine, ForwardingEngine, type WriteBatch, type WriteOptions } from '@peerkv/storage';
import { CF_WRITE } from '@peerkv/txn';
import { storeColumnFamilies, type Store, type StoreOptions } from '../src/index.ts';
import { until } from './helpers.ts';
import { REGION, TXN_CFS, closeAll, errorKinds, k, prewrite, put, router, sends, start, stores, ts, value } from './txn-harness.ts';

afterEach(closeAll);

/** Holds, while `holding`, the first write that puts into `write` (an apply of a txn command), until `release`. */
class ApplyHoldingEngine extends ForwardingEngine {
  holding = false;
  held: { release: () => void } | undefined;
  override write(batch: WriteBatch, o: WriteOptions): Promise<void> {
    if (this.holding && this.held === undefined && batch.ops.some((op) => op.type === 'put' && op.cf === CF_WRITE)) {
      return new Promise<void>((resolve, reject) => {
        this.held = { release: () => void this.inner.write(batch, o).then(resolve, reject) };
      });
    }
    return this.inner.write(batch, o);
  }
}

interface Raw {
  raw: { status(): { commit: number; term: number }; readIndex(ctx: Uint8Array): void };
  appliedVisible: number;
  proposals: unknown[];
}
const peerOf = (s: Store): Raw => (s as unknown as { ctx: { peers: Map<number, Raw> } }).ctx.peers.get(REGION.id)!;
const leads = (s: Store): boolean => s.status().regions.some((r) => r.regionId === REGION.id && r.role === 'leader');

/**
 * Runs the scenario on stores 1–3 (store 2's engine holds its apply of the first put; its
 * mutations as given) and returns the second put's answer.
 */
async function lateApplyOnNewLeader(mutations: StoreOptions['unsafeTestMutations']): Promise<{ answer: Awaited<ReturnType<typeof prewrite>>; readIndexes: number }> {
  const engine = new ApplyHoldingEngine(await MemoryEngine.open({ columnFamilies: storeColumnFamilies(TXN_CFS) }));
  await start(1);
  const s2 = await start(2, TXN_CFS, { engine, ...(mutations ? { unsafeTestMutations: mutations } : {}) });
  await start(3);
  for (const { store } of stores.values()) await store.createRegion(REGION);
  const s1 = stores.get(1)!.store;
  s1.campaign(REGION.id);
  await until('store 1 leads', () => leads(s1));
  value(await prewrite(ts(50), [put('warm', 'w')], k('warm'), { mode: { kind: 'onePc' } }, s1));
  await until('store 2 applied the warm-up', () => peerOf(s2).appliedVisible === peerOf(s1).appliedVisible);
  // Store 3 hears nothing more from store 1; store 2 gets the put's entry but never its commit.
  router.partition([1], [3]);
  const before = peerOf(s1).raw.status().commit;
  sends.drop = (from, to, messages) => from === 1 && to === 2 && messages.some((m) => m.message.commit > before);
  engine.holding = true;
  const first = value(await prewrite(ts(100), [put('k', 'first')], k('k'), { mode: { kind: 'onePc' } }, s1));
  expect(first.onePcCommitTs).toBeGreaterThan(ts(90));
  // Store 1 dies with the commit known only to itself; store 2 (which has the entry) wins.
  router.partition([1], [2, 3]);
  await until('store 2 leads and holds its apply of the put', () => leads(s2) && engine.held !== undefined, 10_000);
  expect(peerOf(s2).raw.status().commit).toBeGreaterThan(before + 1);
  const peer = peerOf(s2);
  let readIndexes = 0;
  const readIndex = peer.raw.readIndex.bind(peer.raw);
  peer.raw.readIndex = (ctx) => {
    readIndexes++;
    readIndex(ctx);
  };
  // A transaction that started (and read k) before the first put committed puts k by 1PC.
  const second = prewrite(ts(90), [put('k', 'second')], k('k'), { mode: { kind: 'onePc' } }, s2);
  // The command went past its read (it proposed), or waits for it behind a ReadIndex: then the apply may land.
  await until('the command read or waits to', () => readIndexes > 0 || peer.proposals.length > 0);
  engine.held!.release();
  return { answer: await second, readIndexes };
}

describe('a write command on a new leader whose old-term apply is in flight', () => {
  it('waits for the apply and meets WriteConflict over the old leader\'s put', { timeout: 30_000 }, async () => {
    const { answer, readIndexes } = await lateApplyOnNewLeader(undefined);
    expect(errorKinds(answer)).toEqual(['WriteConflict']);
    expect(readIndexes).toBeGreaterThan(0);
  });

  it('with localReadSkipsCatchUp it reads the engine without the put and commits over it: the test above catches it', { timeout: 30_000 }, async () => {
    const { answer, readIndexes } = await lateApplyOnNewLeader({ localReadSkipsCatchUp: true });
    expect(answer.ok && answer.value.ok).toBe(true);
    expect(readIndexes).toBe(0);
  });
});

/**
 * Conformance cases of `KvEngine.snapshot()`: a point-in-time view across column families
 * that later writes (put, delete, deleteRange) never reach, scans on it with the engine's
 * options, and its lifecycle (idempotent release, typed failures after release and after
 * engine close, the bound on open snapshots).
 */
import { SNAPSHOTS_OPEN_MAX_DEFAULT, WriteBatch, type KvEngine, type KvSnapshot } from '../../src/engine.ts';
import { bytesEqual, equal, jsonEqual, ok, rejects } from './check.ts';
import type { ConformanceCase } from './harness.ts';
import { CFS, collect, fill, keyOf, keysOf, range, relaxed, s, strict, withEngine } from './helpers.ts';

/** `e.snapshot()`, failing the case when the engine has none. */
function snapshotOf(e: KvEngine): Promise<KvSnapshot> {
  ok(e.snapshot, `${e.kind} engine has snapshot()`);
  return e.snapshot();
}

/** Keys 0..9 in every column family, values `<cf>-v<i>`. */
async function fillAll(e: KvEngine): Promise<void> {
  const wb = new WriteBatch();
  for (const cf of CFS) for (let i = 0; i < 10; i++) wb.put(cf, keyOf(i), s(`${cf}-v${i}`));
  await e.write(wb, strict);
}

/** In every column family: overwrite 1, delete 2, delete [5, 8), add 100. */
function laterWrites(): WriteBatch {
  const wb = new WriteBatch();
  for (const cf of CFS) {
    wb.put(cf, keyOf(1), s('new')).delete(cf, keyOf(2)).deleteRange(cf, keyOf(5), keyOf(8)).put(cf, keyOf(100), s('new'));
  }
  return wb;
}

/** The snapshot still holds keys 0..9 with their first values in every column family. */
async function checkFirstState(snap: KvSnapshot, what: string): Promise<void> {
  for (const cf of CFS) {
    jsonEqual(await keysOf(snap, cf), range(0, 10), `${what}: ${cf} keys`);
    for (const i of [1, 2, 6]) bytesEqual(await snap.get(cf, keyOf(i)), s(`${cf}-v${i}`), `${what}: ${cf} key ${i}`);
    bytesEqual(await snap.get(cf, keyOf(100)), undefined, `${what}: ${cf} key added later`);
  }
}

const BALANCE_TOTAL = 1000;
const encodeAmount = (n: number): Uint8Array => s(String(n));
const decodeAmount = (v: Uint8Array | undefined): number => Number(new TextDecoder().decode(v));

/** Every snapshot case, in a stable order. */
export function snapshotCases(): ConformanceCase[] {
  return [
    {
      name: 'snapshot: later puts, deletes and range deletes are invisible in every column family',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          const snap = await snapshotOf(e);
          await e.write(laterWrites(), strict);
          await checkFirstState(snap, 'after a completed write');
          for (const cf of CFS) {
            jsonEqual(await keysOf(e, cf), [0, 1, 3, 4, 8, 9, 100], `engine ${cf} sees the write`);
            bytesEqual(await e.get(cf, keyOf(1)), s('new'), `engine ${cf} key 1`);
          }
          await snap.release();
        }),
    },
    {
      name: 'snapshot: getSync, where offered, reads the snapshot, not later writes, and fails once released',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          const snap = await snapshotOf(e);
          if (snap.getSync === undefined) return void (await snap.release()); // optional
          await e.write(laterWrites(), strict);
          for (const cf of CFS) {
            for (const i of [1, 2, 6]) bytesEqual(snap.getSync(cf, keyOf(i)), s(`${cf}-v${i}`), `${cf} key ${i}`);
            bytesEqual(snap.getSync(cf, keyOf(100)), undefined, `${cf} key added later`);
          }
          await snap.release();
          let thrown: unknown;
          try {
            snap.getSync('default', keyOf(1));
          } catch (err) {
            thrown = err;
          }
          equal((thrown as { kind?: string } | undefined)?.kind, 'SnapshotReleased', 'getSync after release');
        }),
    },
    {
      name: 'snapshot: a write issued right after the call is not in it, one completed before is',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          await e.write(new WriteBatch().put('raft', keyOf(50), s('before')), relaxed);
          const taking = snapshotOf(e);
          const writing = e.write(laterWrites(), relaxed);
          const snap = await taking;
          await writing;
          bytesEqual(await snap.get('raft', keyOf(50)), s('before'), 'completed write is in');
          bytesEqual(await snap.get('raft', keyOf(100)), undefined, 'write issued after the call is out');
          bytesEqual(await snap.get('lock', keyOf(6)), s('lock-v6'), 'range delete issued after the call is out');
          await snap.release();
        }),
    },
    {
      name: 'snapshot: a write in flight during the call is in it whole or not at all',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          for (let round = 0; round < 5; round++) {
            const wb = new WriteBatch();
            for (const cf of CFS) wb.put(cf, keyOf(200 + round), s(`r${round}`)).delete(cf, keyOf(round));
            const writing = e.write(wb, relaxed);
            const snap = await snapshotOf(e);
            await writing;
            const present: boolean[] = [];
            for (const cf of CFS) {
              const put = (await snap.get(cf, keyOf(200 + round))) !== undefined;
              const deleted = (await snap.get(cf, keyOf(round))) === undefined;
              equal(put, deleted, `round ${round} ${cf}: put and delete of one batch together`);
              present.push(put);
            }
            ok(present.every((p) => p === present[0]), `round ${round}: the batch is in every column family or none (${present})`);
            await snap.release();
          }
        }),
    },
    {
      name: 'snapshot: reads across two column families are consistent while writes go on',
      run: (h) =>
        withEngine(h, async (e) => {
          // Money moves between an account in `default` and one in `lock`, one atomic batch a move.
          const account = keyOf(7);
          await e.write(new WriteBatch().put('default', account, encodeAmount(BALANCE_TOTAL)).put('lock', account, encodeAmount(0)), strict);
          let moved = 0;
          const moves = (async () => {
            for (let i = 1; i <= 40; i++) {
              await e.write(new WriteBatch().put('default', account, encodeAmount(BALANCE_TOTAL - i)).put('lock', account, encodeAmount(i)), relaxed);
              moved = i;
            }
          })();
          const seen = new Set<number>();
          while (moved < 40) {
            const snap = await snapshotOf(e);
            try {
              const a = decodeAmount(await snap.get('default', account));
              const lockSide = (await collect(snap, 'lock', { start: account, limit: 1 }))[0]?.value;
              await new Promise<void>((r) => setTimeout(r, 0)); // let writes land between the two reads
              const b = decodeAmount(lockSide);
              const again = decodeAmount(await snap.get('default', account));
              equal(a + b, BALANCE_TOTAL, `snapshot sum (default ${a}, lock ${b})`);
              equal(again, a, 'a re-read in the same snapshot');
              seen.add(b);
            } finally {
              await snap.release();
            }
          }
          await moves;
          ok(seen.size >= 1, 'took snapshots while moving');
          const final = await snapshotOf(e);
          equal(decodeAmount(await final.get('lock', account)), 40, 'a snapshot after the writes sees them');
          await final.release();
        }),
    },
    {
      name: 'snapshot: scans forward, reverse, with limits and pages, as the engine scans',
      run: (h) =>
        withEngine(h, async (e) => {
          await fill(e, 'default', 50);
          const snap = await snapshotOf(e);
          await e.write(new WriteBatch().deleteRange('default', keyOf(10), keyOf(30)).put('default', keyOf(15), s('late')).put('default', keyOf(60), s('late')), relaxed);
          jsonEqual(await keysOf(snap, 'default', { start: keyOf(10), end: keyOf(20), pageSize: 3 }), range(10, 20), 'forward paged');
          jsonEqual(await keysOf(snap, 'default', { start: keyOf(10), end: keyOf(20), reverse: true, pageSize: 4 }), range(10, 20).reverse(), 'reverse paged');
          jsonEqual(await keysOf(snap, 'default', { start: keyOf(45), pageSize: 2 }), range(45, 50), 'open end');
          jsonEqual(await keysOf(snap, 'default', { end: keyOf(3), reverse: true }), [2, 1, 0], 'open start reverse');
          jsonEqual(await keysOf(snap, 'default', { start: keyOf(5), limit: 7, pageSize: 3 }), range(5, 12), 'limit across pages');
          jsonEqual(await keysOf(snap, 'default', { end: keyOf(40), reverse: true, limit: 2 }), [39, 38], 'reverse limit');
          jsonEqual(await keysOf(snap, 'default', { start: keyOf(20), end: keyOf(20) }), [], 'empty range');
          jsonEqual(await keysOf(snap, 'default', { limit: 0 }), [], 'limit 0');
          bytesEqual((await collect(snap, 'default', { start: keyOf(15), limit: 1 }))[0]?.value, s('v15'), 'scan returns snapshot values');
          // Writes between pages of one scan never reach it.
          const got: number[] = [];
          for await (const p of snap.scan('default', { pageSize: 5 })) {
            got.push(new DataView(p.key.buffer, p.key.byteOffset).getUint32(0));
            if (got.length % 5 === 0) await e.write(new WriteBatch().delete('default', keyOf(got.length + 3)).put('default', keyOf(1000 + got.length), s('x')), relaxed);
          }
          jsonEqual(got, range(0, 50), 'full scan across concurrent writes');
          await rejects(() => collect(snap, 'nope'), 'StorageError', 'InvalidArgument', 'unknown cf scan');
          await rejects(() => snap.get('nope', keyOf(1)), 'StorageError', 'InvalidArgument', 'unknown cf get');
          ok((await snap.approximateSize('default', {})) > 0, 'approximateSize of a filled cf');
          await snap.release();
        }),
    },
    {
      name: 'snapshot: release is idempotent; use after release fails SnapshotReleased',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          const snap = await snapshotOf(e);
          await snap.release();
          await snap.release();
          await snap.close();
          await rejects(() => snap.get('default', keyOf(1)), 'StorageError', 'SnapshotReleased', 'get after release');
          await rejects(() => collect(snap, 'default'), 'StorageError', 'SnapshotReleased', 'scan after release');
          await rejects(() => snap.approximateSize('default', {}), 'StorageError', 'SnapshotReleased', 'approximateSize after release');
          bytesEqual(await e.get('default', keyOf(1)), s('default-v1'), 'engine unaffected');
          const next = await snapshotOf(e);
          bytesEqual(await next.get('raft', keyOf(3)), s('raft-v3'), 'a new snapshot works');
          await next.release();
        }),
    },
    {
      name: 'snapshot: engine close releases it; use after close fails Closed',
      run: async (h) => {
        const e = await h.open(CFS);
        await fillAll(e);
        const snap = await snapshotOf(e);
        await e.close();
        await rejects(() => snap.get('default', keyOf(1)), 'StorageError', 'Closed', 'get after engine close');
        await rejects(() => collect(snap, 'lock'), 'StorageError', 'Closed', 'scan after engine close');
        await snap.release();
        await rejects(() => snapshotOf(e), 'StorageError', 'Closed', 'snapshot() after engine close');
      },
    },
    {
      name: 'snapshot: at most snapshotsOpenMax open, typed TooManySnapshots beyond',
      run: (h) =>
        withEngine(h, async (e) => {
          await fillAll(e);
          // All asked at once: the bound holds also for snapshots still being taken.
          const tries = await Promise.allSettled(Array.from({ length: SNAPSHOTS_OPEN_MAX_DEFAULT + 3 }, () => snapshotOf(e)));
          const open = tries.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
          equal(open.length, SNAPSHOTS_OPEN_MAX_DEFAULT, 'snapshots open');
          for (const t of tries) {
            if (t.status === 'rejected') equal((t.reason as { kind?: string }).kind, 'TooManySnapshots', 'refusal kind');
          }
          await rejects(() => snapshotOf(e), 'StorageError', 'TooManySnapshots', 'one more');
          await open[0].release();
          await open[0].release(); // idempotent: frees one slot, not two
          const again = await snapshotOf(e);
          await rejects(() => snapshotOf(e), 'StorageError', 'TooManySnapshots', 'bound after one release');
          bytesEqual(await again.get('lock', keyOf(9)), s('lock-v9'), 'the new one reads');
          await Promise.all([again, ...open].map((x) => x.release()));
          const last = await snapshotOf(e);
          await last.release();
        }),
    },
  ];
}

/**
 * The `KvEngine` conformance suite: one list of cases every engine must pass (memory,
 * LevelDB, IndexedDB on fake-indexeddb in Node, IndexedDB in a Chromium Worker). Framework
 * free: vitest wraps each case in `it`, the browser Worker runs them in a loop.
 */
import { WriteBatch } from '../../src/engine.ts';
import { bytesEqual, equal, jsonEqual, ok, rejects } from './check.ts';
import type { ConformanceCase, HarnessFactory } from './harness.ts';
import { b, CFS, collect, fill, keyOf, keysOf, range, relaxed, s, strict, withEngine } from './helpers.ts';
import { snapshotCases } from './snapshot-cases.ts';

export { keyOf };
export type { ConformanceCase };

/** Every conformance case, in a stable order. */
export function conformanceCases(): ConformanceCase[] {
  return [
    {
      name: 'put, get, overwrite and missing keys',
      run: (h) =>
        withEngine(h, async (e) => {
          await e.write(new WriteBatch().put('default', s('a'), s('1')).put('default', s('b'), s('2')), relaxed);
          bytesEqual(await e.get('default', s('a')), s('1'), 'a');
          bytesEqual(await e.get('default', s('zz')), undefined, 'missing');
          await e.write(new WriteBatch().put('default', s('a'), s('3')).put('default', s('a'), s('4')), strict);
          bytesEqual(await e.get('default', s('a')), s('4'), 'last put in a batch wins');
          await e.write(new WriteBatch().put('default', s('e'), b()), relaxed);
          bytesEqual(await e.get('default', s('e')), b(), 'empty value');
          await rejects(e.write(new WriteBatch().put('default', b(), s('x')), relaxed), 'StorageError', 'InvalidArgument', 'empty key');
        }),
    },
    {
      name: 'getSync, where the engine offers it, answers what get answers',
      run: (h) =>
        withEngine(h, async (e) => {
          if (e.getSync === undefined) return; // optional: IndexedDB cannot
          await e.write(new WriteBatch().put('default', s('a'), s('1')).put('raft', s('a'), s('r')), relaxed);
          bytesEqual(e.getSync('default', s('a')), s('1'), 'a');
          bytesEqual(e.getSync('raft', s('a')), s('r'), 'per column family');
          bytesEqual(e.getSync('default', s('zz')), undefined, 'missing');
          bytesEqual(e.getSync('default', b()), undefined, 'empty key');
          await e.write(new WriteBatch().delete('default', s('a')), strict);
          bytesEqual(e.getSync('default', s('a')), undefined, 'a resolved delete is seen at once');
        }),
    },
    {
      name: 'keys are ordered bytewise, unsigned, prefix first',
      run: (h) =>
        withEngine(h, async (e) => {
          const keys = [b(0xff), b(0x00, 0x00), b(0x80), b(0x7f, 0xff), b(0x00), b(0x01), b(0xff, 0x00)];
          const wb = new WriteBatch();
          for (const k of keys) wb.put('default', k, k);
          await e.write(wb, relaxed);
          const got = (await collect(e, 'default')).map((p) => Array.from(p.key));
          jsonEqual(got, [[0], [0, 0], [1], [0x7f, 0xff], [0x80], [0xff], [0xff, 0]], 'forward order');
          const rev = (await collect(e, 'default', { reverse: true })).map((p) => Array.from(p.key));
          jsonEqual(rev, [...got].reverse(), 'reverse order');
          const from = (await collect(e, 'default', { start: b(), end: b(0x01) })).map((p) => Array.from(p.key));
          jsonEqual(from, [[0], [0, 0]], 'empty start bound');
        }),
    },
    {
      name: 'column families are separate key spaces',
      run: (h) =>
        withEngine(h, async (e) => {
          await e.write(new WriteBatch().put('default', s('k'), s('d')).put('raft', s('k'), s('r')), relaxed);
          bytesEqual(await e.get('default', s('k')), s('d'), 'default');
          bytesEqual(await e.get('raft', s('k')), s('r'), 'raft');
          bytesEqual(await e.get('lock', s('k')), undefined, 'lock');
          await e.write(new WriteBatch().deleteRange('raft', b(), b(0xff)), relaxed);
          bytesEqual(await e.get('default', s('k')), s('d'), 'range delete stays in its cf');
          equal((await collect(e, 'raft')).length, 0, 'raft emptied');
          await rejects(() => e.get('nope', s('k')), 'StorageError', 'InvalidArgument', 'unknown cf get');
        }),
    },
    {
      name: 'scan: half-open ranges, reverse, limit, across pages',
      run: (h) =>
        withEngine(h, async (e) => {
          await fill(e, 'default', 50);
          jsonEqual(await keysOf(e, 'default', { start: keyOf(10), end: keyOf(20), pageSize: 3 }), range(10, 20), 'forward paged');
          jsonEqual(await keysOf(e, 'default', { start: keyOf(10), end: keyOf(20), reverse: true, pageSize: 4 }), range(10, 20).reverse(), 'reverse paged');
          jsonEqual(await keysOf(e, 'default', { start: keyOf(45), pageSize: 2 }), range(45, 50), 'open end');
          jsonEqual(await keysOf(e, 'default', { end: keyOf(3), reverse: true }), [2, 1, 0], 'open start reverse');
          jsonEqual(await keysOf(e, 'default', { start: keyOf(5), limit: 7, pageSize: 3 }), range(5, 12), 'limit across pages');
          jsonEqual(await keysOf(e, 'default', { end: keyOf(40), reverse: true, limit: 2 }), [39, 38], 'reverse limit');
          jsonEqual(await keysOf(e, 'default', { start: keyOf(20), end: keyOf(20) }), [], 'empty range');
          jsonEqual(await keysOf(e, 'default', { start: keyOf(30), end: keyOf(20) }), [], 'inverted range');
          jsonEqual(await keysOf(e, 'default', { limit: 0 }), [], 'limit 0');
          equal((await keysOf(e, 'default', { pageSize: 7 })).length, 50, 'full scan');
          const pairs = await collect(e, 'default', { start: keyOf(7), limit: 1 });
          bytesEqual(pairs[0].value, s('v7'), 'scan returns values');
        }),
    },
    {
      name: 'scan streams: early exit, writes between pages',
      run: (h) =>
        withEngine(h, async (e) => {
          await fill(e, 'default', 40);
          let seen = 0;
          for await (const _pair of e.scan('default', { pageSize: 4 })) {
            if (++seen === 6) break;
          }
          equal(seen, 6, 'early exit');
          const got: number[] = [];
          for await (const p of e.scan('default', { pageSize: 5 })) {
            got.push(new DataView(p.key.buffer, p.key.byteOffset).getUint32(0));
            if (got.length === 3) await e.write(new WriteBatch().put('default', keyOf(1000), s('late')), relaxed);
          }
          ok(got.length >= 40, 'scan survives a concurrent write');
          jsonEqual(got.slice(0, 40), range(0, 40), 'no key lost or duplicated');
        }),
    },
    {
      name: 'delete and deleteRange apply in batch order',
      run: (h) =>
        withEngine(h, async (e) => {
          await fill(e, 'default', 20);
          const wb = new WriteBatch()
            .delete('default', keyOf(0))
            .put('default', keyOf(100), s('x'))
            .deleteRange('default', keyOf(5), keyOf(10))
            .deleteRange('default', keyOf(50), keyOf(200))
            .put('default', keyOf(150), s('after'))
            .put('default', keyOf(7), s('back'))
            .delete('default', keyOf(999));
          await e.write(wb, strict);
          jsonEqual(await keysOf(e, 'default'), [...range(1, 5), 7, ...range(10, 20), 150], 'keys after batch');
          bytesEqual(await e.get('default', keyOf(7)), s('back'), 'put after range delete');
          await e.write(new WriteBatch().deleteRange('default', keyOf(3), keyOf(3)), relaxed);
          equal((await keysOf(e, 'default')).length, 16, 'empty range delete is a no-op');
        }),
    },
    {
      name: 'an invalid batch is refused whole',
      run: (h) =>
        withEngine(h, async (e) => {
          const wb = new WriteBatch().put('default', s('a'), s('1')).put('nope', s('b'), s('2'));
          await rejects(e.write(wb, relaxed), 'StorageError', 'InvalidArgument', 'unknown cf in batch');
          const bad = new WriteBatch().put('default', s('a'), s('1')).deleteRange('default', s('z'), s('a'));
          await rejects(e.write(bad, relaxed), 'StorageError', 'InvalidArgument', 'inverted range delete');
          await rejects(e.write(new WriteBatch().put('default', s('a'), s('1')), {} as never), 'StorageError', 'InvalidArgument', 'durability required');
          bytesEqual(await e.get('default', s('a')), undefined, 'nothing written');
          await e.write(new WriteBatch().put('default', s('a'), s('ok')), relaxed);
          bytesEqual(await e.get('default', s('a')), s('ok'), 'usable after');
        }),
    },
    {
      name: 'returned values are copies',
      run: (h) =>
        withEngine(h, async (e) => {
          const value = s('abc');
          await e.write(new WriteBatch().put('default', s('k'), value), relaxed);
          const got = (await e.get('default', s('k'))) as Uint8Array;
          got[0] = 0;
          for await (const p of e.scan('default')) p.value[1] = 0;
          bytesEqual(await e.get('default', s('k')), s('abc'), 'stored value unchanged');
        }),
    },
    {
      name: 'large values and binary data round trip',
      run: (h) =>
        withEngine(h, async (e) => {
          const big = new Uint8Array(200_000);
          for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
          const view = new Uint8Array(new ArrayBuffer(64), 8, 16).fill(9);
          await e.write(new WriteBatch().put('default', s('big'), big).put('default', s('view'), view), relaxed);
          bytesEqual(await e.get('default', s('big')), big, 'big');
          bytesEqual(await e.get('default', s('view')), view, 'subarray value');
        }),
    },
    {
      name: 'reopen sees exactly the completed writes; closed engine refuses',
      run: async (h) => {
        let e = await h.open(CFS);
        await fill(e, 'raft', 10);
        await e.write(new WriteBatch().deleteRange('raft', keyOf(2), keyOf(4)).put('lock', s('l'), s('1')), strict);
        await rejects(e.write(new WriteBatch().put('default', s('x'), s('1')).put('nope', s('y'), s('2')), strict), 'StorageError', 'InvalidArgument', 'refused');
        await e.close();
        await rejects(() => e.get('raft', keyOf(1)), 'StorageError', 'Closed', 'get after close');
        await rejects(() => e.write(new WriteBatch().put('raft', keyOf(1), s('z')), relaxed), 'StorageError', 'Closed', 'write after close');
        await e.close();
        e = await h.open(CFS);
        try {
          jsonEqual(await keysOf(e, 'raft'), [0, 1, ...range(4, 10)], 'raft after reopen');
          bytesEqual(await e.get('lock', s('l')), s('1'), 'lock after reopen');
          bytesEqual(await e.get('default', s('x')), undefined, 'refused batch absent');
        } finally {
          await e.close();
        }
      },
    },
    {
      name: 'close lets writes issued before it finish',
      run: async (h) => {
        let e = await h.open(CFS);
        const pending = e.write(new WriteBatch().put('default', s('late'), s('1')), strict);
        const closing = e.close();
        await pending;
        await closing;
        e = await h.open(CFS);
        try {
          bytesEqual(await e.get('default', s('late')), s('1'), 'write issued before close is durable');
        } finally {
          await e.close();
        }
      },
    },
    {
      name: 'a column family added on reopen keeps existing data',
      run: async (h) => {
        let e = await h.open(['default']);
        await e.write(new WriteBatch().put('default', s('a'), s('1')), strict);
        await e.close();
        e = await h.open(['default', 'extra']);
        try {
          bytesEqual(await e.get('default', s('a')), s('1'), 'old data');
          await e.write(new WriteBatch().put('extra', s('a'), s('2')), relaxed);
          bytesEqual(await e.get('extra', s('a')), s('2'), 'new cf');
          jsonEqual([...e.columnFamilies], ['default', 'extra'], 'column families');
        } finally {
          await e.close();
        }
      },
    },
    {
      name: 'approximateSize grows with the data in the range',
      run: (h) =>
        withEngine(h, async (e) => {
          equal(await e.approximateSize('default', {}), 0, 'empty cf');
          const wb = new WriteBatch();
          for (let i = 0; i < 300; i++) wb.put('default', keyOf(i), new Uint8Array(100));
          await e.write(wb, relaxed);
          const all = await e.approximateSize('default', {});
          ok(all >= 300 * 50 && all <= 300 * 104 * 4, `whole cf ≈ 31 KB, got ${all}`);
          const half = await e.approximateSize('default', { start: keyOf(0), end: keyOf(150) });
          ok(half > 0 && half <= all, `half range ${half} within (0, ${all}]`);
          equal(await e.approximateSize('default', { start: keyOf(500), end: keyOf(600) }), 0, 'range without data');
          equal(await e.approximateSize('raft', {}), 0, 'other cf');
        }),
    },
    {
      name: 'a write that hits quota mid-transaction leaves nothing and the engine stays usable',
      run: async (h) => {
        if (!h.injectQuotaFault) return; // validated-then-applied engines cannot fail half way
        let e = await h.open(CFS);
        await fill(e, 'default', 5);
        const undo = h.injectQuotaFault(50);
        try {
          const wb = new WriteBatch();
          for (let i = 100; i < 200; i++) wb.put('default', keyOf(i), new Uint8Array(100));
          wb.deleteRange('default', keyOf(0), keyOf(3));
          await rejects(e.write(wb, strict), 'StorageError', 'QuotaExceeded', 'quota error surfaces typed');
        } finally {
          undo();
        }
        jsonEqual(await keysOf(e, 'default'), range(0, 5), 'no partial state');
        bytesEqual(await e.get('default', keyOf(2)), s('v2'), 'reads work');
        await e.write(new WriteBatch().put('default', keyOf(7), s('after')), strict);
        await e.close();
        e = await h.open(CFS);
        try {
          jsonEqual(await keysOf(e, 'default'), [...range(0, 5), 7], 'reopen sees exactly the completed writes');
        } finally {
          await e.close();
        }
      },
    },
    ...snapshotCases(),
  ];
}

/** The outcome of one case. */
export interface CaseResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** Runs every case on a fresh harness each (used where there is no test framework). */
export async function runConformance(factory: HarnessFactory, onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of conformanceCases()) {
    const h = await factory();
    let result: CaseResult;
    try {
      await c.run(h);
      result = { name: c.name, ok: true };
    } catch (e) {
      result = { name: c.name, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    } finally {
      await h.dispose();
    }
    results.push(result);
    onResult?.(result);
  }
  return results;
}

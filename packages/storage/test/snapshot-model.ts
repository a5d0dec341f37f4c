/**
 * The snapshot model, framework free (vitest in Node, a Chromium Worker): random batches
 * (puts, deletes, range deletes over a small key space in three column families), snapshots
 * taken and released at random, and every snapshot read (gets; scans forward or reverse,
 * bounded or not, with limits and small pages, with writes landing between the pages)
 * compared with a copy of the model taken with the snapshot. Messages name seed and step.
 */
import { compareBytes, toHex } from '../src/bytes.ts';
import { WriteBatch, type KvEngine, type KvSnapshot, type ScanOptions } from '../src/engine.ts';
import { bytesEqual, jsonEqual } from './conformance/check.ts';

/** The column families the model writes. */
export const SNAPSHOT_MODEL_CFS = ['default', 'lock', 'write'];
const CFS = SNAPSHOT_MODEL_CFS;
const KEY_SPACE = 40;
const STEPS = 200;
const relaxed = { durability: 'relaxed' } as const;

type Model = Map<string, Map<string, Uint8Array>>;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keyOf = (i: number): Uint8Array => new Uint8Array([i]);
const fromHex = (h: string): Uint8Array => new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);

function copyModel(m: Model): Model {
  return new Map([...m].map(([cf, kv]) => [cf, new Map(kv)]));
}

/** The model's answer to a scan. */
function modelScan(m: Model, cf: string, o: ScanOptions): string[] {
  let keys = [...(m.get(cf) as Map<string, Uint8Array>).keys()].map(fromHex).sort(compareBytes);
  keys = keys.filter((k) => (!o.start || compareBytes(k, o.start) >= 0) && (!o.end || compareBytes(k, o.end) < 0));
  if (o.reverse) keys.reverse();
  if (o.limit !== undefined) keys = keys.slice(0, o.limit);
  return keys.map((k) => `${toHex(k)}=${toHex((m.get(cf) as Map<string, Uint8Array>).get(toHex(k)) as Uint8Array)}`);
}

/** Runs `STEPS` seeded steps on `engine` (opened with `SNAPSHOT_MODEL_CFS`); throws `CheckFailure` on the first mismatch. */
export async function runSnapshotModel(engine: KvEngine, seed: number): Promise<void> {
  const rand = prng(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  const model: Model = new Map(CFS.map((cf) => [cf, new Map()]));
  const open: { snap: KvSnapshot; model: Model }[] = [];
  let version = 0;

  const randomBatch = (): WriteBatch => {
    const wb = new WriteBatch();
    for (let n = 1 + pick(4); n > 0; n--) {
      const cf = CFS[pick(CFS.length)];
      const kv = model.get(cf) as Map<string, Uint8Array>;
      const r = rand();
      if (r < 0.6) {
        const key = keyOf(1 + pick(KEY_SPACE));
        const value = new Uint8Array([version++ & 0xff, seed]);
        wb.put(cf, key, value);
        kv.set(toHex(key), value);
      } else if (r < 0.85) {
        const key = keyOf(1 + pick(KEY_SPACE));
        wb.delete(cf, key);
        kv.delete(toHex(key));
      } else {
        const a = 1 + pick(KEY_SPACE);
        const b = a + pick(12);
        wb.deleteRange(cf, keyOf(a), keyOf(b));
        for (let i = a; i < b; i++) kv.delete(toHex(keyOf(i)));
      }
    }
    return wb;
  };

  for (let step = 0; step < STEPS; step++) {
    const r = rand();
    const where = `seed ${seed} step ${step}`;
    if (r < 0.45) {
      await engine.write(randomBatch(), relaxed);
    } else if (r < 0.6 && open.length < 4) {
      open.push({ snap: await (engine.snapshot as () => Promise<KvSnapshot>).call(engine), model: copyModel(model) });
    } else if (r < 0.7 && open.length > 0) {
      await open.splice(pick(open.length), 1)[0].snap.release();
    } else if (open.length > 0) {
      const { snap, model: m } = open[pick(open.length)];
      const cf = CFS[pick(CFS.length)];
      if (rand() < 0.4) {
        const key = keyOf(1 + pick(KEY_SPACE));
        const got = await snap.get(cf, key);
        bytesEqual(got, (m.get(cf) as Map<string, Uint8Array>).get(toHex(key)), `${where}: get ${cf} ${toHex(key)}`);
        continue;
      }
      const o: ScanOptions = { reverse: rand() < 0.5, pageSize: 1 + pick(5) };
      if (rand() < 0.6) o.start = keyOf(pick(KEY_SPACE));
      if (rand() < 0.6) o.end = keyOf(pick(KEY_SPACE + 2));
      if (rand() < 0.5) o.limit = pick(15);
      const got: string[] = [];
      for await (const p of snap.scan(cf, o)) {
        got.push(`${toHex(p.key)}=${toHex(p.value)}`);
        if (rand() < 0.3) await engine.write(randomBatch(), relaxed); // between pages
      }
      jsonEqual(got, modelScan(m, cf, o), `${where}: scan ${cf} ${JSON.stringify({ ...o, start: o.start?.[0], end: o.end?.[0] })}`);
    }
  }
  for (const { snap } of open) await snap.release();
}

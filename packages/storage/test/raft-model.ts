/**
 * A seeded model test: random Raft storage operations applied both to raft's reference
 * `MemoryStorage` and to a `RaftLogStore`, compared after every group commit and across
 * reopens. Shared by the Node tests of every engine.
 */
import { MemoryStorage, RaftStorageError, SeededRng, type ConfState, type Entry, type RaftStorage } from '@peerkv/raft';
import type { KvEngine } from '../src/engine.ts';
import { RaftLogStore } from '../src/raft/raft-log-store.ts';
import type { RaftWriteBatch } from '../src/raft/raft-write-batch.ts';
import type { RegionLog } from '../src/raft/region-log.ts';
import { CheckFailure, jsonEqual } from './conformance/check.ts';

/** How a model run reaches its engine: the same store again on every call. */
export type OpenEngine = () => Promise<KvEngine>;

/** Reads entries, waiting for on-demand fetches (the documented retry contract). */
export async function entriesEventually(log: RegionLog, lo: number, hi: number, maxSizeBytes: number): Promise<Entry[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return log.entries(lo, hi, maxSizeBytes);
    } catch (e) {
      if (!(e instanceof RaftStorageError) || e.kind !== 'LogTemporarilyUnavailable') throw e;
      await log.whenFetched();
    }
  }
  throw new CheckFailure(`entries(${lo}, ${hi}) never became available`);
}

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return e instanceof RaftStorageError ? `error:${e.kind}` : `error:${String(e)}`;
  }
}

/** Every entry of `[lo, hi)`, following short reads the way the Raft core does over several messages. */
export async function allEntries(log: RegionLog, lo: number, hi: number): Promise<Entry[]> {
  const out: Entry[] = [];
  while (lo < hi) {
    const got = await entriesEventually(log, lo, hi, Number.POSITIVE_INFINITY);
    out.push(...got);
    lo += got.length;
  }
  return out;
}

const show = (ents: Entry[]): unknown => ents.map((e) => [e.index, e.term, e.type, Array.from(e.data)]);

/** Compares every read of `log` with the reference. */
export async function compareWithModel(regionId: number, log: RegionLog, model: MemoryStorage, rng: SeededRng): Promise<void> {
  const where = `region ${regionId}`;
  const f = model.firstIndex();
  const l = model.lastIndex();
  jsonEqual([log.firstIndex(), log.lastIndex()], [f, l], `${where} first/last`);
  jsonEqual(log.initialState(), model.initialState(), `${where} initialState`);
  jsonEqual(log.snapshot().metadata, model.snapshot().metadata, `${where} snapshot metadata`);
  jsonEqual(Array.from(log.snapshot().data), Array.from(model.snapshot().data), `${where} snapshot data`);
  for (let i = f - 2; i <= l + 1; i++) jsonEqual(outcome(() => log.term(i)), outcome(() => model.term(i)), `${where} term(${i})`);
  if (l >= f) {
    jsonEqual(show(await allEntries(log, f, l + 1)), show(model.entries(f, l + 1, Number.POSITIVE_INFINITY)), `${where} all entries`);
    const lo = f + rng.nextInt(l - f + 1);
    const hi = lo + 1 + rng.nextInt(l - lo + 1);
    const max = rng.nextInt(200);
    const got = await entriesEventually(log, lo, hi, max);
    const want = model.entries(lo, hi, max);
    // A RegionLog may return a shorter prefix (the size-limit contract); never different entries.
    if (got.length < 1 || got.length > want.length) throw new CheckFailure(`${where} entries(${lo},${hi},${max}) returned ${got.length}, model ${want.length}`);
    jsonEqual(show(got), show(want.slice(0, got.length)), `${where} entries(${lo},${hi},${max})`);
  }
  for (const [lo, hi] of [[f - 1, f], [l + 1, l + 3]] as const) {
    jsonEqual(outcome(() => log.entries(lo, hi, 100)), outcome(() => model.entries(lo, hi, 100)), `${where} entries(${lo},${hi}) error`);
  }
}

function randomData(rng: SeededRng): Uint8Array {
  const d = new Uint8Array(rng.nextInt(24));
  for (let i = 0; i < d.length; i++) d[i] = rng.nextInt(256);
  return d;
}

function randomConf(rng: SeededRng): ConfState {
  return { voters: [1 + rng.nextInt(3), 10 + rng.nextInt(3)], learners: rng.nextInt(2) ? [20] : [], votersOutgoing: [], learnersNext: [], autoLeave: rng.nextInt(2) === 1 };
}

function maxTerm(s: RaftStorage): number {
  return s.term(s.lastIndex());
}

/** Stages one random operation on both sides. */
function stageRandomOp(rng: SeededRng, b: RaftWriteBatch, regionId: number, model: MemoryStorage): void {
  const f = model.firstIndex();
  const l = model.lastIndex();
  const op = rng.nextInt(100);
  if (op < 55) {
    const start = f + rng.nextInt(l - f + 2);
    let term = Math.max(model.term(start - 1), 1) + rng.nextInt(2);
    const ents: Entry[] = [];
    for (let i = 0, n = 1 + rng.nextInt(6); i < n; i++) {
      if (rng.nextInt(4) === 0) term++;
      ents.push({ index: start + i, term, type: rng.nextInt(5) === 0 ? 'confChange' : 'normal', data: randomData(rng) });
    }
    b.stageAppend(regionId, ents);
    model.append(ents);
  } else if (op < 65) {
    const hs = { term: rng.nextInt(50), vote: rng.nextInt(4), commit: rng.nextInt(l + 1) };
    b.stageHardState(regionId, hs);
    model.setHardState(hs);
  } else if (op < 75 && l >= f) {
    const ci = f + rng.nextInt(l - f + 1);
    b.stageCompact(regionId, ci);
    model.compact(ci);
  } else if (op < 83 && l > Math.max(model.snapshot().metadata.index, f - 1)) {
    const lo = Math.max(model.snapshot().metadata.index, f - 1) + 1;
    const idx = lo + rng.nextInt(l - lo + 1);
    const cs = randomConf(rng);
    const data = randomData(rng);
    b.stageCreateSnapshot(regionId, idx, cs, data);
    model.createSnapshot(idx, cs, data);
  } else if (op < 88) {
    const idx = Math.max(l, model.snapshot().metadata.index) + 1 + rng.nextInt(4);
    const snap = { data: randomData(rng), metadata: { index: idx, term: maxTerm(model) + 1, confState: randomConf(rng) } };
    b.stageSnapshot(regionId, snap);
    model.applySnapshot(snap);
  } else if (op < 92) {
    const cs = randomConf(rng);
    b.stageConfState(regionId, cs);
    model.setConfState(cs);
  }
}

/** Options of one model run. */
export interface ModelRunOptions {
  seed: number;
  rounds: number;
  regionIds: number[];
  /** Reopen the store (a restart) every this many rounds. */
  reopenEvery: number;
  entryCacheBytesMax: number;
}

/** Runs the model; throws `CheckFailure` (with the seed) on the first difference. */
export async function runRaftModel(openEngine: OpenEngine, o: ModelRunOptions): Promise<void> {
  const rng = new SeededRng(o.seed);
  const models = new Map(o.regionIds.map((id) => [id, new MemoryStorage()]));
  let engine = await openEngine();
  const newStore = (): RaftLogStore => new RaftLogStore({ engine, entryCacheBytesMax: o.entryCacheBytesMax, fetchBytesMax: 300 });
  let store = newStore();
  try {
    for (const id of o.regionIds) await store.open(id);
    for (let round = 1; round <= o.rounds; round++) {
      const b = store.batch();
      for (let k = 0, n = 1 + rng.nextInt(4); k < n; k++) {
        const id = o.regionIds[rng.nextInt(o.regionIds.length)];
        stageRandomOp(rng, b, id, models.get(id) as MemoryStorage);
      }
      await store.write(b, { durability: rng.nextInt(2) ? 'strict' : 'relaxed' });
      if (round % o.reopenEvery === 0) {
        await engine.close();
        engine = await openEngine();
        store = newStore();
        for (const id of o.regionIds) await store.open(id);
      }
      for (const id of o.regionIds) await compareWithModel(id, store.region(id) as RegionLog, models.get(id) as MemoryStorage, rng);
    }
  } catch (e) {
    if (e instanceof Error) e.message = `seed ${o.seed}: ${e.message}`;
    throw e;
  } finally {
    await engine.close();
  }
}

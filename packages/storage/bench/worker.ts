/**
 * Worker entry of `npm run bench:storage`: runs every case in a fixed interleaved order
 * (raw and engine alternate, so drift in the machine hits both) and posts `{done, results}`.
 */
import type { Durability } from '../src/engine.ts';
import { RaftLogStore } from '../src/raft/raft-log-store.ts';
import { engineBatched, nativeBatched, openEngine, openRaw, raftAppends, rawBatched, rawSingle, type Measurement } from './cases.ts';

/** Sizes of one benchmark run. */
export interface BenchConfig {
  rounds: number;
  singlePuts: number;
  /** [batch size, batches per round] */
  batched: [number, number][];
  raftWrites: number;
}

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };
const now = (): number => performance.now();
const log = (m: Measurement): void =>
  scope.postMessage({ log: `${m.name} ${m.durability}: ${m.ops} in ${m.ms.toFixed(0)} ms` });

async function run(cfg: BenchConfig): Promise<Measurement[]> {
  const results: Measurement[] = [];
  const record = (m: Measurement): void => {
    results.push(m);
    log(m);
  };
  const raw = await openRaw('bench-raw');
  const native = await openRaw('bench-native');
  const engine = await openEngine('bench-engine');
  const raftEngine = await openEngine('bench-raft');
  const store = new RaftLogStore({ engine: raftEngine });
  const durabilities: Durability[] = ['relaxed', 'strict'];
  // Warm-up (not recorded): JIT and IndexedDB backing files.
  await rawBatched(raw, 100, 3, 'relaxed', now);
  await engineBatched(engine, 100, 3, 'relaxed', now);
  for (let round = 0; round < cfg.rounds; round++) {
    for (const d of durabilities) {
      for (const [size, batches] of cfg.batched) {
        const contenders = [
          () => rawBatched(raw, size, batches, d, now),
          () => engineBatched(engine, size, batches, d, now),
          () => nativeBatched(native, size, batches, d, now),
        ];
        // Rotate who goes first each round so drift in the machine hits every contender.
        for (let k = 0; k < contenders.length; k++) record(await contenders[(k + round) % contenders.length]());
      }
    }
  }
  for (const d of durabilities) {
    record(await rawSingle(raw, cfg.singlePuts, d, now));
    record(await raftAppends(store, [1, 2, 3, 4], 25, cfg.raftWrites, d, now));
  }
  raw.close();
  native.close();
  await engine.close();
  await raftEngine.close();
  return results;
}

scope.onmessage = async (e: MessageEvent) => {
  try {
    scope.postMessage({ done: true, results: await run(e.data as BenchConfig) });
  } catch (err) {
    scope.postMessage({ done: true, results: [], error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};

/**
 * Worker entry of the browser storage suite, over the browser's real IndexedDB (Chromium's and
 * Firefox's specs run it). On
 * `{suite: 'conformance'}` it runs every `KvEngine` conformance case on `IdbEngine`; on
 * `{suite: 'raft-model'}` it runs the seeded `RaftLogStore`-vs-`MemoryStorage` model across
 * reopens; on `{suite: 'snapshot-model'}` the seeded snapshot model on `IdbEngine`; on
 * `{suite: 'platform'}` the IndexedDB behaviours `IdbEngine` relies on (`idb-platform.ts`). Posts
 * `{log}` lines, then `{done, results}`.
 */
import { runConformance, type CaseResult } from '../../../packages/storage/test/conformance/cases.ts';
import { globalIdbEnvironment, idbHarnessFactory } from '../../../packages/storage/test/conformance/idb-harness.ts';
import { IdbEngine } from '../../../packages/storage/src/idb-engine.ts';
import { runRaftModel } from '../../../packages/storage/test/raft-model.ts';
import { runSnapshotModel, SNAPSHOT_MODEL_CFS } from '../../../packages/storage/test/snapshot-model.ts';
import { runIdbPlatformChecks } from './idb-platform.ts';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };
const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

async function raftModel(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const seed of [21, 22]) {
    const name = `RaftLogStore matches MemoryStorage on IdbEngine, seed ${seed}`;
    try {
      const open = () => IdbEngine.open({ name: `peerkv-browser-raft-${seed}`, columnFamilies: ['raft'] });
      await runRaftModel(open, { seed, rounds: 60, regionIds: [1, 2, 2 ** 40], reopenEvery: 12, entryCacheBytesMax: 150 });
      results.push({ name, ok: true });
    } catch (e) {
      results.push({ name, ok: false, error: describe(e) });
    }
    scope.postMessage({ log: `${results[results.length - 1].ok ? 'ok  ' : 'FAIL'} ${name}` });
  }
  return results;
}

/** Seeds of the snapshot model run in the browser. */
const SNAPSHOT_MODEL_SEEDS = [31, 32, 33];

async function snapshotModel(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const seed of SNAPSHOT_MODEL_SEEDS) {
    const name = `snapshots of IdbEngine match the model, seed ${seed}`;
    const engine = await IdbEngine.open({ name: `peerkv-browser-snapshot-${seed}-${Date.now()}`, columnFamilies: SNAPSHOT_MODEL_CFS });
    try {
      await runSnapshotModel(engine, seed);
      results.push({ name, ok: true });
    } catch (e) {
      results.push({ name, ok: false, error: describe(e) });
    } finally {
      await engine.close();
    }
    const r = results[results.length - 1];
    scope.postMessage({ log: `${r.ok ? 'ok  ' : 'FAIL'} ${name}${r.error ? `: ${r.error}` : ''}` });
  }
  return results;
}

scope.onmessage = async (e: MessageEvent) => {
  try {
    const suite = (e.data as { suite: string }).suite;
    const logResult = (r: CaseResult) => scope.postMessage({ log: `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.error ? `: ${r.error}` : ''}` });
    const results =
      suite === 'platform'
        ? await runIdbPlatformChecks(logResult)
        : suite === 'raft-model'
          ? await raftModel()
          : suite === 'snapshot-model'
            ? await snapshotModel()
            : await runConformance(idbHarnessFactory(globalIdbEnvironment(), 'peerkv-browser-conformance'), logResult);
    scope.postMessage({ done: true, results });
  } catch (err) {
    scope.postMessage({ done: true, results: [], error: describe(err) });
  }
};

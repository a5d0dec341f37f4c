/**
 * Worker entry of the browser conformance suite: runs every `KvEngine` conformance case on
 * `IdbEngine` over Chromium's real IndexedDB and posts `{done, results}`.
 */
import { runConformance } from '../../../packages/storage/test/conformance/cases.ts';
import { globalIdbEnvironment, idbHarnessFactory } from '../../../packages/storage/test/conformance/idb-harness.ts';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

scope.onmessage = async () => {
  try {
    const results = await runConformance(idbHarnessFactory(globalIdbEnvironment(), 'peerkv-browser-conformance'), (r) =>
      scope.postMessage({ log: `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.error ? `: ${r.error}` : ''}` }),
    );
    scope.postMessage({ done: true, results });
  } catch (e) {
    scope.postMessage({ done: true, results: [], error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
};

/**
 * Runs the `KvEngine` conformance suite against the memory, LevelDB and IndexedDB
 * (fake-indexeddb) engines in Node.
 */
import 'fake-indexeddb/auto'; // idb's wrappers check instances against the global IDB classes
import { IDBFactory, IDBKeyRange as FakeKeyRange, IDBObjectStore as FakeObjectStore } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '../src/memory-engine.ts';
import { LevelEngine } from '../src/level-engine.ts';
import { conformanceCases } from './conformance/cases.ts';
import type { HarnessFactory } from './conformance/harness.ts';
import { idbHarnessFactory } from './conformance/idb-harness.ts';

const memoryHarness: HarnessFactory = async () => {
  const disk = new MemoryDisk();
  return { open: (columnFamilies) => MemoryEngine.open({ columnFamilies, disk }), dispose: async () => undefined };
};

const levelHarness: HarnessFactory = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerkv-level-'));
  return {
    open: (columnFamilies) => LevelEngine.open({ location: join(dir, 'db'), columnFamilies }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
};

const engines: [string, HarnessFactory][] = [
  ['MemoryEngine', memoryHarness],
  ['LevelEngine', levelHarness],
  // An injected factory per suite run: the engine never touches the global one here.
  ['IdbEngine (fake-indexeddb)', idbHarnessFactory({ indexedDB: new IDBFactory(), keyRange: FakeKeyRange, objectStorePrototype: FakeObjectStore.prototype })],
];

for (const [engineName, factory] of engines) {
  describe(`${engineName} conformance`, () => {
    for (const c of conformanceCases()) {
      it(c.name, async () => {
        const h = await factory();
        try {
          await c.run(h);
        } finally {
          await h.dispose();
        }
      });
    }
  });
}

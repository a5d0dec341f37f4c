/**
 * Snapshots against the seeded model (`snapshot-model.ts`) on every engine in Node.
 */
import 'fake-indexeddb/auto';
import { IDBFactory, IDBKeyRange as FakeKeyRange } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { IdbEngine } from '../src/idb-engine.ts';
import { LevelEngine } from '../src/level-engine.ts';
import { MemoryEngine } from '../src/memory-engine.ts';
import { runSnapshotModel, SNAPSHOT_MODEL_CFS as CFS } from './snapshot-model.ts';

const SEEDS = [1, 2, 3, 4, 5, 6];
let idbCount = 0;

describe('snapshots match a model', () => {
  for (const seed of SEEDS) {
    it(`MemoryEngine, seed ${seed}`, async () => {
      const e = await MemoryEngine.open({ columnFamilies: CFS });
      await runSnapshotModel(e, seed);
      await e.close();
    });

    it(`IdbEngine (fake-indexeddb), seed ${seed}`, async () => {
      const e = await IdbEngine.open({ name: `snapshot-model-${++idbCount}`, columnFamilies: CFS, indexedDB: new IDBFactory(), keyRange: FakeKeyRange });
      await runSnapshotModel(e, seed);
      await e.close();
    });

    it(`LevelEngine, seed ${seed}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'peerkv-snapshot-model-'));
      try {
        const e = await LevelEngine.open({ location: join(dir, 'db'), columnFamilies: CFS });
        await runSnapshotModel(e, seed);
        await e.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

/**
 * A store's engine on LevelDB: `LevelEngine` (`@peerkv/storage/level`, classic-level, a
 * native module) with the column families a store uses. Node only.
 */
import { DATA_MODEL_DEFAULT, STORE_CFS, MVCC_DATA_CFS, storeColumnFamilies } from '@peerkv/store';
import { LevelEngine } from '@peerkv/storage/level';

/**
 * Opens (creating if missing) the LevelDB directory `location` as a store's engine, with the
 * column families of `dataModel` (default `DATA_MODEL_DEFAULT`, `mvcc`: `default`, `lock` and
 * `write`; `raw`: `default` only).
 */
export function openLevelStoreEngine(location: string, dataModel: 'raw' | 'mvcc' = DATA_MODEL_DEFAULT): Promise<LevelEngine> {
  return LevelEngine.open({ location, columnFamilies: dataModel === 'mvcc' ? storeColumnFamilies(MVCC_DATA_CFS) : STORE_CFS });
}

/**
 * A store's engine on LevelDB: `LevelEngine` (`@peerkv/storage/level`, classic-level, a
 * native module) with the column families a store uses. Node only.
 */
import { STORE_CFS, MVCC_DATA_CFS, storeColumnFamilies } from '@peerkv/store';
import { LevelEngine } from '@peerkv/storage/level';

/**
 * Opens (creating if missing) the LevelDB directory `location` as a store's engine, with the
 * column families of `dataModel` (default `raw`; `mvcc` adds the transaction ones).
 */
export function openLevelStoreEngine(location: string, dataModel: 'raw' | 'mvcc' = 'raw'): Promise<LevelEngine> {
  return LevelEngine.open({ location, columnFamilies: dataModel === 'mvcc' ? storeColumnFamilies(MVCC_DATA_CFS) : STORE_CFS });
}

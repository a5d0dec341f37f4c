/**
 * A store's engine on LevelDB: `LevelEngine` (`@peerkv/storage/level`, classic-level, a
 * native module) with the column families a store uses. Node only.
 */
import { STORE_CFS } from '@peerkv/store';
import { LevelEngine } from '@peerkv/storage/level';

/** Opens (creating if missing) the LevelDB directory `location` as a store's engine. */
export function openLevelStoreEngine(location: string): Promise<LevelEngine> {
  return LevelEngine.open({ location, columnFamilies: STORE_CFS });
}

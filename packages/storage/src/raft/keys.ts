/**
 * Key layout of the Raft log store inside its column family. Integers are big-endian u64,
 * so byte order is numeric order and one region's records are contiguous:
 *
 * ```
 *   [regionId:8][0x01][index:8]   log entry
 *   [regionId:8][0x02]            hard state
 *   [regionId:8][0x03]            apply state
 *   [regionId:8][0x04]            truncated state (index and term of the last compacted entry)
 *   [regionId:8][0x05]            snapshot metadata
 *   [regionId:8][0x06]            snapshot data
 * ```
 */
import { readU64, U64_SAFE_MAX, writeU64 } from '../bytes.ts';
import { requireArg } from '../errors.ts';

/** The state records of a region, by key suffix. */
export const STATE_SUFFIX = {
  hardState: 0x02,
  applyState: 0x03,
  truncatedState: 0x04,
  snapshot: 0x05,
  snapshotData: 0x06,
} as const;

/** Which state record. */
export type StateRecord = keyof typeof STATE_SUFFIX;

const ENTRY_SUFFIX = 0x01;
const ENTRY_KEY_BYTES = 17;

function checkId(n: number, what: string): void {
  requireArg(Number.isInteger(n) && n >= 0 && n <= U64_SAFE_MAX, `${what} ${n} is not an integer in [0, 2^53)`);
}

/** The key of entry `index` of `regionId`. */
export function entryKey(regionId: number, index: number): Uint8Array {
  checkId(regionId, 'regionId');
  checkId(index, 'index');
  const key = new Uint8Array(ENTRY_KEY_BYTES);
  const view = new DataView(key.buffer);
  writeU64(view, 0, regionId);
  key[8] = ENTRY_SUFFIX;
  writeU64(view, 9, index);
  return key;
}

/** The log index in an entry key. */
export function indexOfEntryKey(key: Uint8Array): number {
  return readU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 9);
}

/** True when `key` is an entry key. */
export function isEntryKey(key: Uint8Array): boolean {
  return key.length === ENTRY_KEY_BYTES && key[8] === ENTRY_SUFFIX;
}

/** The key of a state record of `regionId`. */
export function stateKey(regionId: number, record: StateRecord): Uint8Array {
  checkId(regionId, 'regionId');
  const key = new Uint8Array(9);
  writeU64(new DataView(key.buffer), 0, regionId);
  key[8] = STATE_SUFFIX[record];
  return key;
}

/** First key of the region's entries (index 0). */
export function entriesStart(regionId: number): Uint8Array {
  return entryKey(regionId, 0);
}

/** Just past the region's entries (its first state record). */
export function entriesEnd(regionId: number): Uint8Array {
  return stateKey(regionId, 'hardState');
}

/** Every key of `regionId` is in `[regionStart(id), regionStart(id + 1))`. */
export function regionStart(regionId: number): Uint8Array {
  checkId(regionId, 'regionId');
  const key = new Uint8Array(8);
  writeU64(new DataView(key.buffer), 0, regionId);
  return key;
}

/** The region id in any key of this layout. */
export function regionIdOfKey(key: Uint8Array): number {
  return readU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 0);
}

/**
 * The store's data model (TiKV's API v1 rule "never mix"): what the keys of its data column
 * families are.
 *
 * - `raw`: every data column family holds user keys as they are: the `write`, `get` and `scan`
 *   requests; txn requests answer `TxnUnsupported`.
 * - `mvcc`: every data column family holds keys in memcomparable form (`@peerkv/txn`'s key.ts):
 *   `lock` at `encodeKey(key)`, `default` and `write` at `encodeMvccKey(key, ts)`: the txn
 *   requests; `write`, `get` and `scan` are refused (`StoreRequestError('WrongDataModel')`).
 *
 * Region bounds are user keys in both. Every walk over a region's data (split-key choice,
 * size, snapshot generation, install and destroy, digests) maps the region's bounds through
 * `storedKeyRange`, the one place that knows how a user-key range lies in a column family.
 * The mapping is exact because memcomparable encoding keeps order and no encoded key is a
 * prefix of another: every version of `k` (`encodeKey(k) ++ ~ts`) sorts at or after
 * `encodeKey(k)` and before `encodeKey(k')` for every user key `k' > k`.
 *
 * The model and its version are recorded in the `meta` column family at first open; a store
 * opened with another model, or an engine written before the record existed (raw, version 1)
 * opened as `mvcc`, is refused with a `StoreConfigError` naming both: the two are never mixed.
 */
import { CF_LOCK, CF_WRITE, decodeKeyPrefix, encodeKey } from '@peerkv/txn';
import { DATA_CFS_DEFAULT, DATA_CF, META_CF, storeColumnFamilies, type DataModel } from './keys.ts';

export type { DataModel } from './keys.ts';

/**
 * The data model of a store, cluster or client that names none: `mvcc`, so every read and
 * write a user can reach goes through MVCC (issue 12, "one data model"). `raw` stays for what
 * is about raw: the benchmark baseline (bench:txn's put_1pc_vs_raw) and the tests of raw
 * commands, each naming it.
 */
export const DATA_MODEL_DEFAULT = 'mvcc' satisfies DataModel;

/** The current version of each data model's key layout (what a new store records). */
export const DATA_MODEL_VERSIONS: Readonly<Record<DataModel, number>> = { raw: 1, mvcc: 1 };

/** The column families an `mvcc` store must declare. */
export const MVCC_DATA_CFS: readonly string[] = [DATA_CF, CF_LOCK, CF_WRITE];

/** Every column family an `mvcc` store (the default model) opens its engine with (`STORE_CFS` is raw's). */
export const MVCC_STORE_CFS: readonly string[] = storeColumnFamilies(MVCC_DATA_CFS);

/**
 * A store's data column families: `given`, else what its model needs (`mvcc`: the three txn
 * families; `raw`: `DATA_CFS_DEFAULT`). So a store, or a cluster opening engines for it, that
 * names only its model gets families that fit it, and switching the default model
 * (`DATA_MODEL_DEFAULT`) needs no column families named anywhere.
 */
export function dataColumnFamiliesOf(model: DataModel | undefined, given?: readonly string[]): readonly string[] {
  if (given !== undefined) return given;
  return (model ?? DATA_MODEL_DEFAULT) === 'mvcc' ? MVCC_DATA_CFS : DATA_CFS_DEFAULT;
}

/** Key of the data model record in the `meta` column family (`m`). */
export const DATA_MODEL_KEY = new Uint8Array([0x6d /* m */]);

/** A data model and the version of its key layout, as recorded in an engine. */
export interface DataModelRecord {
  model: DataModel;
  version: number;
}

/** A range of stored keys of one column family; `end` absent = to the end of the family. */
export interface StoredKeyRange {
  start: Uint8Array;
  end?: Uint8Array;
}

/**
 * THE mapping from a region's user-key range [startKey, endKey) (empty end = unbounded) to the
 * stored keys of column family `cf` holding it. Raw: the bounds as they are. Mvcc: every cf
 * holds `encodeKey(userKey)` optionally followed by a timestamp, so the range is
 * [encodeKey(startKey), encodeKey(endKey)). `cf` is taken so that a family with another layout
 * has one place to say so.
 */
export function storedKeyRange(model: DataModel, cf: string, startKey: Uint8Array, endKey: Uint8Array): StoredKeyRange {
  void cf;
  if (model === 'raw') return endKey.length > 0 ? { start: startKey, end: endKey } : { start: startKey };
  return endKey.length > 0 ? { start: encodeKey(startKey), end: encodeKey(endKey) } : { start: encodeKey(startKey) };
}

/** The end of the key space a range delete uses (region-meta's `rangeEnd` of an empty end key). */
const UNBOUNDED_END = new Uint8Array(16).fill(0xff);

/**
 * The exclusive end of `range` for a range delete, which needs one: an unbounded range ends
 * at sixteen 0xff bytes, as raw data always did. So a stored key that
 * starts with sixteen 0xff bytes (raw) or a user key starting with fifteen (mvcc) escapes a
 * range delete of the last region: a known limit, not a mixing of models.
 */
export function storedDeleteEnd(range: StoredKeyRange): Uint8Array {
  return range.end ?? UNBOUNDED_END.slice();
}

/** The user key a stored key of `cf` belongs to (mvcc: decoded, its timestamp dropped). */
export function userKeyOf(model: DataModel, cf: string, storedKey: Uint8Array): Uint8Array {
  void cf;
  return model === 'raw' ? storedKey : decodeKeyPrefix(storedKey).key;
}

/** Why `model` cannot run over `dataCfs`, or undefined. */
export function dataModelProblem(model: unknown, dataCfs: readonly string[]): string | undefined {
  if (model !== 'raw' && model !== 'mvcc') return `the data model is 'raw' or 'mvcc', got '${String(model)}'`;
  if (model === 'mvcc') {
    const missing = MVCC_DATA_CFS.filter((cf) => !dataCfs.includes(cf));
    if (missing.length > 0) return `data model 'mvcc' needs the data column families ${MVCC_DATA_CFS.map((c) => `'${c}'`).join(', ')}; missing ${missing.map((c) => `'${c}'`).join(', ')}`;
  }
  return undefined;
}

/**
 * A committed command of the other data model: a raw `write` in an mvcc store, a `txn` command
 * in a raw one. Leaders refuse those requests before proposing, and every store of a cluster
 * runs the same model, so one in the log is a broken invariant: the store stops rather than
 * mix raw and encoded keys in one column family.
 */
export class DataModelMismatchError extends Error {
  override readonly name = 'DataModelMismatchError';
}

/** Throws `DataModelMismatchError` unless a command of `command` type may apply in a store of `model`. */
export function assertDataModel(model: DataModel, command: 'write' | 'txn'): void {
  const wants: DataModel = command === 'write' ? 'raw' : 'mvcc';
  if (model !== wants) throw new DataModelMismatchError(`a committed '${command}' command writes ${wants} keys, but this store's data model is '${model}'`);
}

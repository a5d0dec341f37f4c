/**
 * @peerkv/txn: Percolator's rules as pure functions (TiKV's `txn_types` and
 * `storage/txn/actions`). MVCC keys, the `default`/`lock`/`write` records with paired codecs,
 * and the actions (prewrite, commit, rollback, check-txn-status, resolve-lock, heartbeat,
 * pessimistic lock, GC, snapshot read) over a `ReadView`, each returning the writes to make or
 * an error, never a part. No clock, randomness or I/O: every timestamp is an input.
 */
export * from './timestamp.ts';
export * from './limits.ts';
export * from './key.ts';
export { RECORD_VERSION, isShortValue } from './records.ts';
export * from './lock.ts';
export * from './write.ts';
export * from './cf.ts';
export * from './errors.ts';
export * from './view.ts';
export * from './mvcc-reader.ts';
export * from './memory-cfs.ts';
export * from './visibility.ts';
export * from './actions/prewrite.ts';
export * from './actions/commit.ts';
export * from './actions/rollback.ts';
export * from './actions/check-txn-status.ts';
export * from './actions/check-secondary-locks.ts';
export * from './actions/resolve-lock.ts';
export * from './actions/heartbeat.ts';
export * from './actions/pessimistic-lock.ts';
export * from './actions/gc.ts';
export * from './actions/read.ts';
export * from './actions/scan.ts';

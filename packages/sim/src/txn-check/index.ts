/**
 * The snapshot-isolation checker (Elle's ideas, our code): the history format, the check,
 * and the bank-workload check. Import by path within the sim package.
 */
export * from './types.ts';
export { checkSnapshotIsolation } from './check.ts';

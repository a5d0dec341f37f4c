/**
 * The snapshot-isolation checker (Elle's ideas, our code): the history format, the check, the
 * bank-workload check, and the serial-history generator with its fault injector (histories
 * with a known answer, for testing recorders and the checker). Import by path within the sim
 * package.
 */
export * from './types.ts';
export { checkSnapshotIsolation } from './check.ts';
export { checkBank, type BankError, type BankErrorKind, type BankOp, type BankOptions, type BankReport, type BankTxn } from './bank.ts';
export { serialHistory, SERIAL_HISTORY_DEFAULTS, type SerialHistoryOptions, type SerialWorkload } from './serial-history.ts';
export { injectFault, type FaultKind, type InjectedFault } from './faults.ts';
export { siHistory, SI_HISTORY_DEFAULTS, type SiBug, type SiHistoryOptions } from './si-history.ts';

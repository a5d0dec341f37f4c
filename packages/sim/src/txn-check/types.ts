/**
 * The transactional history format the snapshot-isolation checker reads, and the report it
 * writes. Owns the vocabulary only: no logic lives here.
 *
 * A history is an array of transactions, one per client attempt, in the order they were
 * invoked (the array index is the transaction's name in reports unless it carries an `id`).
 * Two workloads share the format (Elle's `list-append` and `rw-register`); a key belongs to
 * exactly one of them, decided by the operations on it.
 */

/**
 * How a transaction ended: `ok` committed, `fail` definitely never took effect (aborted,
 * refused before commit), `info` unknown (`Undetermined`: it may or may not have committed).
 */
export type TxnType = 'ok' | 'fail' | 'info';

/** A list-append write: append `value` (unique per key over the whole history) to `key`. */
export type AppendMop = readonly ['append', string, number];
/** A list-append read: the whole list at `key`; `null` or `[]` when nothing was appended. */
export type ListReadMop = readonly ['r', string, readonly number[] | null];
/** A register write: set `key` to `value` (unique per key over the whole history). */
export type WriteMop = readonly ['w', string, number];
/** A register read: the value at `key`; `null` when never written. */
export type RegisterReadMop = readonly ['r', string, number | null];

/** One micro-operation of a transaction, in the order the transaction ran them. */
export type Mop = AppendMop | ListReadMop | WriteMop | RegisterReadMop;

/** One transaction attempt, as a client saw it. */
export interface Txn {
  /** The client (session) that ran it; a process runs one transaction at a time. */
  process: number;
  type: TxnType;
  /**
   * Its micro-operations with the values reads returned. For `info` transactions the reads
   * are ignored (what a transaction of unknown outcome read proves nothing); `fail`
   * transactions are ignored entirely.
   */
  mops: readonly Mop[];
  /** A name for reports (default: `#<array index>`). */
  id?: string | number;
  /** Position of its invocation in one global event order (for `realtime`). */
  invokeAt?: number;
  /** Position of its completion in the same order (`ok`/`fail` only; for `realtime`). */
  completeAt?: number;
  /** Its snapshot timestamp, when known (for `timestamps`). */
  startTs?: number;
  /** Its commit timestamp, when known and committed (for `timestamps`). */
  commitTs?: number;
}

/** Dependency edge kinds; a pair of transactions may be linked by several at once. */
export type EdgeKind = 'ww' | 'wr' | 'rw' | 'process' | 'realtime' | 'timestamp';

/** One step of a cycle: `from` precedes `to` because of `kind`, explained by `why`. */
export interface CycleStep {
  from: number;
  to: number;
  kind: EdgeKind;
  key?: string;
  why: string;
}

/** The cycle classes, Adya's names as Elle uses them, with the order edges they relied on. */
export type CycleBase = 'G0' | 'G1c' | 'G-single' | 'G2';
export type CycleSuffix = '' | '-process' | '-realtime' | '-timestamp';
export type CycleAnomalyType = `${CycleBase}${CycleSuffix}`;

/** An anomaly proven by a cycle in the dependency graph. */
export interface CycleAnomaly {
  type: CycleAnomalyType;
  cycle: CycleStep[];
  explanation: string;
}

/** What a non-cycle anomaly points at. */
export interface Witness {
  key: string;
  /** Transactions involved (array indices), the reader first when there is one. */
  txns: number[];
  /** The values or lists involved, as read or written. */
  values: unknown[];
}

/** Anomalies proven without a cycle. */
export type WitnessAnomalyType =
  | 'G1a'
  | 'G1b'
  | 'lost-update'
  | 'incompatible-order'
  | 'duplicate-elements'
  | 'internal'
  | 'garbage-read'
  | 'cyclic-versions';

export interface WitnessAnomaly {
  type: WitnessAnomalyType;
  witness: Witness;
  explanation: string;
}

export type Anomaly = CycleAnomaly | WitnessAnomaly;
export type AnomalyType = CycleAnomalyType | WitnessAnomalyType;

/** Options of `checkSnapshotIsolation`; every field is optional. */
export interface CheckOptions {
  /**
   * Add process-order edges: a process's committed transaction precedes its next one (strong
   * session SI). Needs each process's transactions in history order.
   */
  process?: boolean;
  /**
   * Add real-time edges: a committed transaction whose `completeAt` is before another's
   * `invokeAt` precedes it (strong SI, what a TSO-based Percolator promises).
   */
  realtime?: boolean;
  /**
   * Add timestamp edges: a committed transaction whose `commitTs` is below another's `startTs`
   * precedes it (the other's snapshot must include it). Trusts the recorded timestamps.
   */
  timestamps?: boolean;
  /**
   * Work allowed for cycle search (BFS visits, bitset words, SCC steps). When spent, the
   * classes not yet searched make the verdict `unknown`, never `true`. A count of work, not
   * wall time, so the verdict is the same on any machine.
   */
  budgetSteps?: number;
  /** Anomalies reported per type (the rest are counted in `anomalyCounts`). */
  anomaliesPerTypeMax?: number;
}

/** Counters describing the checked history and the work done. */
export interface CheckStats {
  txns: number;
  ok: number;
  fail: number;
  info: number;
  listKeys: number;
  registerKeys: number;
  edges: Record<EdgeKind, number>;
  /** Non-trivial strongly connected components of the full dependency graph. */
  sccs: number;
  sccSizeMax: number;
  steps: number;
}

/** The checker's answer. */
export interface CheckReport {
  /** `false` on any violation; `unknown` when the budget ran out first; else `true`. */
  valid: boolean | 'unknown';
  /** The violations (at most `anomaliesPerTypeMax` per type). */
  anomalies: Anomaly[];
  /**
   * How many of each anomaly type were found, reported or not. Cycle types count strongly
   * connected components (one witness each), not every cycle.
   */
  anomalyCounts: Partial<Record<AnomalyType, number>>;
  /** What snapshot isolation allows but the history showed: SCCs with write skew (G2). */
  seen: { G2: number };
  /** A few G2 cycles, for the curious (not failures). */
  seenExamples: CycleAnomaly[];
  stats: CheckStats;
}

/** Thrown on a history that breaks the format's rules (a recorder bug, not an anomaly). */
export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
}

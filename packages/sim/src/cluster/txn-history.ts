/**
 * The transactional history of a `--txn` run, recorded as `txn-check` wants it
 * (`txn-check/README.md`, "Recording a transactional workload"): one `Txn` per attempt (a
 * re-run of the function is a new attempt), micro-ops in the order the function ran them with
 * what reads returned, `invokeAt`/`completeAt` from one global event counter, start and commit
 * ts. The bank workload is recorded twice: as register ops (one unique value per balance
 * write, for the SI checker) and as `BankTxn`s (for the conserved-total check).
 *
 * Timestamps are TSO values (physical ms << 18 | logical), above 2^53: they are recorded
 * relative to `tsBase`, a timestamp below every one of the run.
 */
import type { BankOp, BankTxn, Mop, Txn, TxnType } from '../txn-check/index.ts';

/** One attempt being recorded. */
export interface Attempt {
  readonly index: number;
  process: number;
  type: TxnType;
  mops: Mop[];
  invokeAt: number;
  completeAt?: number;
  startTs?: number;
  commitTs?: number;
  /** Its bank view (a read of every account, or a transfer), if it is a bank transaction. */
  bank?: BankOp;
  /** What the attempt was, for reports. */
  label: string;
  /** The function threw (a read failed): nothing was written. */
  threwInFn: boolean;
  done: boolean;
}

export class TxnRecorder {
  private readonly attempts: Attempt[] = [];
  private events = 0;
  private processes = 0;

  constructor(private readonly tsBase: bigint) {}

  /** The next position in the global event order. */
  tick(): number {
    return this.events++;
  }

  /** A process id never used before (an `info` attempt retires its process). */
  newProcess(): number {
    return this.processes++;
  }

  /** A TSO timestamp as a safe number (relative to the run's base). */
  ts(ts: bigint): number {
    return Number(ts - this.tsBase);
  }

  /** Starts recording an attempt invoked at event `invokeAt` (taken before its start ts was asked for). */
  begin(process: number, invokeAt: number, label: string, startTs?: bigint): Attempt {
    const a: Attempt = { index: this.attempts.length, process, type: 'info', mops: [], invokeAt, label, threwInFn: false, done: false };
    if (startTs !== undefined) a.startTs = this.ts(startTs);
    this.attempts.push(a);
    return a;
  }

  /** Ends an attempt (once). */
  finish(a: Attempt, type: TxnType, commitTs?: bigint): void {
    if (a.done) return;
    a.done = true;
    a.type = type;
    a.completeAt = this.tick();
    if (type === 'ok' && commitTs !== undefined) a.commitTs = this.ts(commitTs);
  }

  /** Attempts still open at the end (a loop cut off mid-transaction) are `info`. */
  closePending(): void {
    for (const a of this.attempts) if (!a.done) this.finish(a, 'info');
  }

  counts(): Record<TxnType, number> {
    const c: Record<TxnType, number> = { ok: 0, fail: 0, info: 0 };
    for (const a of this.attempts) c[a.type]++;
    return c;
  }

  get size(): number {
    return this.attempts.length;
  }

  attempt(i: number): Attempt {
    return this.attempts[i];
  }

  /** The history for `checkSnapshotIsolation` (attempt i is `Txn` i). */
  txns(): Txn[] {
    return this.attempts.map((a) => {
      const t: Txn = { process: a.process, type: a.type, mops: a.mops, id: a.index, invokeAt: a.invokeAt };
      if (a.completeAt !== undefined && a.type !== 'info') t.completeAt = a.completeAt;
      if (a.startTs !== undefined) t.startTs = a.startTs;
      if (a.commitTs !== undefined && a.type === 'ok') t.commitTs = a.commitTs;
      return t;
    });
  }

  /** The bank history for `checkBank`. */
  bankTxns(): BankTxn[] {
    const out: BankTxn[] = [];
    for (const a of this.attempts) if (a.bank !== undefined) out.push({ process: a.process, type: a.type, op: a.bank, id: a.index });
    return out;
  }

  /** One attempt as a line for reports. */
  describe(i: number): string {
    const a = this.attempts[i];
    if (a === undefined) return `#${i} ?`;
    const mops = a.mops.map((m) => `${m[0]} ${m[1]} ${JSON.stringify(m[2])}`).join(', ');
    return `#${i} ${a.label} p${a.process} ${a.type} start=${a.startTs ?? '?'} commit=${a.commitTs ?? '-'} events ${a.invokeAt}..${a.completeAt ?? '?'}: [${mops}]`;
  }

  /** FNV-1a over the recorded attempts (equal for two runs of one seed). */
  hash(): string {
    const s = JSON.stringify(this.txns());
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
    return `${h.toString(16).padStart(8, '0')}:${this.attempts.length}`;
  }
}

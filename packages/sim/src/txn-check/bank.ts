/**
 * The bank checker: transfers move money between accounts, so every committed snapshot read
 * of all accounts must see the same total. A read that does not is a torn snapshot (the read
 * saw one side of a transfer), the bank workload's view of read skew.
 *
 * What is checked, per committed read (`fail` and `info` reads are ignored: an aborted
 * snapshot's reads prove nothing): it names exactly the configured accounts, its total is the
 * conserved total, and (unless allowed) no balance is negative. Transfers are not checked
 * here: their effect shows in the reads.
 */
import type { TxnType } from './types.ts';

/** One bank transaction's operation. */
export type BankOp =
  /** A read-only snapshot of every account: account -> balance. */
  | { f: 'read'; balances: Readonly<Record<string, number>> }
  /** Move `amount` from one account to another. */
  | { f: 'transfer'; from: string; to: string; amount: number };

/** One bank transaction attempt. */
export interface BankTxn {
  process: number;
  type: TxnType;
  op: BankOp;
  /** A name for reports (default: `#<array index>`). */
  id?: string | number;
}

export interface BankOptions {
  accounts: readonly string[];
  /** The total every snapshot must see. */
  total: number;
  /** Whether a balance may go below zero (default: no). */
  negativeAllowed?: boolean;
  /** Bad reads kept in `errors` (all are counted). */
  errorsMax?: number;
}

export type BankErrorKind = 'wrong-total' | 'missing-account' | 'unexpected-account' | 'negative-balance';

/** One bad read. */
export interface BankError {
  kind: BankErrorKind;
  /** Its index in the history. */
  txn: number;
  balances: Readonly<Record<string, number>>;
  total: number;
  explanation: string;
}

export interface BankReport {
  valid: boolean;
  readsChecked: number;
  badReads: number;
  /** The first bad read in history order. */
  firstBadRead?: BankError;
  errors: BankError[];
}

const BANK_ERRORS_MAX_DEFAULT = 8;

/** What is wrong with one read, if anything (the first problem found). */
function readError(i: number, name: string, balances: Readonly<Record<string, number>>, opts: BankOptions): BankError | undefined {
  const total = Object.values(balances).reduce((sum, b) => sum + b, 0);
  const error = (kind: BankErrorKind, explanation: string): BankError => ({ kind, txn: i, balances, total, explanation });
  const missing = opts.accounts.filter((a) => !(a in balances));
  if (missing.length > 0) return error('missing-account', `${name} read no balance for ${missing.join(', ')}: a snapshot read must see every account`);
  const extra = Object.keys(balances).filter((a) => !opts.accounts.includes(a));
  if (extra.length > 0) return error('unexpected-account', `${name} read accounts ${extra.join(', ')}, which do not exist`);
  if (total !== opts.total) {
    return error('wrong-total', `${name} read ${JSON.stringify(balances)}, total ${total}, but transfers conserve ${opts.total}: the snapshot saw part of a transfer`);
  }
  const negative = Object.entries(balances).filter(([, b]) => b < 0);
  if (negative.length > 0 && opts.negativeAllowed !== true) {
    return error('negative-balance', `${name} read negative balances ${JSON.stringify(Object.fromEntries(negative))}`);
  }
  return undefined;
}

/** Checks every committed read of a bank history. */
export function checkBank(history: readonly BankTxn[], opts: BankOptions): BankReport {
  const errors: BankError[] = [];
  let readsChecked = 0;
  let badReads = 0;
  let firstBadRead: BankError | undefined;
  history.forEach((txn, i) => {
    if (txn.type !== 'ok' || txn.op.f !== 'read') return;
    readsChecked++;
    const name = txn.id !== undefined ? `T${String(txn.id)}` : `T#${i}`;
    const error = readError(i, name, txn.op.balances, opts);
    if (error === undefined) return;
    badReads++;
    firstBadRead ??= error;
    if (errors.length < (opts.errorsMax ?? BANK_ERRORS_MAX_DEFAULT)) errors.push(error);
  });
  return { valid: badReads === 0, readsChecked, badReads, firstBadRead, errors };
}

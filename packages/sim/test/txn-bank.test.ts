import { describe, expect, it } from 'vitest';
import { checkBank, type BankOp, type BankTxn } from '../src/txn-check/index.ts';

const ACCOUNTS = ['a', 'b', 'c'];
const TOTAL = 30;
const opts = { accounts: ACCOUNTS, total: TOTAL };

const read = (balances: Record<string, number>, type: BankTxn['type'] = 'ok'): BankTxn => ({ process: 0, type, op: { f: 'read', balances } });
const transfer = (from: string, to: string, amount: number): BankTxn => ({ process: 1, type: 'ok', op: { f: 'transfer', from, to, amount } });

/** Runs transfers serially on a model bank, reading a snapshot after each: always conserved. */
function serialBank(steps: number): BankTxn[] {
  const balances: Record<string, number> = { a: 10, b: 10, c: 10 };
  const history: BankTxn[] = [read({ ...balances })];
  for (let i = 0; i < steps; i++) {
    const from = ACCOUNTS[i % 3];
    const to = ACCOUNTS[(i * 7 + 1) % 3];
    const amount = Math.min(balances[from], (i % 5) + 1);
    if (from === to || amount === 0) continue;
    balances[from] -= amount;
    balances[to] += amount;
    history.push(transfer(from, to, amount), read({ ...balances }));
  }
  return history;
}

describe('bank checker', () => {
  it('a serial bank conserves the total in every read', () => {
    const history = serialBank(200);
    const r = checkBank(history, opts);
    expect(r).toMatchObject({ valid: true, badReads: 0, errors: [] });
    expect(r.readsChecked).toBeGreaterThan(100);
    expect(r.firstBadRead).toBeUndefined();
  });

  it('reports the first torn read: one side of a transfer seen', () => {
    const history = [...serialBank(10), read({ a: 5, b: 10, c: 10 }), read({ a: 40, b: 0, c: 0 })];
    const r = checkBank(history, opts);
    expect(r.valid).toBe(false);
    expect(r.badReads).toBe(2);
    expect(r.firstBadRead).toMatchObject({ kind: 'wrong-total', txn: history.length - 2, total: 25 });
    expect(r.firstBadRead?.explanation).toContain('total 25');
  });

  it('reports a read missing an account, or naming an unknown one', () => {
    expect(checkBank([read({ a: 15, b: 15 })], opts).firstBadRead?.kind).toBe('missing-account');
    expect(checkBank([read({ a: 10, b: 10, c: 10, d: 0 })], opts).firstBadRead?.kind).toBe('unexpected-account');
  });

  it('reports negative balances unless allowed', () => {
    const history = [read({ a: -5, b: 20, c: 15 })];
    expect(checkBank(history, opts).firstBadRead?.kind).toBe('negative-balance');
    expect(checkBank(history, { ...opts, negativeAllowed: true }).valid).toBe(true);
  });

  it('ignores reads of failed and undetermined transactions', () => {
    const r = checkBank([read({ a: 1, b: 1, c: 1 }, 'fail'), read({ a: 1, b: 1, c: 1 }, 'info'), read({ a: 10, b: 10, c: 10 })], opts);
    expect(r).toMatchObject({ valid: true, readsChecked: 1 });
  });

  it('keeps errorsMax errors and counts them all', () => {
    const bad = Array.from({ length: 20 }, () => read({ a: 0, b: 0, c: 0 }));
    const r = checkBank(bad, { ...opts, errorsMax: 3 });
    expect(r.errors).toHaveLength(3);
    expect(r.badReads).toBe(20);
  });

  it('transfers are not reads', () => {
    const op: BankOp = { f: 'transfer', from: 'a', to: 'b', amount: 1000 };
    expect(checkBank([{ process: 0, type: 'ok', op }], opts)).toMatchObject({ valid: true, readsChecked: 0 });
  });
});

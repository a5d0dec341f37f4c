/**
 * Lost update, found directly (Elle's `lost-update-cases`): two committed transactions read
 * the same version of a key and both wrote the key. Whatever order their writes took, one of
 * them was computed from a state the other had already replaced. Snapshot isolation forbids
 * it (first committer wins). Finding it as a cycle would need the full version order, which
 * inference may not give, so it is checked in one linear pass instead.
 */
import { txnLabel, type Prepared } from './prepare.ts';
import type { AnomalySink } from './sink.ts';

/** The version a read names: a list's last element, a register's value, or `init`. */
function versionRead(value: readonly number[] | number | null): string {
  if (value === null) return 'init';
  if (typeof value === 'number') return String(value);
  return value.length === 0 ? 'init' : String(value[value.length - 1]);
}

/** Reports every (key, version) that two or more committed read-then-write transactions share. */
export function checkLostUpdates(p: Prepared, sink: AnomalySink): void {
  const groups = new Map<string, { key: string; read: unknown; txns: number[] }>();
  p.history.forEach((txn, i) => {
    if (txn.type !== 'ok') return;
    for (const [key, value] of p.extReads[i]) {
      if (!p.writesByTxn[i].has(key)) continue;
      const id = `${key}\u0000${versionRead(value)}`;
      const group = groups.get(id);
      if (group === undefined) groups.set(id, { key, read: value, txns: [i] });
      else group.txns.push(i);
    }
  });
  for (const { key, read, txns } of groups.values()) {
    if (txns.length < 2) continue;
    sink.report('lost-update', () => ({
      type: 'lost-update',
      witness: { key, txns, values: [read] },
      explanation: `${txns.map((i) => txnLabel(p.history[i], i)).join(', ')} all read ${key} = ${JSON.stringify(read)} and all wrote ${key}, and committed: all but one of their updates is lost`,
    }));
  }
}

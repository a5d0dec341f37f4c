/**
 * The list's writes as named mutators (`kv.registerMutator`, `kv.mutate`): each runs as a normal
 * transaction while this browser reaches a quorum, and is queued in IndexedDB while it does not,
 * to commit when another device is back (a changed read re-runs the mutator then). Their
 * arguments are JSON; each reads what it changes, so a queued one is checked against what
 * committed since it ran.
 */
import type { BrowserPeerKV } from 'peerkv/browser';

/** A mutator's transaction (`peerkv/browser` does not export the class's type by name). */
type Transaction = Parameters<Parameters<BrowserPeerKV['registerMutator']>[1]>[0];

/** Key prefix of list items. */
export const LIST_PREFIX = 'list/';
/** Key prefix of items in the basket. */
export const BASKET_PREFIX = 'basket/';

/** An item's value (JSON). */
export interface Item {
  text: string;
  done: boolean;
}

/** Which list an item is in. */
export type Where = typeof LIST_PREFIX | typeof BASKET_PREFIX;

const enc = new TextEncoder();
const dec = new TextDecoder();

function itemKey(where: Where, id: string): Uint8Array {
  return enc.encode(where + id);
}

/** `addItem`: a new item on the list. */
export interface AddItemArgs {
  id: string;
  text: string;
}
/** `setDone`: checks or unchecks an item; an item that is gone stays gone. */
export interface SetDoneArgs {
  where: Where;
  id: string;
  done: boolean;
}
/** `deleteItem`: deletes an item. */
export interface DeleteItemArgs {
  where: Where;
  id: string;
}
/** `moveItem`: the item leaves `from` and appears under `to`, or nothing happens (it was gone). */
export interface MoveItemArgs {
  id: string;
  from: Where;
  to: Where;
}

/** What a `moveItem` run returns: whether it moved, and the ts it read at (its start ts when online). */
export interface MoveResult {
  moved: boolean;
  startTs: bigint;
}

/** Registers the list's mutators on `kv` (before any `mutate`, and on every page load: queued ones may re-run). */
export function registerListMutators(kv: BrowserPeerKV): void {
  kv.registerMutator('addItem', async (tx: Transaction, a: AddItemArgs) => {
    tx.put(itemKey(LIST_PREFIX, a.id), enc.encode(JSON.stringify({ text: a.text, done: false } satisfies Item)));
  });
  kv.registerMutator('setDone', async (tx: Transaction, a: SetDoneArgs) => {
    const v = await tx.get(itemKey(a.where, a.id));
    if (v === undefined) return;
    const item = JSON.parse(dec.decode(v)) as Item;
    tx.put(itemKey(a.where, a.id), enc.encode(JSON.stringify({ ...item, done: a.done } satisfies Item)));
  });
  kv.registerMutator('deleteItem', async (tx: Transaction, a: DeleteItemArgs) => {
    tx.delete(itemKey(a.where, a.id));
  });
  kv.registerMutator('moveItem', async (tx: Transaction, a: MoveItemArgs): Promise<MoveResult> => {
    const v = await tx.get(itemKey(a.from, a.id));
    if (v === undefined) return { moved: false, startTs: tx.startTs };
    tx.delete(itemKey(a.from, a.id));
    tx.put(itemKey(a.to, a.id), v);
    return { moved: true, startTs: tx.startTs };
  });
}

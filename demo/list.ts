/**
 * The shopping list and the basket: items are PeerKV pairs under `list/` and `basket/` (value:
 * JSON `{text, done}`), the same item id in either. Moving an item is one transaction: read it
 * here, delete it here, put it there, committed atomically (2PC when the two keys' regions
 * differ, 1PC when they share one); its start and commit timestamps are shown. Every tab
 * re-reads both lists when any tab writes (the runtime's change notifications) and every few
 * seconds as a fallback.
 */
import type { BrowserPeerKV } from 'peerkv/browser';
import { byId, h } from './dom.ts';

/** Key prefix of list items. */
export const LIST_PREFIX = 'list/';
/** Key prefix of items in the basket. */
export const BASKET_PREFIX = 'basket/';
/** Longest item text, characters. */
export const ITEM_TEXT_MAX = 200;
/** Most items shown per list. */
export const ITEMS_SHOWN_MAX = 500;
/** Fallback refresh period, ms. */
const LIST_POLL_MS = 3000;

interface Item {
  text: string;
  done: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An id that sorts by creation time. */
function newItemId(): string {
  const t = Date.now().toString(36).padStart(10, '0');
  return `${t}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The last moves, newest first (shown in the dashboard's event log too). */
export const moves: { text: string; to: string; startTs: bigint; commitTs?: bigint; attempts: number }[] = [];
/** Moves remembered. */
const MOVES_KEPT_MAX = 20;

/** Wires the lists to `kv`; `onMove` hears of each committed move. */
export function mountList(kv: BrowserPeerKV, onMove: (line: string) => void = () => {}): void {
  const ul = byId<HTMLUListElement>('items');
  const basket = byId<HTMLUListElement>('basket');
  const status = byId('list-status');
  const txnStatus = byId('txn-status');
  const input = byId<HTMLInputElement>('item');
  let refreshing = false;
  let again = false;

  async function refresh(): Promise<void> {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    const items = (pairs: { key: Uint8Array; value: Uint8Array }[], prefix: string) => pairs.map((p) => ({ id: dec.decode(p.key).slice(prefix.length), item: JSON.parse(dec.decode(p.value)) as Item }));
    const range = (p: string) => ({ start: enc.encode(p), end: enc.encode(p + '\uffff'), limit: ITEMS_SHOWN_MAX });
    try {
      const [list, inBasket] = await Promise.all([LIST_PREFIX, BASKET_PREFIX].map((p) => kv.scan(range(p))));
      render(items(list, LIST_PREFIX), items(inBasket, BASKET_PREFIX));
      status.textContent = list.length + inBasket.length === 0 ? 'Nothing on the list yet.' : `${list.length} item(s) to buy, ${inBasket.length} in the basket`;
    } catch (e) {
      // No quorum (the other devices are away): show what this browser's store has, as of its
      // resolved ts, read from its own replica with no leader.
      try {
        const whole = await kv.staleScan({ start: enc.encode(BASKET_PREFIX), end: enc.encode(LIST_PREFIX + '\uffff'), limit: 2 * ITEMS_SHOWN_MAX });
        const under = (prefix: string) => whole.pairs.filter((p) => dec.decode(p.key).startsWith(prefix));
        render(items(under(LIST_PREFIX), LIST_PREFIX), items(under(BASKET_PREFIX), BASKET_PREFIX));
        const asOf = whole.ts === undefined ? 'unknown' : new Date(Number(whole.ts >> 18n)).toLocaleTimeString();
        status.textContent = `Offline, as of ${asOf}: this browser's copy (the list cannot be read live: ${String(e)})`;
      } catch (e2) {
        status.textContent = `Could not read the list: ${String(e)} (this browser's copy: ${String(e2)})`;
      }
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  }

  let shown = '';

  function row(prefix: string, id: string, item: Item): HTMLLIElement {
    const key = enc.encode(prefix + id);
    const box = h('input', { type: 'checkbox', checked: item.done, 'aria-label': `done: ${item.text}` });
    box.addEventListener('change', () => void write(() => kv.put(key, enc.encode(JSON.stringify({ ...item, done: box.checked })))));
    const toBasket = prefix === LIST_PREFIX;
    const move = h('button', { class: 'secondary move', title: toBasket ? 'move to the basket' : 'move back to the list' }, toBasket ? '→' : '←');
    move.addEventListener('click', () => void write(() => moveItem(id, item.text, prefix, toBasket ? BASKET_PREFIX : LIST_PREFIX)));
    const del = h('button', { class: 'danger', title: 'delete' }, '✕');
    del.addEventListener('click', () => void write(() => kv.delete(key)));
    return h('li', { class: item.done ? 'done' : '', 'data-key': prefix + id }, box, h('span', { class: 'text' }, item.text), move, del);
  }

  /** Rebuilds the lists only when they changed, so a checkbox under the pointer is not replaced. */
  function render(list: { id: string; item: Item }[], inBasket: { id: string; item: Item }[]): void {
    const signature = JSON.stringify([list, inBasket]);
    if (signature === shown) return;
    shown = signature;
    ul.replaceChildren(...list.map(({ id, item }) => row(LIST_PREFIX, id, item)));
    basket.replaceChildren(...inBasket.map(({ id, item }) => row(BASKET_PREFIX, id, item)));
  }

  /** One transaction: the item leaves `from` and appears under `to`, or nothing happens. */
  async function moveItem(id: string, text: string, from: string, to: string): Promise<void> {
    const { value: moved, info } = await kv.transactionWithInfo(async (tx) => {
      const v = await tx.get(enc.encode(from + id));
      if (v === undefined) return false;
      tx.delete(enc.encode(from + id));
      tx.put(enc.encode(to + id), v);
      return true;
    });
    if (!moved) {
      txnStatus.textContent = `“${text}” was already moved or deleted (read at ts ${info.startTs}).`;
      return;
    }
    const where = to === BASKET_PREFIX ? 'the basket' : 'the list';
    moves.unshift({ text, to: where, startTs: info.startTs, ...(info.commitTs !== undefined ? { commitTs: info.commitTs } : {}), attempts: info.attempts });
    moves.length = Math.min(moves.length, MOVES_KEPT_MAX);
    const line = `moved “${text}” to ${where} in one transaction: start ts ${info.startTs}, commit ts ${info.commitTs} (${info.onePc ? '1PC' : '2PC'}${info.attempts > 1 ? `, ${info.attempts} runs` : ''})`;
    txnStatus.textContent = line;
    onMove(line);
  }

  async function write(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      status.textContent = `Write failed: ${String(e)}`;
    }
    await refresh();
  }

  byId<HTMLFormElement>('add').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim().slice(0, ITEM_TEXT_MAX);
    if (!text) return;
    input.value = '';
    void write(() => kv.put(enc.encode(LIST_PREFIX + newItemId()), enc.encode(JSON.stringify({ text, done: false } satisfies Item))));
  });
  kv.subscribe(() => void refresh());
  setInterval(() => void refresh(), LIST_POLL_MS);
  void refresh();
}

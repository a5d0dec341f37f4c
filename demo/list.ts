/**
 * The shopping list: items are PeerKV pairs under `list/` (value: JSON `{text, done}`); every
 * tab re-reads the list when any tab writes (the runtime's change notifications) and every
 * few seconds as a fallback.
 */
import type { BrowserPeerKV } from 'peerkv/browser';
import { byId, h } from './dom.ts';

/** Key prefix of list items. */
export const LIST_PREFIX = 'list/';
/** Longest item text, characters. */
export const ITEM_TEXT_MAX = 200;
/** Most items shown. */
export const ITEMS_SHOWN_MAX = 500;
/** Fallback refresh period, ms. */
const LIST_POLL_MS = 3000;

interface Item {
  text: string;
  done: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A key that sorts by creation time. */
function newItemKey(): string {
  const t = Date.now().toString(36).padStart(10, '0');
  return `${LIST_PREFIX}${t}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Wires the list UI to `kv`. */
export function mountList(kv: BrowserPeerKV): void {
  const ul = byId<HTMLUListElement>('items');
  const status = byId('list-status');
  const input = byId<HTMLInputElement>('item');
  let refreshing = false;
  let again = false;

  async function refresh(): Promise<void> {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      const pairs = await kv.scan({ start: enc.encode(LIST_PREFIX), end: enc.encode(LIST_PREFIX + '\uffff'), limit: ITEMS_SHOWN_MAX });
      render(pairs.map((p) => ({ key: dec.decode(p.key), item: JSON.parse(dec.decode(p.value)) as Item })));
      status.textContent = pairs.length === 0 ? 'Nothing on the list yet.' : `${pairs.length} item(s)`;
    } catch (e) {
      status.textContent = `Could not read the list: ${String(e)}`;
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        void refresh();
      }
    }
  }

  let shown = '';

  /** Rebuilds the list only when it changed, so a checkbox under the pointer is not replaced. */
  function render(items: { key: string; item: Item }[]): void {
    const signature = JSON.stringify(items);
    if (signature === shown) return;
    shown = signature;
    ul.replaceChildren(
      ...items.map(({ key, item }) => {
        const box = h('input', { type: 'checkbox', checked: item.done, 'aria-label': `done: ${item.text}` });
        box.addEventListener('change', () => void write(() => kv.put(enc.encode(key), enc.encode(JSON.stringify({ ...item, done: box.checked })))));
        const del = h('button', { class: 'danger', title: 'delete' }, '✕');
        del.addEventListener('click', () => void write(() => kv.delete(enc.encode(key))));
        return h('li', { class: item.done ? 'done' : '', 'data-key': key }, box, h('span', { class: 'text' }, item.text), del);
      }),
    );
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
    void write(() => kv.put(enc.encode(newItemKey()), enc.encode(JSON.stringify({ text, done: false } satisfies Item))));
  });
  kv.subscribe(() => void refresh());
  setInterval(() => void refresh(), LIST_POLL_MS);
  void refresh();
}

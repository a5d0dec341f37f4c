/**
 * The shopping list and the basket: items are PeerKV pairs under `list/` and `basket/` (value:
 * JSON `{text, done}`), the same item id in either. Every write is a mutator (`mutators.ts`)
 * called through `kv.mutate`: online it commits at once; while this browser reaches no quorum
 * it is queued in IndexedDB and listed under the lists as waiting for another device (never
 * shown as committed), and commits when the quorum is back. Moving an item is one transaction:
 * read it here, delete it here, put it there, committed atomically (2PC when the two keys'
 * regions differ, 1PC when they share one); an online move shows its start and commit ts.
 * The lists follow `kv.watch` over both prefixes: a committed change, made by any device,
 * makes the page re-read them (about one resolved-ts interval after the commit), and so does
 * any write of this profile's tabs at once (`kv.subscribe`). Only while the watch is silent
 * (no watermark for `LIST_WATCH_SILENT_MS`: no quorum, the watch restarting, an idle region)
 * are the lists polled every `LIST_POLL_MS`, which is also how the page notices that the other
 * devices are away and shows its own copy. The watch keeps running then, and goes on by itself
 * when they are back.
 */
import type { BrowserPeerKV } from 'peerkv/browser';
import { byId, h } from './dom.ts';
import { BASKET_PREFIX, LIST_PREFIX, registerListMutators, type Item, type MoveItemArgs, type MoveResult, type Where } from './mutators.ts';
/** Longest item text, characters. */
export const ITEM_TEXT_MAX = 200;
/** Most items shown per list. */
export const ITEMS_SHOWN_MAX = 500;
/** Fallback refresh period while the watch is silent, ms. */
const LIST_POLL_MS = 3000;
/**
 * The watch counts as silent after this long without a watermark, ms: above the watermark
 * cadence of an idle (hibernating) region, 10 s.
 */
const LIST_WATCH_SILENT_MS = 11_000;
/** Pause before the lists' watch starts again after it failed, ms. */
const LIST_WATCH_RETRY_MS = 2000;

/** What `kv.mutate` returns (`peerkv/browser` does not export the type by name). */
type QueuedHandle = Awaited<ReturnType<BrowserPeerKV['mutate']>>;
/** Most queued changes whose descriptions this profile remembers (localStorage). */
const QUEUE_NOTES_MAX = 200;
/** localStorage key of the queued changes' descriptions (`pending()` lists ids and mutator names only). */
const QUEUE_NOTES_KEY = 'peerkv-demo:queued-notes';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An id that sorts by creation time. */
function newItemId(): string {
  const t = Date.now().toString(36).padStart(10, '0');
  return `${t}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The last moves, newest first (shown in the dashboard's event log too). */
export const moves: { text: string; to: string; startTs: bigint; commitTs: bigint }[] = [];
/** Moves remembered. */
const MOVES_KEPT_MAX = 20;

/** Descriptions of queued changes by transaction id, kept across reloads (the queue is too). */
function loadNotes(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(QUEUE_NOTES_KEY) ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

function saveNotes(notes: Record<string, string>): void {
  const kept = Object.entries(notes).slice(-QUEUE_NOTES_MAX);
  localStorage.setItem(QUEUE_NOTES_KEY, JSON.stringify(Object.fromEntries(kept)));
}

/** "2 changes waiting for another device". */
export function waitingText(n: number): string {
  return `${n} change${n === 1 ? '' : 's'} waiting for another device`;
}

/** Wires the lists to `kv`; `onMove` hears of each committed move. */
export function mountList(kv: BrowserPeerKV, onMove: (line: string) => void = () => {}): void {
  registerListMutators(kv);
  const ul = byId<HTMLUListElement>('items');
  const basket = byId<HTMLUListElement>('basket');
  const status = byId('list-status');
  const txnStatus = byId('txn-status');
  const queueStatus = byId('queue-status');
  const queued = byId<HTMLUListElement>('queued');
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

  /** The queue under the lists: how many changes wait, and what each one is (not shown as committed). */
  let queueReads = 0;
  async function showQueue(): Promise<void> {
    // Reads may overlap: only the newest one is shown.
    const read = ++queueReads;
    let pending;
    try {
      pending = await kv.pending();
      if (read !== queueReads) return;
    } catch (e) {
      queueStatus.textContent = `Could not read the queue of changes: ${String(e)}`;
      return;
    }
    const notes = loadNotes();
    queueStatus.textContent = waitingText(pending.length);
    queued.replaceChildren(
      ...pending.map((p) => {
        const what = notes[p.id] ?? p.mutator ?? 'a transaction';
        const state = p.state === 'rejected' ? `rejected: ${p.lastError?.message ?? 'conflict'}` : `${p.state}, ${p.attempts} attempt(s)${p.lastError ? `, last: ${p.lastError.kind}` : ''}`;
        return h('li', { class: 'queued', 'data-state': p.state }, `${what} (${state})`);
      }),
    );
    const ids = new Set(pending.map((p) => p.id));
    if (Object.keys(notes).some((id) => !ids.has(id))) saveNotes(Object.fromEntries(Object.entries(notes).filter(([id]) => ids.has(id))));
  }

  let shown = '';

  function row(prefix: Where, id: string, item: Item): HTMLLIElement {
    const box = h('input', { type: 'checkbox', checked: item.done, 'aria-label': `done: ${item.text}` });
    box.addEventListener('change', () => void mutate('setDone', { where: prefix, id, done: box.checked }, `${box.checked ? 'check' : 'uncheck'} “${item.text}”`));
    const toBasket = prefix === LIST_PREFIX;
    const move = h('button', { class: 'secondary move', title: toBasket ? 'move to the basket' : 'move back to the list' }, toBasket ? '→' : '←');
    move.addEventListener('click', () => void moveItem(id, item.text, prefix, toBasket ? BASKET_PREFIX : LIST_PREFIX));
    const del = h('button', { class: 'danger', title: 'delete' }, '✕');
    del.addEventListener('click', () => void mutate('deleteItem', { where: prefix, id }, `delete “${item.text}”`));
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

  /**
   * Runs mutator `name`; a queued one gets `what` as its description and refreshes the page
   * when it commits. Returns the handle, or undefined when the write failed (shown).
   */
  async function mutate(name: string, args: unknown, what: string): Promise<QueuedHandle | undefined> {
    let handle: QueuedHandle | undefined;
    try {
      handle = await kv.mutate(name, args);
      if (handle.state !== 'committed') {
        saveNotes({ ...loadNotes(), [handle.id]: what });
        txnStatus.textContent = `Queued (no quorum reachable): ${what}; it commits when another device is back.`;
        handle.committed.then(
          () => void showQueue().then(refresh),
          (e: unknown) => {
            txnStatus.textContent = `A queued change was rejected: ${what}: ${String(e)}`;
            void showQueue();
          },
        );
      }
    } catch (e) {
      // Under the lists' status, which the next refresh rewrites.
      txnStatus.textContent = `Write failed: ${what}: ${String(e)}`;
    }
    void showQueue();
    await refresh();
    return handle;
  }

  /** One transaction: the item leaves `from` and appears under `to`, or nothing happens. */
  async function moveItem(id: string, text: string, from: Where, to: Where): Promise<void> {
    const where = to === BASKET_PREFIX ? 'the basket' : 'the list';
    const handle = await mutate('moveItem', { id, from, to } satisfies MoveItemArgs, `move “${text}” to ${where}`);
    // Queued: it ran on this browser's copy; its result is known when it commits (and may be a re-run).
    if (handle === undefined || handle.state !== 'committed') return;
    const { moved, startTs } = handle.value as MoveResult;
    if (!moved) {
      txnStatus.textContent = `“${text}” was already moved or deleted (read at ts ${startTs}).`;
      return;
    }
    const { commitTs } = await handle.committed;
    moves.unshift({ text, to: where, startTs, commitTs });
    moves.length = Math.min(moves.length, MOVES_KEPT_MAX);
    const line = `moved “${text}” to ${where} in one transaction: start ts ${startTs}, commit ts ${commitTs}`;
    txnStatus.textContent = line;
    onMove(line);
  }

  byId<HTMLFormElement>('add').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim().slice(0, ITEM_TEXT_MAX);
    if (!text) return;
    input.value = '';
    void mutate('addItem', { id: newItemId(), text }, `add “${text}”`);
  });
  // The queue is read apart from the lists: a live read that waits for a quorum does not hold it up.
  const refreshAll = () => {
    void showQueue();
    void refresh();
  };
  kv.subscribe(refreshAll);
  let lastWatermarkAt = -Infinity;
  void followChanges(kv, refreshAll, () => {
    lastWatermarkAt = performance.now();
    // Whether the lists follow the watch now (the demo e2e checks it).
    status.dataset.watch = 'on';
  });
  setInterval(() => {
    if (performance.now() - lastWatermarkAt > LIST_WATCH_SILENT_MS) {
      status.dataset.watch = 'off';
      refreshAll();
    } else void showQueue();
  }, LIST_POLL_MS);
  refreshAll();
}

/**
 * Watches both lists for as long as the page runs: `onChange` after each committed change, and
 * once when a watch starts (that read is at a ts after the watch's start, so nothing falls
 * between); `onWatermark` on each watermark. A watch that failed (no answer for two minutes,
 * the host's watch lost too often) starts again after `LIST_WATCH_RETRY_MS`. It runs on while
 * the other devices are away: the offline reads do not depend on the routes its retries
 * fetch (a stale read goes to this store's own replica as the store knows it, even when the
 * routes, from a PD replica here that lags, leave that replica out), and it resumes from its
 * last watermark when they are back. The lists are read whole each time, so
 * only the signal matters, not the changes.
 */
async function followChanges(kv: BrowserPeerKV, onChange: () => void, onWatermark: () => void): Promise<void> {
  const range = { start: enc.encode(BASKET_PREFIX), end: enc.encode(LIST_PREFIX + '\uffff') };
  for (;;) {
    try {
      let started = false;
      for await (const e of kv.watch(range)) {
        if (e.type !== 'resolved') onChange();
        else {
          onWatermark();
          if (!started) onChange();
          started = true;
        }
      }
    } catch {
      // Shown by the lists' own reads (the poll runs while the watch is silent).
    }
    await new Promise((r) => setTimeout(r, LIST_WATCH_RETRY_MS));
  }
}

/**
 * One store's card on the dashboard: whose store it is (this browser's, added in this page,
 * remote), up/down, cut links, PD leadership, its engine (chromium, firefox, webkit, node),
 * counters, its join progress (PD placing replicas on it) and snapshot catch-up, its safe ts and lag, and its controls: Stop/Start for a store this page runs, Partition (this browser's store: cut it
 * off from every member; another store: cut this browser's link to it).
 */
import { TXN_LOCKS_COUNTED_MAX, type JoinView, type PdView, type SnapshotProgress, type StoreView } from 'peerkv/browser';
import { h, kib } from './dom.ts';
import type { DemoStores } from './stores.ts';

/** What a card needs from the dashboard. */
export interface CardContext {
  stores: DemoStores;
  act: (what: string, op: () => Promise<unknown>) => Promise<void>;
  /** This browser's own (main) store id, once known. */
  mainStoreId: () => number | undefined;
}

/** Per-update facts from the main store's status. */
export interface CardFacts {
  /** Stores the main store is cut off from. */
  cut: ReadonlySet<number>;
  pdLeader: number | undefined;
  /** What PD knows of this store (address, labels, capacity), when a PD replica is in view. */
  pdStore?: PdView['stores'][number];
}

/** One store's card; its buttons stay the same elements across updates. */
export class StoreCard {
  readonly el: HTMLElement;
  private readonly badges = h('span', {});
  private readonly kind = h('div', { class: 'kind' });
  private readonly counters = h('div', { class: 'counters' });
  private readonly toggle = h('button', {});
  private readonly cut = h('button', { class: 'secondary' }, 'Partition');
  private up = true;

  constructor(
    private readonly storeId: number,
    private readonly ctx: CardContext,
  ) {
    this.el = h('div', { class: 'store', 'data-store': String(storeId) }, h('div', { class: 'title' }, `store ${storeId}`, this.badges), this.kind, this.counters, h('div', { class: 'actions' }, this.toggle, this.cut));
    this.toggle.addEventListener('click', () => {
      const owner = ctx.stores.owner(storeId);
      if (!owner) return;
      void ctx.act(`${this.up ? 'stop' : 'start'} store ${storeId}`, () => (this.up ? owner.kv.stopStore(storeId) : owner.kv.startStore(storeId)));
    });
    this.cut.addEventListener('click', () => void ctx.act(`partition store ${storeId}`, () => ctx.stores.main.kv.partitionStore(storeId)));
  }

  private isWitness(s: StoreView, facts: CardFacts): boolean {
    if (facts.pdStore?.labels['witness'] === 'true') return true;
    return s.regions.some((r) => r.peers.some((p) => p.storeId === this.storeId && p.witness === true));
  }

  update(s: StoreView, facts: CardFacts): void {
    const owner = this.ctx.stores.owner(this.storeId);
    const isMain = this.storeId === this.ctx.mainStoreId();
    const kind = isMain ? 'local' : owner ? 'extra' : 'remote';
    this.up = s.up;
    this.el.className = s.up ? 'store' : 'store down';
    this.el.dataset.kind = kind;
    this.kind.textContent = isMain ? 'this browser' : owner ? `added worker (${owner.storeName})` : 'remote';
    this.toggle.hidden = !owner;
    this.toggle.textContent = s.up ? 'Stop' : 'Start';
    this.toggle.className = s.up ? 'danger' : '';
    // The main store's card is cut when it is cut off from anyone; another card when the main store cut it.
    const isCut = isMain ? facts.cut.size > 0 : facts.cut.has(this.storeId);
    const engine = facts.pdStore?.labels['engine'];
    this.cut.disabled = isCut;
    this.cut.title = isMain ? 'cut this browser’s store off from every member' : 'cut this browser’s link to this store';
    this.badges.replaceChildren(
      h('span', { class: s.up ? 'badge' : 'badge down' }, s.up ? 'up' : 'down'),
      ...(isCut ? [h('span', { class: 'badge cut' }, 'cut')] : []),
      ...(facts.pdLeader === this.storeId ? [h('span', { class: 'badge leader' }, 'PD')] : []),
      // A witness (e.g. `npm start`'s, beside the signaling server): votes, holds no data.
      ...(this.isWitness(s, facts) ? [h('span', { class: 'badge', title: 'votes and keeps the Raft log, holds no data, never leads' }, 'witness')] : []),
      // The runtime it reports to PD (label `engine`): PD keeps each region on 2 engines once 2 are present.
      ...(engine ? [h('span', { class: 'badge engine', 'data-engine': engine, title: 'the browser engine (or node) this store runs in, as PD sees it' }, engine)] : []),
    );
    const c = s.counters;
    const leads = s.regions.filter((r) => r.role === 'leader').length;
    const lines = c
      ? [`regions ${s.regions.length} · leading ${leads}`, `rounds ${c.rounds} · writes ${c.writes}`, `snapshots ${c.snapshotsGenerated}/${c.snapshotsInstalled} · log GC ${c.logCompactions}`]
      : [owner || isMain ? 'stopped (data kept in IndexedDB)' : 'unreachable from here'];
    if (facts.pdStore?.join) lines.push(joinLine(facts.pdStore.join));
    if (s.catchUp) lines.push(...catchUpLines(s.catchUp));
    const safe = c ? safeTsLine(s, Date.now()) : undefined;
    if (safe) lines.push(safe);
    if (s.txnLocks !== undefined) lines.push(`txn locks ${s.txnLocks >= TXN_LOCKS_COUNTED_MAX ? `${TXN_LOCKS_COUNTED_MAX}+` : s.txnLocks}`);
    if (s.database) lines.push(`IndexedDB ${s.database}`);
    const meta = facts.pdStore;
    if (meta) {
      const labels = Object.entries(meta.labels).map(([k, v]) => `${k}=${v}`).join(' ') || 'no labels';
      const capacity = meta.capacityBytes !== undefined ? ` · used ${kib(meta.usedBytes ?? 0)} of ${(meta.capacityBytes / 2 ** 30).toFixed(1)} GiB` : '';
      lines.push(`PD: ${meta.state}${meta.draining ? ' (draining)' : ''} · ${labels}${capacity}`);
    }
    if (s.stoppedReason) lines.push(`stopped: ${s.stoppedReason.split('\n')[0]}`);
    this.counters.replaceChildren(...lines.flatMap((l, i) => (i === 0 ? [l] : [h('br'), l])));
  }
}

/**
 * The store's join progress as PD's records show it (`joinProgress` in `@peerkv/pd`): k of the
 * n regions PD places on it are placed, m caught up (a promoted voter, not behind), and the
 * snapshot bytes it received (from its status: this browser's and the stores that answered); "joined" once m = n.
 */
export function joinLine(j: JoinView): string {
  const bytes = j.bytesReceived !== undefined && j.bytesReceived > 0 ? ` · ${kib(j.bytesReceived)} received` : '';
  if (j.joined) return `joined: ${j.target} of ${j.target} regions placed here, all caught up${bytes}`;
  return `joining: ${j.placed} of ${j.target} regions placed here · ${j.caughtUp} caught up${bytes}`;
}

/** Regions of a catch-up listed on a card at most (the rest counted). */
const CATCH_UP_REGIONS_SHOWN_MAX = 3;

/** A store catching up by snapshot: what is arriving, and each region applying with its chunks. */
function catchUpLines(c: SnapshotProgress): string[] {
  const lines = [`catching up: ${c.receiving} snapshot(s) arriving · ${kib(c.bytesReceived)} received`];
  for (const a of c.applying.slice(0, CATCH_UP_REGIONS_SHOWN_MAX)) {
    lines.push(`region ${a.regionId}: ${a.failed ? `apply failed (${a.failed})` : `applying ${a.chunksApplied}/${a.chunks} chunks`}`);
  }
  if (c.applying.length > CATCH_UP_REGIONS_SHOWN_MAX) lines.push(`and ${c.applying.length - CATCH_UP_REGIONS_SHOWN_MAX} more region(s) applying`);
  return lines;
}

/**
 * The store's safe ts (the least resolved ts its mvcc replicas applied: stale reads on it are
 * served at or below it, and a watch has every change up to it) and its lag, `nowMs` minus the
 * ts's physical part (ms since the epoch, from PD's clock; clamped at 0 for clock skew).
 * Undefined while no replica of the store has one (raw model, PD's region only).
 */
export function safeTsLine(s: StoreView, nowMs: number): string | undefined {
  let least: bigint | undefined;
  for (const r of s.regions) if (r.safeTs !== undefined && (least === undefined || r.safeTs < least)) least = r.safeTs;
  if (least === undefined) return undefined;
  const physicalMs = Number(least >> 18n);
  return `safe ts ${new Date(physicalMs).toISOString().slice(11, 23)} · lag ${Math.max(0, nowMs - physicalMs)} ms`;
}

/**
 * The live cluster dashboard: stores (up/down, partitioned, counters, stop/start/partition),
 * regions (range, epoch, leader, every replica's role, term, commit and applied index), the
 * host tab and the profile's storage; polled from `status()`.
 */
import type { BrowserPeerKV, BrowserStatus, RegionView, StoreView } from 'peerkv/browser';
import { byId, h, showKey } from './dom.ts';

/** Dashboard refresh period, ms. */
const STATUS_POLL_MS = 700;

const enc = new TextEncoder();

/** Wires the dashboard to `kv`. */
export function mountDashboard(kv: BrowserPeerKV): void {
  const errorLine = byId('cluster-error');

  async function act(what: string, op: () => Promise<unknown>): Promise<void> {
    errorLine.textContent = '';
    try {
      await op();
    } catch (e) {
      errorLine.textContent = `${what} failed: ${String(e)}`;
    }
    await refresh();
  }

  const cards = new Map<number, StoreCard>();

  /** Updates the store cards in place, so a button under the pointer is never replaced. */
  function renderStores(stores: StoreView[]): void {
    const box = byId('stores');
    for (const s of stores) {
      let card = cards.get(s.storeId);
      if (!card) {
        card = new StoreCard(s.storeId, kv, act);
        cards.set(s.storeId, card);
        box.append(card.el);
      }
      card.update(s);
    }
  }

  function renderRegions(st: BrowserStatus): HTMLElement[] {
    const byRegion = new Map<number, { store: number; r: RegionView }[]>();
    for (const s of st.stores) for (const r of s.regions) (byRegion.get(r.regionId) ?? byRegion.set(r.regionId, []).get(r.regionId)!).push({ store: s.storeId, r });
    return [...byRegion.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([id, views]) => {
        const newest = views.reduce((a, b) => (b.r.epoch.version > a.r.epoch.version || b.r.epoch.confVer > a.r.epoch.confVer ? b : a));
        const leader = views.find((v) => v.r.role === 'leader');
        const range = `[${showKey(newest.r.startKey, '−∞')}, ${showKey(newest.r.endKey, '+∞')})`;
        return h(
          'tr',
          { 'data-region': String(id) },
          h('td', {}, String(id)),
          h('td', {}, h('code', {}, range)),
          h('td', {}, `v${newest.r.epoch.version} · conf ${newest.r.epoch.confVer}`),
          h('td', {}, leader ? `store ${leader.store}` : 'electing…'),
          h(
            'td',
            {},
            ...views.map((v) => h('span', { class: v.r.role === 'leader' ? 'replica leader' : 'replica' }, `${v.store}: ${v.r.role}, term ${v.r.term}, ${v.r.commit} / ${v.r.applied}${v.r.hibernating ? ' (idle)' : ''}`)),
            ...newest.r.peers.filter((p) => !views.some((v) => v.store === p.storeId)).map((p) => h('span', { class: 'replica down' }, `${p.storeId}: store down`)),
          ),
        );
      });
  }

  function renderSummary(st: BrowserStatus): void {
    const usage = st.storage ? `${(st.storage.usageBytes / 1024).toFixed(0)} KiB of ${(st.storage.quotaBytes / 2 ** 30).toFixed(1)} GiB` : 'unknown';
    const item = (label: string, value: string) => h('span', {}, `${label} `, h('b', {}, value));
    byId('summary').replaceChildren(
      item('cluster', st.cluster),
      item('opened', `${st.opened} in ${st.openMs} ms`),
      item('persistent storage', String(st.persisted)),
      item('IndexedDB usage', usage),
      item('requests', `${st.requests.reads} reads · ${st.requests.writes} writes · ${st.requests.failed} failed`),
    );
    byId('host').textContent = st.isHost
      ? `this tab hosts the stores (took over in ${st.takeoverMs} ms)${st.draining ? ' (draining)' : ''} · host elections seen: ${st.hostChanges}`
      : `attached to host tab ${st.hostTabId.slice(0, 8)} · host elections seen: ${st.hostChanges}`;
  }

  const events = new ClusterEvents(byId('events'));

  async function refresh(): Promise<void> {
    try {
      const st = await kv.status();
      events.observe(st);
      renderSummary(st);
      renderStores(st.stores);
      byId('regions').querySelector('tbody')!.replaceChildren(...renderRegions(st));
    } catch (e) {
      errorLine.textContent = `status failed: ${String(e)}`;
    }
  }

  byId('split').addEventListener('click', () => {
    const key = byId<HTMLInputElement>('split-key').value;
    void act(`split at ${key}`, () => kv.splitRegion(enc.encode(key)));
  });
  byId('heal').addEventListener('click', () => void act('heal', () => kv.heal()));
  setInterval(() => void refresh(), STATUS_POLL_MS);
  void refresh();
}

/** One store's card; its buttons stay the same elements across updates. */
class StoreCard {
  readonly el: HTMLElement;
  private readonly badges = h('span', {});
  private readonly counters = h('div', { class: 'counters' });
  private readonly toggle = h('button', {});
  private readonly cut = h('button', { class: 'secondary' }, 'Partition');
  private up = true;

  constructor(
    private readonly storeId: number,
    kv: BrowserPeerKV,
    act: (what: string, op: () => Promise<unknown>) => Promise<void>,
  ) {
    this.el = h('div', { class: 'store', 'data-store': String(storeId) }, h('div', { class: 'title' }, `store ${storeId}`, this.badges), this.counters, h('div', { class: 'actions' }, this.toggle, this.cut));
    this.toggle.addEventListener('click', () => void act(`${this.up ? 'stop' : 'start'} store ${storeId}`, () => (this.up ? kv.stopStore(storeId) : kv.startStore(storeId))));
    this.cut.addEventListener('click', () => void act(`partition store ${storeId}`, () => kv.partitionStore(storeId)));
  }

  update(s: StoreView): void {
    this.up = s.up;
    this.el.className = s.up ? 'store' : 'store down';
    this.toggle.textContent = s.up ? 'Stop' : 'Start';
    this.toggle.className = s.up ? 'danger' : '';
    this.cut.disabled = !s.up || s.partitioned;
    this.badges.replaceChildren(h('span', { class: s.up ? 'badge' : 'badge down' }, s.up ? 'up' : 'down'), ...(s.partitioned ? [h('span', { class: 'badge cut' }, 'cut')] : []));
    const c = s.counters;
    const leads = s.regions.filter((r) => r.role === 'leader').length;
    const lines = c
      ? [`regions ${s.regions.length} · leading ${leads}`, `rounds ${c.rounds} · writes ${c.writes}`, `snapshots ${c.snapshotsGenerated}/${c.snapshotsInstalled} · log GC ${c.logCompactions}`]
      : ['stopped (data kept in IndexedDB)'];
    if (s.stoppedReason) lines.push(`stopped: ${s.stoppedReason.split('\n')[0]}`);
    this.counters.replaceChildren(...lines.flatMap((l, i) => (i === 0 ? [l] : [h('br'), l])));
  }
}

/** Most events kept in the log. */
const EVENTS_SHOWN_MAX = 12;

/** Notices changes between two status polls (host, stores, leaders, splits) and logs them. */
class ClusterEvents {
  private host: string | undefined;
  private up = new Map<number, boolean>();
  private cut = new Map<number, boolean>();
  private leaders = new Map<number, string>();

  constructor(private readonly list: HTMLElement) {}

  observe(st: BrowserStatus): void {
    if (this.host !== st.hostTabId) {
      this.log(st.isHost ? `this tab became the host (took over in ${st.takeoverMs} ms)` : `host is tab ${st.hostTabId.slice(0, 8)}`);
      this.host = st.hostTabId;
    }
    for (const s of st.stores) {
      if (this.up.has(s.storeId) && this.up.get(s.storeId) !== s.up) this.log(`store ${s.storeId} ${s.up ? 'started' : 'stopped'}`);
      if (this.cut.has(s.storeId) && this.cut.get(s.storeId) !== s.partitioned) this.log(`store ${s.storeId} ${s.partitioned ? 'partitioned' : 'healed'}`);
      this.up.set(s.storeId, s.up);
      this.cut.set(s.storeId, s.partitioned);
    }
    for (const s of st.stores) {
      for (const r of s.regions) {
        if (r.role !== 'leader') continue;
        const now = `store ${s.storeId} (term ${r.term})`;
        const before = this.leaders.get(r.regionId);
        if (before !== now) this.log(before ? `region ${r.regionId}: leader ${before} → ${now}` : `region ${r.regionId}: leader ${now}`);
        this.leaders.set(r.regionId, now);
      }
    }
  }

  private log(text: string): void {
    const time = new Date().toLocaleTimeString();
    this.list.prepend(h('li', {}, h('span', { class: 'time' }, time), ' ', text));
    while (this.list.children.length > EVENTS_SHOWN_MAX) this.list.lastElementChild!.remove();
  }
}

/**
 * The live cluster dashboard: every store the page's handles see (this browser's, the ones
 * added in this page, other browsers'), with up/down, cut links, counters and
 * Stop/Start/Partition; every region (range, epoch, leader, each replica's role, term,
 * commit and applied index); the PD leader and its running operators; members, host tab
 * and the profile's storage; the latency trace of this browser's writes (`trace-view.ts`). Each handle's `status()` is polled on its own; the views merge.
 */
import type { BrowserStatus, Invite, PdView, RegionView, StoreView } from 'peerkv/browser';
import { PD_REGION_ID } from '@peerkv/store';
import { byId, h, kib, showKey } from './dom.ts';
import type { DemoHandle, DemoStores } from './stores.ts';
import { demoCluster, inviteLink, newPrivateCluster, pageInvite, signalingUrl } from './stores.ts';
import { StoreCard, type CardContext } from './store-card.ts';
import { ClusterEvents } from './events.ts';
import { mountTraceSwitch, renderTrace } from './trace-view.ts';

/** Dashboard refresh period, ms. */
const STATUS_POLL_MS = 700;

const enc = new TextEncoder();

/** Each handle's latest status, polled without overlap (a slow handle never holds up the others). */
class StatusPoller {
  readonly latest = new Map<DemoHandle, BrowserStatus>();
  private readonly polling = new Set<DemoHandle>();
  lastError = '';

  poll(handles: DemoHandle[]): void {
    for (const hd of handles) {
      if (this.polling.has(hd)) continue;
      this.polling.add(hd);
      hd.kv
        .status()
        .then((st) => {
          this.latest.set(hd, st);
          hd.storeId = st.localStoreId;
          if (hd.storeName === 'store') this.lastError = '';
        })
        .catch((e: unknown) => {
          if (hd.storeName === 'store') this.lastError = `status failed: ${String(e)}`;
        })
        .finally(() => this.polling.delete(hd));
    }
  }
}

/** A store's own view wins, then any view of it up, then any view. */
function viewRank(v: StoreView): number {
  return (v.local ? 2 : 0) + (v.up ? 1 : 0);
}

/** Every store any handle sees, each from its best view, in id order. */
export function mergeStores(statuses: BrowserStatus[]): StoreView[] {
  const by = new Map<number, StoreView>();
  for (const st of statuses) {
    for (const v of st.stores) {
      const cur = by.get(v.storeId);
      if (!cur || viewRank(v) > viewRank(cur)) by.set(v.storeId, v);
    }
  }
  return [...by.values()].sort((a, b) => a.storeId - b.storeId);
}

/** Wires the dashboard to the page's handles. */
export function mountDashboard(stores: DemoStores): { note(line: string): void } {
  const errorLine = byId('cluster-error');
  const poller = new StatusPoller();
  const cards = new Map<number, StoreCard>();
  const events = new ClusterEvents(byId('events'));

  async function act(what: string, op: () => Promise<unknown>): Promise<void> {
    errorLine.textContent = '';
    try {
      await op();
    } catch (e) {
      errorLine.textContent = `${what} failed: ${String(e)}`;
    }
    tick();
  }

  const ctx: CardContext = {
    stores,
    act,
    mainStoreId: () => poller.latest.get(stores.main)?.localStoreId,
  };

  /** Updates the store cards in place, so a button under the pointer is never replaced. */
  function renderStores(views: StoreView[], main: BrowserStatus | undefined, pd: PdView | undefined): void {
    const box = byId('stores');
    const cut = new Set((main?.stores ?? []).filter((v) => v.partitioned).map((v) => v.storeId));
    for (const v of views) {
      let card = cards.get(v.storeId);
      if (!card) {
        card = new StoreCard(v.storeId, ctx);
        cards.set(v.storeId, card);
        box.append(card.el);
      }
      card.update(v, { cut, pdLeader: main?.pdLeaderStoreId, pdStore: pd?.stores.find((x) => x.storeId === v.storeId) });
    }
  }

  function tick(): void {
    poller.poll(stores.all());
    const main = poller.latest.get(stores.main);
    const statuses = stores.all().flatMap((hd) => poller.latest.get(hd) ?? []);
    errorLine.dataset.status = poller.lastError;
    if (!main) {
      byId('host').textContent = poller.lastError || 'opening this browser’s store (joining or creating the cluster)…';
      return;
    }
    const views = mergeStores(statuses);
    events.observe(main, views);
    showInvite(main.inviteAnchors);
    renderSummary(main);
    renderTrace(main);
    const leading = statuses.find((st) => st.localStoreId !== undefined && st.localStoreId === main.pdLeaderStoreId);
    if (leading) events.observeOperators(leading.operators ?? []);
    renderPd(main, leading);
    const pd = statuses.map((st) => st.pd).find((p) => p && p.stores.length > 0);
    renderStores(views, main, pd);
    byId('regions').querySelector('tbody')!.replaceChildren(...renderRegions(views, pd));
  }

  byId('split').addEventListener('click', () => {
    const key = byId<HTMLInputElement>('split-key').value;
    void act(`split at ${key}`, () => stores.main.kv.splitRegion(enc.encode(key)));
  });
  byId('heal').addEventListener('click', () => void act('heal', () => Promise.all(stores.all().map((hd) => hd.kv.heal()))));
  byId('add-store').addEventListener('click', () => void act('add a store', () => stores.add()));
  mountTraceSwitch((on) => void act(on ? 'start the trace' : 'stop the trace', () => stores.main.kv.trace(on)));
  // Invites: this cluster's link, and a private cluster with a generated secret (issue 13, finding 7).
  // The link carries the anchors (PD voters' keys) once this page's store status names them.
  const joined = demoCluster();
  const inviteAnchor = byId<HTMLAnchorElement>('invite-link');
  function showInvite(anchors: Invite['anchors']): void {
    const href = inviteLink(pageInvite(joined, anchors));
    if (inviteAnchor.href !== href) inviteAnchor.href = href;
  }
  showInvite(undefined);
  byId('private-cluster').addEventListener('click', () => {
    location.assign(inviteLink(newPrivateCluster()));
    location.reload();
  });
  setInterval(tick, STATUS_POLL_MS);
  tick();
  return { note: (line) => events.note(line) };
}

/** One row per region, from every replica's own view. */
function renderRegions(views: StoreView[], pd: PdView | undefined): HTMLElement[] {
  const byRegion = new Map<number, { store: number; r: RegionView }[]>();
  for (const s of views) for (const r of s.regions) (byRegion.get(r.regionId) ?? byRegion.set(r.regionId, []).get(r.regionId)!).push({ store: s.storeId, r });
  return [...byRegion.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, replicas]) => {
      const newest = replicas.reduce((a, b) => (b.r.epoch.version > a.r.epoch.version || b.r.epoch.confVer > a.r.epoch.confVer ? b : a));
      const leaders = replicas.filter((v) => v.r.role === 'leader').sort((a, b) => b.r.term - a.r.term);
      const leader = leaders[0];
      // PD's own Raft group: the cluster's metadata (stores, regions, ids, timestamps), not user keys.
      const range = id === PD_REGION_ID ? 'PD metadata' : `[${showKey(newest.r.startKey, '−∞')}, ${showKey(newest.r.endKey, '+∞')})`;
      const missing = newest.r.peers.filter((p) => !replicas.some((v) => v.store === p.storeId));
      const info = pd?.regions.find((x) => x.regionId === id);
      const size = id === PD_REGION_ID ? '—' : info ? `~${kib(info.approximateSizeBytes)} · ${info.approximateKeys} keys` : 'not reported yet';
      return h(
        'tr',
        { 'data-region': String(id) },
        h('td', {}, String(id)),
        h('td', {}, h('code', {}, range)),
        h('td', {}, `v${newest.r.epoch.version} · conf ${newest.r.epoch.confVer}`),
        h('td', { class: 'leader-cell' }, leader ? `store ${leader.store} (term ${leader.r.term})` : 'electing…'),
        h('td', {}, newest.r.peers.map((p) => `${p.storeId}${p.role === 'voter' ? '' : ` (${p.role})`}`).join(', ')),
        h('td', {}, size),
        h(
          'td',
          {},
          ...replicas.map((v) =>
            h('span', { class: v.r.role === 'leader' ? 'replica leader' : 'replica' }, `${v.store}: ${v.r.role}, term ${v.r.term}, ${v.r.commit} / ${v.r.applied}${v.r.hibernating ? ' (idle)' : ''}`),
          ),
          ...missing.map((p) => h('span', { class: 'replica down' }, `${p.storeId}: unreachable`)),
        ),
      );
    });
}

function renderSummary(st: BrowserStatus): void {
  const usage = st.storage ? `${(st.storage.usageBytes / 1024).toFixed(0)} KiB of ${(st.storage.quotaBytes / 2 ** 30).toFixed(1)} GiB` : 'unknown';
  const item = (label: string, value: string) => h('span', {}, `${label} `, h('b', {}, value));
  byId('summary').replaceChildren(
    item('cluster', st.cluster),
    item('signaling', signalingUrl()),
    item('this browser’s store', `${st.localStoreId || '?'} (${st.opened} in ${st.openMs} ms)`),
    item('quorum', quorumText(st)),
    item('connected to', st.members && st.members.length > 0 ? st.members.map((m) => `store ${m}`).join(', ') : 'no other store yet'),
    item('persistent storage', String(st.persisted)),
    item('IndexedDB usage', usage),
    item('requests', `${st.requests.reads} reads · ${st.requests.writes} writes · ${st.requests.failed} failed`),
    item('TSO', st.tso ? showTso(st.tso) : 'PD not reachable'),
    ...(st.slowDiskMs ? [item('slow disk', `${st.slowDiskMs} ms`)] : []),
  );
  byId('host').textContent = st.isHost
    ? `this tab hosts this browser’s store (took over in ${st.takeoverMs} ms)${st.draining ? ' (draining)' : ''} · host elections seen: ${st.hostChanges}`
    : `attached to host tab ${st.hostTabId.slice(0, 8)} · host elections seen: ${st.hostChanges}`;
}

/** Whether this browser's store reaches a quorum, or why not and how often it tried (or its open retries). */
function quorumText(st: BrowserStatus): string {
  if (st.openRetry) return `store not open: ${st.openRetry.attempts} attempts, next in ${Math.round(st.openRetry.nextAttemptInMs / 1000)} s (${st.openRetry.lastError})`;
  const q = st.quorum;
  if (!q) return 'unknown';
  if (q.state === 'ok') return 'ok';
  return `waiting for ${Math.round(q.forMs / 1000)} s, ${q.attempts} checks failed (${q.lastError ?? 'not checked yet'})`;
}

/** The PD leader and, when one of this page's stores leads PD, its running operators. */
function renderPd(main: BrowserStatus, leading: BrowserStatus | undefined): void {
  const leaderId = main.pdLeaderStoreId;
  byId('pd').replaceChildren(
    h('span', {}, 'PD leader ', h('b', {}, leaderId === undefined ? 'unknown' : `store ${leaderId}`)),
    ' · ',
    leading ? h('span', {}, `${leading.operators?.length ?? 0} operator(s) running`) : h('span', { class: 'muted' }, 'operators show on the dashboard of the browser whose store leads PD'),
  );
  const ops = leading?.operators ?? [];
  byId('operators').replaceChildren(...ops.map((op) => h('li', {}, h('b', {}, `region ${op.regionId}`), ` ${op.kind}: ${op.desc}`)));
}

/** A TSO timestamp (`physical << 18 | logical`) as its wall-clock time and logical counter. */
function showTso(tso: string): string {
  const ts = BigInt(tso);
  const physical = Number(ts >> 18n);
  const logical = Number(ts & ((1n << 18n) - 1n));
  return `${tso} (${new Date(physical).toISOString().slice(11, 23)} + ${logical})`;
}

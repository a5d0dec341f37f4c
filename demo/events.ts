/**
 * The dashboard's event log: changes noticed between two status polls (host tab, stores up
 * or down, cut or healed, region leaders, PD operators started and finished) with the local time.
 */
import type { BrowserStatus, StoreView } from 'peerkv/browser';
import { h } from './dom.ts';

/** Most events kept in the log. */
export const EVENTS_SHOWN_MAX = 30;

/** Notices changes between two status polls and logs them; see the module header. */
export class ClusterEvents {
  private host: string | undefined;
  private up = new Map<number, boolean>();
  private cut = new Map<number, boolean>();
  private leaders = new Map<number, string>();
  private operators = new Set<string>();

  constructor(private readonly list: HTMLElement) {}

  observe(main: BrowserStatus, views: StoreView[]): void {
    if (this.host !== main.hostTabId) {
      this.log(main.isHost ? `this tab became the host (took over in ${main.takeoverMs} ms)` : `host is tab ${main.hostTabId.slice(0, 8)}`);
      this.host = main.hostTabId;
    }
    for (const s of main.stores) {
      if (this.cut.has(s.storeId) && this.cut.get(s.storeId) !== s.partitioned) this.log(`link to store ${s.storeId} ${s.partitioned ? 'cut' : 'healed'}`);
      this.cut.set(s.storeId, s.partitioned);
    }
    for (const s of views) {
      if (!this.up.has(s.storeId)) this.log(`store ${s.storeId} seen`);
      else if (this.up.get(s.storeId) !== s.up) this.log(`store ${s.storeId} ${s.up ? 'up' : 'down'}`);
      this.up.set(s.storeId, s.up);
      for (const r of s.regions) {
        if (r.role !== 'leader') continue;
        const now = `store ${s.storeId} (term ${r.term})`;
        const before = this.leaders.get(r.regionId);
        if (before !== now) this.log(before ? `region ${r.regionId}: leader ${before} → ${now}` : `region ${r.regionId}: leader ${now}`);
        this.leaders.set(r.regionId, now);
      }
    }
  }

  /** Logs operators that appeared or went away since the last poll (`ops` from the PD leader's status). */
  observeOperators(ops: readonly { regionId: number; kind: string; desc: string }[]): void {
    const now = new Set(ops.map((op) => `region ${op.regionId}: ${op.kind} (${op.desc})`));
    for (const op of now) if (!this.operators.has(op)) this.log(`PD operator started on ${op}`);
    for (const op of this.operators) if (!now.has(op)) this.log(`PD operator finished on ${op}`);
    this.operators = now;
  }

  /** Logs a line from elsewhere on the page (a transaction the list committed). */
  note(text: string): void {
    this.log(text);
  }

  private log(text: string): void {
    const time = new Date().toLocaleTimeString();
    this.list.prepend(h('li', {}, h('span', { class: 'time' }, time), ' ', text));
    while (this.list.children.length > EVENTS_SHOWN_MAX) this.list.lastElementChild!.remove();
  }
}

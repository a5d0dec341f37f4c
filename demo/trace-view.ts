/**
 * The dashboard's latency trace (issue 16): a button turns this browser's host trace on (afresh)
 * or off (`kv.trace`), and a table shows where its writes spent their time, span by span, from
 * `status().trace`: the host's requests (`host:<type>`), its client's TSO, region lookups and
 * sends to stores (`send:<type>`), and the writes its own store led (`store: …`, always kept).
 */
import type { BrowserStatus, SpanSummary } from 'peerkv/browser';
import { byId, h } from './dom.ts';

/** The store's spans, in the order a write passes them. */
const STORE_SPANS = ['beforePropose', 'proposeToCommit', 'commitToApplied', 'appliedToDurable', 'total'] as const;

const ms = (x: number): string => x.toFixed(2);

function row(stage: string, s: SpanSummary): HTMLElement {
  return h('tr', { 'data-stage': stage }, h('td', {}, stage), h('td', {}, String(s.samples)), h('td', {}, ms(s.p50Ms)), h('td', {}, ms(s.p99Ms)), h('td', {}, ms(s.meanMs)));
}

/** Renders `st.trace` into `#trace` and labels the switch. */
export function renderTrace(st: BrowserStatus): void {
  const t = st.trace;
  byId('trace-toggle').textContent = t?.on ? 'Stop trace' : 'Start trace';
  byId('trace-toggle').dataset.on = String(t?.on === true);
  const rows: HTMLElement[] = [];
  for (const [name, s] of Object.entries(t?.host?.spans ?? {})) rows.push(row(name, s));
  const w = t?.store?.summary;
  if (w) for (const span of STORE_SPANS) rows.push(row(`store ${t!.store!.storeId}: ${span}`, { samples: w.samples, p50Ms: w.p50Ms[span], p99Ms: w.p99Ms[span], meanMs: w.meanMs[span] }));
  byId('trace').querySelector('tbody')!.replaceChildren(...rows);
  byId('trace-note').textContent = t?.on
    ? 'tracing: each request this browser’s host serves, and what its client does for it'
    : 'off: only the writes this browser’s store led are kept (start the trace to time the host and its client)';
}

/** Wires the switch: `toggle(on)` turns the trace on or off. */
export function mountTraceSwitch(toggle: (on: boolean) => void): void {
  byId('trace-toggle').addEventListener('click', () => toggle(byId('trace-toggle').dataset.on !== 'true'));
}

/**
 * A host's trace switch (issue 16): the `trace` tab request turns span recording on (afresh) or
 * off, and `status().trace` shows what it recorded. While on, the host times each client
 * request a tab sent it (`host:<type>`, from the request's arrival in the Worker to its reply)
 * and its `PeerKV` client times its own spans (`trace.ts`); the stores it runs time their
 * writes as their regions' leaders (`StoreStatus.writeTrace`, always on). Together with what the
 * tab measured they break one write down end to end: the tab's hop to its host is the tab's
 * time less `host:<type>`, the transport's is `send:<type>` less the leader store's `total`.
 *
 * Off (the default), serving a request costs one field read.
 */
import type { Store, StoreStatus } from '@peerkv/store';
import type { PeerKV } from '../client.ts';
import { SpanTrace } from '../trace.ts';
import type { TabRequest, TraceView } from './protocol.ts';

/** See the module header. */
export class HostTrace {
  private trace: SpanTrace | undefined;

  /** The spans' sink while on (for a client the host creates later: `PeerKV.setTrace`). */
  get current(): SpanTrace | undefined {
    return this.trace;
  }

  /** Runs `serve(req)`, timed as `host:<type>` when it is a client request and tracing is on. */
  serve(req: TabRequest, serve: (req: TabRequest) => Promise<unknown>): Promise<unknown> {
    if (this.trace === undefined || req.kind !== 'kv') return serve(req);
    return this.trace.time(`host:${req.request.type}`, () => serve(req));
  }

  /**
   * Turns tracing on (recording afresh: the client's spans and the stores' write traces
   * cleared) or off; answers what was recorded until now.
   */
  switch(on: boolean, kv: PeerKV | undefined, stores: readonly Store[]): TraceView {
    const before = this.view(stores.map((s) => s.status()));
    this.trace = on ? new SpanTrace() : undefined;
    kv?.setTrace(this.trace);
    if (on) for (const s of stores) s.clearWriteTrace();
    return before;
  }

  /**
   * What is recorded now, with the host's stores' own statuses (the caller has them). The store
   * side is the store that led the most traced writes (the leader of the region the writes went
   * to; with several, its summary alone).
   */
  view(stores: readonly Pick<StoreStatus, 'storeId' | 'writeTrace'>[]): TraceView {
    let store: TraceView['store'];
    for (const s of stores) {
      const w = s.writeTrace;
      if (w !== undefined && (store === undefined || w.samples > store.summary.samples)) store = { storeId: s.storeId, summary: w };
    }
    return { on: this.trace !== undefined, ...(this.trace ? { host: this.trace.summary() } : {}), ...(store ? { store } : {}) };
  }
}

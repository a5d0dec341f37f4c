/**
 * Tab-to-tab messages over one BroadcastChannel per cluster, and the attached tab's side of
 * them: `PendingCalls` keeps every unanswered request and sends it again to each new host,
 * so a request in flight when its host tab closes is served by the next one.
 */
import type { KvRequest, Reply, WireError } from './protocol.ts';
import { BrowserKvError, CHANGE_OPS } from './protocol.ts';

/** What tabs say to each other. */
export type TabMessage =
  /** A request for the tab `to` (the host the sender believes in). */
  | { t: 'req'; id: number; from: string; to: string; req: KvRequest }
  | { t: 'rep'; id: number; to: string; reply: Reply }
  /** "I host the cluster now" (after election, and in answer to `who`). */
  | { t: 'host'; hostId: string }
  /** "Who hosts?" from a tab that knows no host. */
  | { t: 'who' }
  /** The host is leaving (pagehide or close); wait for the next one. */
  | { t: 'bye'; hostId: string }
  /** The tab holding the host lock failed to open the store and tries again later. */
  | { t: 'openFailed'; hostId: string; error: WireError }
  /** Data changed (a write succeeded). */
  | { t: 'changed'; op: KvRequest['op'] };

/** The tab channel of store `storeName` of `cluster`. */
export function channelName(cluster: string, storeName = 'store'): string {
  return `peerkv:${cluster}:${storeName}:tabs`;
}

interface Pending {
  req: KvRequest;
  /** The host it was last sent to. */
  sentTo?: string;
  deadline: number;
  resolve(r: Reply): void;
}

/** Most unanswered requests one tab may hold. */
export const PENDING_CALLS_MAX = 4096;

/** The attached tab's outstanding requests; see the module header. */
export class PendingCalls {
  private readonly calls = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly tabId: string,
    private readonly post: (m: TabMessage) => void,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  /** Queues `req`; sends it now when a host is known. */
  add(req: KvRequest, host: string | undefined, deadlineMs: number): Promise<Reply> {
    if (this.calls.size >= PENDING_CALLS_MAX) {
      return Promise.resolve({ ok: false, error: { kind: 'Unavailable', message: `over ${PENDING_CALLS_MAX} requests waiting for a host` } });
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolve) => {
      const p: Pending = { req, deadline: this.now() + deadlineMs, resolve };
      this.calls.set(id, p);
      if (host) this.send(id, p, host);
    });
  }

  private send(id: number, p: Pending, host: string): void {
    p.sentTo = host;
    this.post({ t: 'req', id, from: this.tabId, to: host, req: p.req });
  }

  /** A reply for this tab arrived. */
  settle(id: number, reply: Reply): void {
    const p = this.calls.get(id);
    if (!p) return;
    this.calls.delete(id);
    p.resolve(reply);
  }

  /** A (new) host announced itself: everything not yet sent to it goes there. */
  resendTo(host: string): void {
    for (const [id, p] of this.calls) if (p.sentTo !== host) this.send(id, p, host);
  }

  /** Takes every pending request (this tab became the host and serves them itself). */
  drainAll(): { req: KvRequest; resolve(r: Reply): void }[] {
    const all = [...this.calls.values()];
    this.calls.clear();
    return all;
  }

  /**
   * Fails requests past their deadline: `Timeout`, or `Undetermined` for a write that was
   * sent to a host (it may have been applied, and may still be: its stamp keeps it at most once).
   */
  expire(): void {
    const t = this.now();
    for (const [id, p] of this.calls) {
      if (p.deadline > t) continue;
      this.settle(id, { ok: false, error: this.unanswered(p, { kind: 'Timeout', message: `no host answered ${p.req.op}` }) });
    }
  }

  /** Fails everything: `Closed` (the tab closed its handle), or with the host's open error. */
  failAll(cause: 'Closed' | WireError): void {
    const error: WireError = cause === 'Closed' ? { kind: 'Closed', message: 'closed' } : cause;
    for (const [id, p] of [...this.calls]) this.settle(id, { ok: false, error: cause === 'Closed' ? this.unanswered(p, error) : error });
  }

  /** The error for a call left without an answer: a write already sent has an unknown outcome. */
  private unanswered(p: Pending, error: WireError): WireError {
    if (p.sentTo === undefined || !CHANGE_OPS.has(p.req.op)) return error;
    return { kind: 'Undetermined', message: `${error.message}: the ${p.req.op} was sent to host ${p.sentTo} and may or may not have been applied` };
  }
}

/** Turns a reply into a value or a thrown `BrowserKvError`. */
export function unwrapReply<T>(r: Reply): T {
  if (r.ok) return r.value as T;
  throw new BrowserKvError(r.error.kind, r.error.message);
}

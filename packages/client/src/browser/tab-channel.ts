/**
 * Tab-to-tab messages over one BroadcastChannel per cluster, and the attached tab's side of
 * them: `PendingCalls` keeps every unanswered request and sends it again to each new host,
 * so a request in flight when its host tab closes is served by the next one.
 */
import type { ClientRequestType, Reply, TabRequest, WireError } from './protocol.ts';
import { BrowserKvError, changeOf } from './protocol.ts';

/** What tabs say to each other. */
export type TabMessage =
  /** A request for the tab `to` (the host the sender believes in). */
  | { t: 'req'; id: number; from: string; to: string; req: TabRequest }
  | { t: 'rep'; id: number; to: string; reply: Reply }
  /** "I host the cluster now" (after election, and in answer to `who`). */
  | { t: 'host'; hostId: string }
  /** "Who hosts?" from a tab that knows no host. */
  | { t: 'who' }
  /** The host is leaving (pagehide or close); wait for the next one. */
  | { t: 'bye'; hostId: string }
  /** The tab holding the host lock failed to open the store and tries again later. */
  | { t: 'openFailed'; hostId: string; error: WireError }
  /**
   * Data changed: a client request of type `op` that changes data succeeded (a transaction's
   * commit names its commitTs, so `subscribe` tells it once).
   */
  | { t: 'changed'; op: ClientRequestType; commitTs?: bigint };

/** The tab channel of store `storeName` of `cluster`. */
export function channelName(cluster: string, storeName = 'store'): string {
  return `peerkv:${cluster}:${storeName}:tabs`;
}

interface Pending {
  req: TabRequest;
  /** The host it was last sent to. */
  sentTo?: string;
  /** It was sent to more than one host (the ones before may have applied it). */
  resent?: boolean;
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
  add(req: TabRequest, host: string | undefined, deadlineMs: number): Promise<Reply> {
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
    if (p.sentTo !== undefined && p.sentTo !== host) p.resent = true;
    p.sentTo = host;
    this.post({ t: 'req', id, from: this.tabId, to: host, req: p.req });
  }

  /** A reply for this tab arrived. */
  settle(id: number, reply: Reply): void {
    const p = this.calls.get(id);
    if (!p) return;
    this.calls.delete(id);
    p.resolve(afterResend(p, reply));
  }

  /** A (new) host announced itself: everything not yet sent to it goes there. */
  resendTo(host: string): void {
    for (const [id, p] of this.calls) if (p.sentTo !== host) this.send(id, p, host);
  }

  /** Takes every pending request (this tab became the host and serves them itself). */
  drainAll(): { req: TabRequest; resolve(r: Reply): void }[] {
    const all = [...this.calls.values()];
    this.calls.clear();
    // A request already sent to the old host: served here now, as a resend.
    return all.map((p) => ({ req: p.req, resolve: (r: Reply) => p.resolve(afterResend(p.sentTo === undefined ? p : { ...p, resent: true }, r)) }));
  }

  /**
   * Fails requests past their deadline: `Timeout`, or `Undetermined` for a write that was
   * sent to a host (it may have been applied, and may still be: its stamp keeps it at most once).
   */
  expire(): void {
    const t = this.now();
    for (const [id, p] of this.calls) {
      if (p.deadline > t) continue;
      this.settle(id, { ok: false, error: this.unanswered(p, { kind: 'Timeout', message: `no host answered ${p.req.request.type}` }) });
    }
  }

  /** Fails everything: `Closed` (the tab closed its handle), or with the host's open error. */
  failAll(cause: 'Closed' | WireError): void {
    const error: WireError = cause === 'Closed' ? { kind: 'Closed', message: 'closed' } : cause;
    for (const [id, p] of [...this.calls]) this.settle(id, { ok: false, error: cause === 'Closed' ? this.unanswered(p, error) : error });
  }

  /** The error for a call left without an answer: a write already sent has an unknown outcome. */
  private unanswered(p: Pending, error: WireError): WireError {
    const change = changeOf(p.req);
    if (p.sentTo === undefined || change === undefined) return error;
    return { kind: 'Undetermined', message: `${error.message}: the ${change.type} was sent to host ${p.sentTo} and may or may not have been applied` };
  }
}

/** Failures that say a change did not take effect, wherever it was sent before (a conflict, bad input). */
const DEFINITE_FAILURES: ReadonlySet<string> = new Set(['WriteConflict', 'TxnAborted', 'InvalidArgument', 'Undetermined']);

/**
 * The reply to a change sent to more than one host: a failure from the last host says nothing
 * about an earlier one that may have applied it (and went away before answering), so it is
 * `Undetermined` unless it is a definite refusal (a transaction's conflict is decided by its
 * start ts wherever it runs; bad input is bad everywhere).
 */
function afterResend(p: { req: TabRequest; resent?: boolean }, reply: Reply): Reply {
  const change = changeOf(p.req);
  if (reply.ok || !p.resent || change === undefined || DEFINITE_FAILURES.has(reply.error.kind)) return reply;
  return { ok: false, error: { kind: 'Undetermined', message: `${reply.error.message}: the ${change.type} was sent to an earlier host that may have applied it before it went away` } };
}

/** Turns a reply into a value or a thrown `BrowserKvError`. */
export function unwrapReply<T>(r: Reply): T {
  if (r.ok) return r.value as T;
  throw new BrowserKvError(r.error.kind, r.error.message, r.error.keys);
}

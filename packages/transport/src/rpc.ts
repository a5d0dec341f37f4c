/**
 * Request/response over a transport's authenticated links. This module owns the request
 * table of one transport: ids, per-request timeouts and aborts, the bound on requests in
 * flight each way, payload limits, and turning every failure into an `RpcError` with a
 * closed `kind`. The link engine (`link-transport.ts`) owns the links and calls in here when
 * a link opens or closes and when an `rpcRequest`/`rpcResponse` frame arrives from an
 * authenticated peer.
 *
 * Payloads are opaque bytes: what they mean (a store request, a PD call) is the caller's
 * codec's business.
 */
import type { StoreId } from './codec/envelope.ts';
import type { Frame, RpcWireError, RpcWireResult } from './codec/frame.ts';
import type { Timers, TimerHandle } from './timers.ts';
import type { Unsubscribe } from './unsubscribe.ts';

/** Why a request failed. */
export type RpcErrorKind =
  /** No response within the request's timeout. */
  | 'Timeout'
  /** No link to the target, or the link went down before the response came. */
  | 'Unreachable'
  /** This transport was closed. */
  | 'Closed'
  /**
   * `pendingRequestsMax` requests already in flight here, or the remote is busy: it serves
   * `servingRequestsMax` requests, or `servingRequestsPerPeerMax` from this store.
   */
  | 'TooManyPending'
  /** The remote's handler threw, or the remote serves no requests. */
  | 'RemoteFailed'
  /** The request or the response was over a payload limit (here or at the remote). */
  | 'PayloadTooLarge'
  /** The caller's `AbortSignal` fired. */
  | 'Aborted';

/** A failed request. `kind` is closed; `message` is for humans. */
export class RpcError extends Error {
  /** What went wrong. */
  readonly kind: RpcErrorKind;

  constructor(kind: RpcErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'RpcError';
    this.kind = kind;
  }
}

/** Limits of the request table, each with its unit. */
export interface RpcLimits {
  /** Outgoing requests awaiting a response, over all targets; more fail `TooManyPending`. */
  pendingRequestsMax: number;
  /** Incoming requests being handled at once, over all peers; more are refused `TooManyPending`. */
  servingRequestsMax: number;
  /**
   * Incoming requests being handled at once for one peer; more from it are refused
   * `TooManyPending` (counted `requestsRefusedPeerBusy`), so one peer cannot take every
   * `servingRequestsMax` slot.
   */
  servingRequestsPerPeerMax: number;
  /** Bytes of one request payload (checked when sending and when receiving). */
  requestBytesMax: number;
  /** Bytes of one response payload (checked when answering). */
  responseBytesMax: number;
  /** Timeout of a request that names none, in ms. */
  requestTimeoutMs: number;
}

/** Defaults: payloads fit one 8 MiB value plus overhead, under the 16 MiB frame limit. */
export const DEFAULT_RPC_LIMITS: Readonly<RpcLimits> = Object.freeze({
  pendingRequestsMax: 1024,
  servingRequestsMax: 1024,
  servingRequestsPerPeerMax: 256,
  requestBytesMax: 12 * 1024 * 1024,
  responseBytesMax: 12 * 1024 * 1024,
  requestTimeoutMs: 10_000,
});

/** Bytes an rpc frame adds around its payload (type, version, id, code, length), rounded up. */
export const RPC_FRAME_OVERHEAD_BYTES = 64;

/**
 * The limits with payload bounds cut so that a request or response frame always fits
 * `frameBytesMax` (a bigger frame would make the remote drop the whole link).
 */
export function rpcLimitsWithin(limits: RpcLimits, frameBytesMax: number): RpcLimits {
  const payloadBytesMax = Math.max(0, frameBytesMax - RPC_FRAME_OVERHEAD_BYTES);
  return {
    ...limits,
    requestBytesMax: Math.min(limits.requestBytesMax, payloadBytesMax),
    responseBytesMax: Math.min(limits.responseBytesMax, payloadBytesMax),
  };
}

/** Bytes of the human-readable message an error response carries (under the decoder's string limit). */
export const RPC_ERROR_MESSAGE_BYTES_MAX = 200;

/** Options of one request. */
export interface RpcRequestOptions {
  /** Overrides `requestTimeoutMs` for this request, in ms. */
  timeoutMs?: number;
  /** Aborting rejects the request with `Aborted` (a late response is ignored). */
  signal?: AbortSignal;
}

/** Serves one request from an authenticated peer; a throw or rejection answers `RemoteFailed`. */
export type RequestHandler = (fromStoreId: StoreId, payload: Uint8Array) => Promise<Uint8Array>;

/** Monotonic request counters of one transport. */
export interface RpcCounters {
  /** Requests handed to a link (on the wire, or waiting for its buffer to drain). */
  requestsSent: number;
  /** Requests that resolved with a payload. */
  requestsSucceeded: number;
  /** Requests that rejected, any kind. */
  requestsFailed: number;
  /** Requests received from peers and handed to the handler. */
  requestsServed: number;
  /** Requests received and refused (no handler, too many, too large). */
  requestsRefused: number;
  /** Of `requestsRefused`: refused because their peer already had `servingRequestsPerPeerMax` being served. */
  requestsRefusedPeerBusy: number;
  /** Responses that matched no pending request (timed out, aborted, or bogus). */
  responsesUnmatched: number;
}

/** Zeroed request counters. */
export function emptyRpcCounters(): RpcCounters {
  return { requestsSent: 0, requestsSucceeded: 0, requestsFailed: 0, requestsServed: 0, requestsRefused: 0, requestsRefusedPeerBusy: 0, responsesUnmatched: 0 };
}

/** What the request table needs from the link engine. */
export interface RpcHost {
  readonly timers: Timers;
  /** The link to `storeId`: none, authenticating, or open. */
  linkState(storeId: StoreId): 'none' | 'auth' | 'open';
  /** Sends a frame on the open link to `storeId`; false if it could not. */
  sendFrame(storeId: StoreId, frame: Frame): boolean;
}

interface PendingRequest {
  readonly id: number;
  readonly target: StoreId;
  readonly payload: Uint8Array;
  sent: boolean;
  timer: TimerHandle | null;
  readonly signal?: AbortSignal;
  readonly onAbort: () => void;
  readonly resolve: (b: Uint8Array) => void;
  readonly reject: (e: RpcError) => void;
}

const utf8 = new TextEncoder();
const utf8Lossy = new TextDecoder('utf-8', { fatal: false });

/** Cuts a message to at most `RPC_ERROR_MESSAGE_BYTES_MAX` UTF-8 bytes (plus a replacement char). */
export function clipErrorMessage(message: string): string {
  const b = utf8.encode(message);
  return b.length <= RPC_ERROR_MESSAGE_BYTES_MAX ? message : utf8Lossy.decode(b.subarray(0, RPC_ERROR_MESSAGE_BYTES_MAX));
}

/** The request table of one transport. */
export class RpcTable {
  private readonly pending = new Map<number, PendingRequest>();
  private readonly stats = emptyRpcCounters();
  private handler: RequestHandler | null = null;
  private serving = 0;
  /** Requests being served per peer (entries removed at zero). */
  private readonly servingByPeer = new Map<StoreId, number>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly host: RpcHost,
    private readonly limits: RpcLimits,
  ) {}

  /** Sends `payload` to `target` and resolves with its handler's response. Rejects only with `RpcError`. */
  request(target: StoreId, payload: Uint8Array, o: RpcRequestOptions = {}): Promise<Uint8Array> {
    const refused = this.refuseRequest(target, payload, o);
    if (refused) {
      this.stats.requestsFailed++;
      return Promise.reject(refused);
    }
    const timeoutMs = o.timeoutMs ?? this.limits.requestTimeoutMs;
    return new Promise<Uint8Array>((resolve, reject) => {
      const id = this.nextId++;
      const p: PendingRequest = { id, target, payload, sent: false, timer: null, signal: o.signal, onAbort: () => this.fail(p, new RpcError('Aborted', 'aborted by the caller')), resolve, reject };
      this.pending.set(id, p);
      p.timer = this.host.timers.setTimeout(() => this.fail(p, new RpcError('Timeout', `no response from store ${target} in ${timeoutMs} ms`)), timeoutMs);
      o.signal?.addEventListener('abort', p.onAbort, { once: true });
      if (this.host.linkState(target) === 'open') this.transmit(p);
    });
  }

  private refuseRequest(target: StoreId, payload: Uint8Array, o: RpcRequestOptions): RpcError | null {
    if (this.closed) return new RpcError('Closed', 'transport closed');
    if (o.signal?.aborted) return new RpcError('Aborted', 'aborted before sending');
    if (payload.length > this.limits.requestBytesMax) return new RpcError('PayloadTooLarge', `request ${payload.length} > ${this.limits.requestBytesMax} bytes`);
    if (this.host.linkState(target) === 'none') return new RpcError('Unreachable', `no link to store ${target}`);
    if (this.pending.size >= this.limits.pendingRequestsMax) return new RpcError('TooManyPending', `${this.pending.size} requests in flight`);
    return null;
  }

  /** Sets the handler serving incoming requests (one at a time; the newest wins). */
  onRequest(handler: RequestHandler): Unsubscribe {
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = null;
    };
  }

  /** A snapshot of the counters. */
  counters(): RpcCounters {
    return { ...this.stats };
  }

  // ---- Called by the link engine -------------------------------------------------------

  /** The link to `storeId` authenticated: send the requests held for it. */
  linkOpened(storeId: StoreId): void {
    for (const p of [...this.pending.values()]) if (p.target === storeId && !p.sent) this.transmit(p);
  }

  /** The link to `storeId` is gone: its requests can no longer be answered. */
  linkClosed(storeId: StoreId, reason: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.target === storeId) this.fail(p, new RpcError('Unreachable', `link to store ${storeId} closed: ${reason}`));
    }
  }

  /** The transport closed: every pending request fails `Closed`; new ones are refused. */
  close(): void {
    this.closed = true;
    for (const p of [...this.pending.values()]) this.fail(p, new RpcError('Closed', 'transport closed'));
  }

  /** A request arrived on the authenticated link from `from`. */
  receiveRequest(from: StoreId, requestId: number, payload: Uint8Array): void {
    const refusal = this.refuseIncoming(from, payload);
    if (refusal) {
      this.stats.requestsRefused++;
      this.host.sendFrame(from, { type: 'rpcResponse', requestId, result: refusal });
      return;
    }
    this.stats.requestsServed++;
    this.serving++;
    this.servingByPeer.set(from, (this.servingByPeer.get(from) ?? 0) + 1);
    const handler = this.handler as RequestHandler;
    let answer: Promise<Uint8Array>;
    try {
      answer = handler(from, payload);
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (bytes) => this.respond(from, requestId, bytes),
      (e: unknown) => this.respondError(from, requestId, 'RemoteFailed', `handler failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  private refuseIncoming(from: StoreId, payload: Uint8Array): RpcWireResult | null {
    if (!this.handler) return { ok: false, error: 'RemoteFailed', message: 'no request handler' };
    if (payload.length > this.limits.requestBytesMax) {
      return { ok: false, error: 'PayloadTooLarge', message: `request ${payload.length} > ${this.limits.requestBytesMax} bytes` };
    }
    if (this.serving >= this.limits.servingRequestsMax) {
      return { ok: false, error: 'TooManyPending', message: `serving ${this.serving} requests` };
    }
    const fromPeer = this.servingByPeer.get(from) ?? 0;
    if (fromPeer >= this.limits.servingRequestsPerPeerMax) {
      this.stats.requestsRefusedPeerBusy++;
      return { ok: false, error: 'TooManyPending', message: `serving ${fromPeer} requests from store ${from}` };
    }
    return null;
  }

  /** A request from `peer` is no longer being served. */
  private release(peer: StoreId): void {
    this.serving--;
    const n = (this.servingByPeer.get(peer) ?? 1) - 1;
    if (n === 0) this.servingByPeer.delete(peer);
    else this.servingByPeer.set(peer, n);
  }

  private respond(to: StoreId, requestId: number, bytes: Uint8Array): void {
    this.release(to);
    if (!(bytes instanceof Uint8Array)) return this.respondError(to, requestId, 'RemoteFailed', 'handler returned no bytes', false);
    if (bytes.length > this.limits.responseBytesMax) {
      return this.respondError(to, requestId, 'PayloadTooLarge', `response ${bytes.length} > ${this.limits.responseBytesMax} bytes`, false);
    }
    // The link may have gone meanwhile: the requester has already failed it `Unreachable`.
    if (this.host.linkState(to) === 'open') this.host.sendFrame(to, { type: 'rpcResponse', requestId, result: { ok: true, payload: bytes } });
  }

  private respondError(to: StoreId, requestId: number, error: RpcWireError, message: string, release = true): void {
    if (release) this.release(to);
    if (this.host.linkState(to) !== 'open') return;
    this.host.sendFrame(to, { type: 'rpcResponse', requestId, result: { ok: false, error, message: clipErrorMessage(message) } });
  }

  /** A response arrived on the authenticated link from `from`. */
  receiveResponse(from: StoreId, requestId: number, result: RpcWireResult): void {
    const p = this.pending.get(requestId);
    // Only the store the request went to may answer it.
    if (!p || p.target !== from || !p.sent) {
      this.stats.responsesUnmatched++;
      return;
    }
    if (!result.ok) return this.fail(p, new RpcError(result.error, `store ${from}: ${result.message}`));
    this.settle(p);
    this.stats.requestsSucceeded++;
    p.resolve(result.payload);
  }

  // ---- Internals -------------------------------------------------------------------------

  private transmit(p: PendingRequest): void {
    p.sent = true;
    if (!this.host.sendFrame(p.target, { type: 'rpcRequest', requestId: p.id, payload: p.payload })) {
      // The engine closed the link; `linkClosed` has failed it already unless it raced.
      if (this.pending.has(p.id)) this.fail(p, new RpcError('Unreachable', `send to store ${p.target} failed`));
      return;
    }
    this.stats.requestsSent++;
  }

  private settle(p: PendingRequest): void {
    this.pending.delete(p.id);
    if (p.timer !== null) this.host.timers.clearTimeout(p.timer);
    p.signal?.removeEventListener('abort', p.onAbort);
  }

  private fail(p: PendingRequest, e: RpcError): void {
    if (!this.pending.has(p.id)) return;
    this.settle(p);
    this.stats.requestsFailed++;
    p.reject(e);
  }
}

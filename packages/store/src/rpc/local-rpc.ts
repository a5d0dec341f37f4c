/**
 * `LocalRpc`: request/response between stores in one process (tests, demos with several
 * stores in one page), the in-process counterpart of `Transport.request`/`onRequest`.
 * Delivery is asynchronous (a macrotask each way) and fails like a network does: a cut link
 * or a store without a handler is `Unreachable`, an answer lost to a cut made meanwhile is
 * a `Timeout`. All failures are `RpcError`s from `@peerkv/transport`.
 *
 * `LocalRouter` keeps its cuts private, so `LocalRpc` keeps its own cut set; `partition`
 * and `heal` here apply to both when a router is given, so Raft and RPC traffic are cut
 * together.
 */
import { RpcError, systemClock, type Clock, type RequestHandler, type RpcRequestOptions } from '@peerkv/transport';
import type { LocalRouter } from '../local-router.ts';

/** What `LocalRpc` uses of PeerKV's one `Clock`: its timers (the platform's by default). */
export type LocalRpcTimers = Pick<Clock, 'setTimeout' | 'clearTimeout'>;

/** Settings, with units. */
export interface LocalRpcOptions {
  /** Cut together with this router by `partition`/`heal`. */
  router?: LocalRouter;
  timers?: LocalRpcTimers;
  /** Timeout of a request that names none, ms (default 10 s). */
  requestTimeoutMs?: number;
  /** Delay of each delivery, ms (default 0: the next macrotask). */
  deliveryDelayMs?: number;
  /** True to lose one delivery (a request from `from` to `to`, or an answer back): the caller times out. Default: none is lost. */
  drop?: (from: number, to: number) => boolean;
}

/** One store's side of a `LocalRpc`: the same shape as `Transport`'s request surface. */
export interface LocalRpcEndpoint {
  readonly localStoreId: number;
  request(targetStoreId: number, payload: Uint8Array, o?: RpcRequestOptions): Promise<Uint8Array>;
  onRequest(handler: RequestHandler): () => void;
}

const SYSTEM_TIMERS: LocalRpcTimers = systemClock;

/** In-process request/response between stores. */
export class LocalRpc {
  private readonly handlers = new Map<number, RequestHandler>();
  private readonly cut = new Set<string>();
  private readonly timers: LocalRpcTimers;
  private readonly requestTimeoutMs: number;
  private readonly deliveryDelayMs: number;
  /** Requests and responses lost to cuts, for tests. */
  dropped = 0;
  /** Requests handed to a handler, for tests. */
  delivered = 0;

  constructor(private readonly o: LocalRpcOptions = {}) {
    this.timers = o.timers ?? SYSTEM_TIMERS;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.deliveryDelayMs = o.deliveryDelayMs ?? 0;
  }

  /** Store `storeId`'s endpoint (pass it to `serveStore` and to a client's resolver). */
  endpoint(storeId: number): LocalRpcEndpoint {
    return {
      localStoreId: storeId,
      request: (to, payload, o) => this.request(storeId, to, payload, o),
      onRequest: (handler) => this.onRequest(storeId, handler),
    };
  }

  /** Sets the handler of store `storeId` (the newest wins); returns its remover. */
  onRequest(storeId: number, handler: RequestHandler): () => void {
    this.handlers.set(storeId, handler);
    return () => {
      if (this.handlers.get(storeId) === handler) this.handlers.delete(storeId);
    };
  }

  /** The store stopped: requests to it are `Unreachable`. */
  unregister(storeId: number): void {
    this.handlers.delete(storeId);
  }

  /** Cuts both directions between every store in `a` and every store in `b` (and in the router). */
  partition(a: number[], b: number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut.add(`${x}->${y}`);
        this.cut.add(`${y}->${x}`);
      }
    }
    this.o.router?.partition(a, b);
  }

  /** Removes every cut (and the router's). */
  heal(): void {
    this.cut.clear();
    this.o.router?.heal();
  }

  /** Sends `payload` from store `from` to store `to`'s handler; rejects only with `RpcError`. */
  request(from: number, to: number, payload: Uint8Array, o: RpcRequestOptions = {}): Promise<Uint8Array> {
    if (o.signal?.aborted) return Promise.reject(new RpcError('Aborted', 'aborted before sending'));
    if (!this.handlers.has(to) || this.isCut(from, to)) return Promise.reject(new RpcError('Unreachable', `store ${to} is not reachable from ${from}`));
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const finish = (err: RpcError | null, value?: Uint8Array): void => {
        if (done) return;
        done = true;
        this.timers.clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as Uint8Array);
      };
      const onAbort = (): void => finish(new RpcError('Aborted', 'aborted by the caller'));
      const timeoutMs = o.timeoutMs ?? this.requestTimeoutMs;
      const timer = this.timers.setTimeout(() => finish(new RpcError('Timeout', `no response from store ${to} in ${timeoutMs} ms`)), timeoutMs);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.deliver(from, to, payload.slice(), finish);
    });
  }

  private isCut(from: number, to: number): boolean {
    return this.cut.has(`${from}->${to}`);
  }

  private deliver(from: number, to: number, payload: Uint8Array, finish: (err: RpcError | null, value?: Uint8Array) => void): void {
    this.timers.setTimeout(() => {
      const handler = this.handlers.get(to);
      if (this.isCut(from, to) || this.o.drop?.(from, to)) return void this.dropped++; // lost: the caller times out
      if (!handler) return finish(new RpcError('Unreachable', `store ${to} stopped`));
      this.delivered++;
      let answer: Promise<Uint8Array>;
      try {
        answer = handler(from, payload);
      } catch (e) {
        answer = Promise.reject(e);
      }
      answer.then(
        (bytes) => this.reply(to, from, () => finish(null, bytes.slice())),
        (e: unknown) => this.reply(to, from, () => finish(new RpcError('RemoteFailed', `store ${to}: ${e instanceof Error ? e.message : String(e)}`))),
      );
    }, this.deliveryDelayMs);
  }

  /** Carries an answer back from `from` to `to`, unless the link was cut meanwhile. */
  private reply(from: number, to: number, arrive: () => void): void {
    this.timers.setTimeout(() => {
      if (this.isCut(from, to) || this.o.drop?.(from, to)) return void this.dropped++;
      arrive();
    }, this.deliveryDelayMs);
  }
}

/**
 * What a request handler is and what it works with: the store's shared context, its request
 * machinery (`StoreRequests`: checks, proposals, ReadIndex) and its PD service. Each request
 * type has one handler (`handlers/index.ts`); a handler gets a request whose fields were
 * checked (`checkStoreRequest`) and answers with its type's `ResponseOf`.
 */
import type { DataKeySwitcher } from '../data-key-switch.ts';
import type { StoreContext } from '../context.ts';
import type { PdService } from '../pd-service.ts';
import { StoreRequestError, type HandleOptions, type RequestOf, type ResponseOf, type StoreRequestType } from '../request-types.ts';
import type { StoreRequests } from '../requests.ts';

/** What every handler may use. */
export interface HandlerEnv {
  readonly ctx: StoreContext;
  readonly requests: StoreRequests;
  readonly pd: PdService;
  /** The GC safe point this store knows (`gc-worker.ts`; absent: none): txn reads below it are refused. */
  readonly gcSafePoint?: () => bigint;
  /** Proposes data-key switches (`data-key-switch.ts`; the `rotateDataKey` request). */
  readonly dataKeySwitcher: DataKeySwitcher;
}

/** The handler of requests of type `K`. */
export type Handler<K extends StoreRequestType> = (env: HandlerEnv, q: RequestOf<K>, o: HandleOptions) => Promise<ResponseOf<K>>;

/** One handler per request type. */
export type HandlerTable = { readonly [K in StoreRequestType]: Handler<K> };

/** The store's request options of a request: its timeout (absent: the store's default) and the caller's signal. */
export function requestOptions(q: { timeoutMs?: number }, o: HandleOptions): { timeoutMs?: number; signal?: AbortSignal } {
  return { ...(q.timeoutMs === undefined ? {} : { timeoutMs: q.timeoutMs }), ...(o.signal ? { signal: o.signal } : {}) };
}

/**
 * Refuses a raw key-value request (`write`, `get`, `scan`) in a store whose data model is not
 * raw: its column families hold MVCC-encoded keys, which raw reads would return as garbage and
 * raw writes would corrupt (data-model.ts: never mix). Throws `StoreRequestError('WrongDataModel')`.
 */
export function requireRawModel(env: HandlerEnv, type: 'write' | 'get' | 'scan'): void {
  const model = env.ctx.dataModel;
  if (model !== 'raw') throw new StoreRequestError('WrongDataModel', `store ${env.ctx.storeId} holds '${model}' data: a raw '${type}' request is refused (use the txn requests)`);
}

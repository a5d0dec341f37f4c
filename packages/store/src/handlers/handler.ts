/**
 * What a request handler is and what it works with: the store's shared context, its request
 * machinery (`StoreRequests`: checks, proposals, ReadIndex) and its PD service. Each request
 * type has one handler (`handlers/index.ts`); a handler gets a request whose fields were
 * checked (`checkStoreRequest`) and answers with its type's `ResponseOf`.
 */
import type { RegionError } from '@peerkv/pd';
import type { DataKeySwitcher } from '../data-key-switch.ts';
import type { StoreContext } from '../context.ts';
import type { RegionPeer } from '../peer.ts';
import type { RequestOptions } from '../request-options.ts';
import { sealProposal, staleSealError } from '../sealing.ts';
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

/**
 * `plain` sealed for a proposal by `peer` (the leader) under the data key its region is at, or
 * the region error to answer instead (sealing.ts, data-key-switch.ts). A leader seals nothing
 * before it applied an entry of its own term: by then it applied every data-key switch its log
 * holds (Raft's leader completeness puts every committed one there), so its keyring is at the
 * region's switch or past it. Appending a switch moves the keyring too, but only in memory: a
 * store that restarted with a switch in its log and not applied seals with the older key until
 * it applies it (the simulator's --cluster seed 45 before this wait). The wait is one commit
 * round after an election; `staleSealError` then covers a switch that comes in while it seals.
 */
export async function sealForProposal(env: HandlerEnv, ring: NonNullable<StoreContext['entryCipher']>, peer: RegionPeer, plain: Uint8Array, o: RequestOptions): Promise<Uint8Array | RegionError> {
  const first = peer.raw.leaderTermFirstIndex();
  if (first !== undefined && peer.applied < first && !peer.mutations.sealBeforeTermApplied) {
    const waited = await env.requests.waitApplied(peer, first, o);
    if (!waited.ok) return waited.error;
  }
  const sealed = await sealProposal(ring, env.ctx.payloads, peer, plain);
  if (!(sealed instanceof Uint8Array)) return sealed;
  return staleSealError(ring, peer, sealed) ?? sealed;
}

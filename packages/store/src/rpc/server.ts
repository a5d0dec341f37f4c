/**
 * `serveStore`: answers store requests arriving through a transport's `onRequest`: decodes
 * each into a `StoreRequest`, runs it with the store's `handle` and encodes the answer as
 * its request type's codec says (`STORE_REQUEST_CODECS[type].answer`). A request never
 * crashes the server: bytes that do not decode (or a request `handle` refuses) answer
 * `BadRequest`, a closed store `StoreClosed`, anything unexpected `Internal`; region errors
 * travel as results.
 *
 * `serveStore` also authorises each request by its caller, the store id the link
 * authenticated (`authorize.ts`): a refused one answers `Forbidden` and is counted
 * (`ServeStoreOptions.countRefused`). Admin requests are served only inside an envelope
 * signed with the operator key (`operator-auth.ts`). `handleStoreRequest` alone (a store
 * asking itself, in process) authorises nothing.
 */
import { StoreClosedError } from '../options.ts';
import { StoreRequestError, type StoreRequest, type StoreService } from '../request-types.ts';
import { authorizeRequest, keyUnproven, type ForbiddenReason } from './authorize.ts';
import { isDataKeyProofMessage, type DataKeyGate } from './data-key-proof.ts';
import { StoreRpcDecodeError, type StoreRpcFailure } from './errors.ts';
import { OperatorVerifier, isOperatorEnvelope } from './operator-auth.ts';
import { STORE_REQUEST_CODECS, decodeStoreRequest, type RequestCodec } from './request-codec.ts';
import { encodeStoreResponse, type StoreResponse } from './response-codec.ts';

/** What a server serves: anything with `handle` (a `Store`, or a stand-in in tests). */
export type ServedStore = StoreService;

/** A served store with its id (admin envelopes name the store they are for). */
export type IdentifiedStore = ServedStore & { readonly storeId: number };

/** Where requests come from: a `Transport`, a `LocalRpc` endpoint, or anything with `onRequest`. */
export interface RequestSource {
  onRequest(handler: (fromStoreId: number, payload: Uint8Array) => Promise<Uint8Array>): () => void;
}

/** Server limits, with units. */
export interface ServeStoreOptions {
  /** Longest store-side timeout a request may ask for, ms (longer ones are cut to this). */
  requestTimeoutMsMax?: number;
  /** The clock PD commands are stamped with, and operator envelopes are checked against, ms (default `Date.now`). */
  now?: () => number;
  /**
   * The cluster's operator key (`deriveOperatorKey`): admin requests signed with it are
   * served. Without it every admin request from another store or client is refused.
   */
  operatorKey?: CryptoKey;
  /**
   * Whether the link of caller `storeId` was admitted provisionally (`PeerKeyBook.isProvisional`):
   * such a caller is served only `PROVISIONAL_REQUESTS` (default: none is).
   */
  provisional?: (storeId: number) => boolean;
  /**
   * The key the link of caller `storeId` proved (`Transport.linkKey`): a `pdPutStore` naming a
   * key is then served only from a link that proved that very key (`keyUnproven`; refused
   * `forbiddenKeyUnproven`), operator envelopes included. Default: none, nothing is checked (an
   * in-process endpoint, whose callers prove no keys).
   */
  linkKey?: (storeId: number) => Uint8Array | undefined;
  /** Counts a refused request by reason (the store's `countRefused`). */
  countRefused?: (reason: ForbiddenReason) => void;
  /**
   * Serve `needsDataKey` only to callers that proved the data key to this gate
   * (`data-key-proof.ts`; `Store.dataKeyGate`); it also answers their proofs. Its owner must
   * tell it when a caller's link goes up or down (`bindStore` does). Default: none, every
   * member is served data.
   */
  dataKeyGate?: DataKeyGate;
}

/** Default `requestTimeoutMsMax`, ms. */
export const SERVE_REQUEST_TIMEOUT_MS_MAX = 60_000;

/** Serves `store` to every request from `source`, authorised by caller; returns the function that stops serving. */
export function serveStore(store: IdentifiedStore, source: RequestSource, o: ServeStoreOptions = {}): () => void {
  const verifier = o.operatorKey ? new OperatorVerifier(o.operatorKey, store.storeId, { now: o.now }) : undefined;
  const gate = o.dataKeyGate;
  return source.onRequest(async (from, payload) => {
    if (gate && isDataKeyProofMessage(payload)) return answerProof(gate, from, payload, o);
    let operator = false;
    if (isOperatorEnvelope(payload)) {
      const inner = await verifier?.open(payload);
      if (!inner) return forbidden('forbiddenOperatorProof', `store ${store.storeId}: the operator envelope does not verify here (key, target store, freshness or replay)`, o);
      payload = inner;
      operator = true;
    }
    const request = decodeRequest(payload);
    if (!('type' in request)) return request.bytes;
    if (o.linkKey && keyUnproven(from, request, o.linkKey)) return forbidden('forbiddenKeyUnproven', `store ${store.storeId} records a store key only from a link that proved it, and the link of ${from} proved ${o.linkKey(from) ? 'another key' : 'none'}`, o);
    const refused = authorizeRequest(from, request, operator, o.provisional?.(from) ?? false, gate !== undefined && !gate.proven(from));
    if (refused === 'forbiddenDataKeyUnproven') return forbidden(refused, `store ${store.storeId} serves ${request.type} only to a caller that proved the data key on its link, and ${from} has not (a witness credential holds no data key)`, o, 'DataKeyUnproven');
    if (refused === 'forbiddenFullStoreUnproven') return forbidden(refused, `store ${store.storeId} registers a full store only for a caller that proved the data key on its link, and ${from} has not (a witness credential registers a witness only)`, o, 'DataKeyUnproven');
    if (refused) return forbidden(refused, `store ${store.storeId} does not serve ${request.type} to ${from}: ${refused}`, o);
    return runStoreRequest(store, request, o);
  });
}

function forbidden(reason: ForbiddenReason, message: string, o: ServeStoreOptions, kind: 'Forbidden' | 'DataKeyUnproven' = 'Forbidden'): Uint8Array {
  o.countRefused?.(reason);
  return encodeStoreResponse({ type: 'failure', failure: { kind, message } });
}

async function answerProof(gate: DataKeyGate, from: number, payload: Uint8Array, o: ServeStoreOptions): Promise<Uint8Array> {
  try {
    const a = await gate.answer(from, payload);
    return 'ok' in a ? a.ok : forbidden('forbiddenDataKeyProof', a.refused, o);
  } catch (e) {
    if (e instanceof StoreRpcDecodeError) return encodeStoreResponse({ type: 'failure', failure: { kind: 'BadRequest', message: e.message } });
    throw e;
  }
}

/** Decodes one request, runs it on `store` and encodes the answer. Never rejects. Authorises nothing. */
export async function handleStoreRequest(store: ServedStore, payload: Uint8Array, o: ServeStoreOptions = {}): Promise<Uint8Array> {
  const request = decodeRequest(payload);
  return 'type' in request ? runStoreRequest(store, request, o) : request.bytes;
}

/** The request in `payload`, or the encoded failure to answer. */
function decodeRequest(payload: Uint8Array): StoreRequest | { bytes: Uint8Array } {
  try {
    return decodeStoreRequest(payload);
  } catch (e) {
    // Anything but a typed decode error is a decoder bug: still an answer, not a crash.
    return { bytes: encodeStoreResponse(failure(e instanceof StoreRpcDecodeError ? 'BadRequest' : 'Internal', e)) };
  }
}

async function runStoreRequest(store: ServedStore, request: StoreRequest, o: ServeStoreOptions): Promise<Uint8Array> {
  const codec = STORE_REQUEST_CODECS[request.type] as RequestCodec<StoreRequest['type']>;
  try {
    // No clock given: the store's own (`HandleOptions.now`), which a simulator sets to virtual time.
    const answer = await store.handle(clampTimeout(request, o.requestTimeoutMsMax ?? SERVE_REQUEST_TIMEOUT_MS_MAX), o.now ? { now: o.now } : {});
    return encodeStoreResponse(codec.answer.toWire(answer));
  } catch (e) {
    if (e instanceof StoreClosedError) return encodeStoreResponse(failure('StoreClosed', e));
    return encodeStoreResponse(failure(e instanceof StoreRequestError ? 'BadRequest' : 'Internal', e));
  }
}

function failure(kind: StoreRpcFailure['kind'], e: unknown): StoreResponse {
  return { type: 'failure', failure: { kind, message: e instanceof Error ? e.message : String(e) } };
}

/** The request with its store-side timeout cut to `timeoutMsMax`. */
function clampTimeout(q: StoreRequest, timeoutMsMax: number): StoreRequest {
  return 'timeoutMs' in q && q.timeoutMs !== undefined && q.timeoutMs > timeoutMsMax ? { ...q, timeoutMs: timeoutMsMax } : q;
}

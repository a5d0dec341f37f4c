/**
 * `serveStore`: answers store requests arriving through a transport's `onRequest`: decodes
 * each into a `StoreRequest`, runs it with the store's `handle` and encodes the answer as
 * its request type's codec says (`STORE_REQUEST_CODECS[type].answer`). A request never
 * crashes the server: bytes that do not decode (or a request `handle` refuses) answer
 * `BadRequest`, a closed store `StoreClosed`, anything unexpected `Internal`; region errors
 * travel as results.
 */
import { StoreClosedError } from '../options.ts';
import { StoreRequestError, type StoreRequest, type StoreService } from '../request-types.ts';
import { StoreRpcDecodeError, type StoreRpcFailure } from './errors.ts';
import { STORE_REQUEST_CODECS, decodeStoreRequest, type RequestCodec } from './request-codec.ts';
import { encodeStoreResponse, type StoreResponse } from './response-codec.ts';

/** What a server serves: anything with `handle` (a `Store`, or a stand-in in tests). */
export type ServedStore = StoreService;

/** Where requests come from: a `Transport`, a `LocalRpc` endpoint, or anything with `onRequest`. */
export interface RequestSource {
  onRequest(handler: (fromStoreId: number, payload: Uint8Array) => Promise<Uint8Array>): () => void;
}

/** Server limits, with units. */
export interface ServeStoreOptions {
  /** Longest store-side timeout a request may ask for, ms (longer ones are cut to this). */
  requestTimeoutMsMax?: number;
  /** The clock PD commands are stamped with, ms (default `Date.now`). */
  now?: () => number;
}

/** Default `requestTimeoutMsMax`, ms. */
export const SERVE_REQUEST_TIMEOUT_MS_MAX = 60_000;

/** Serves `store` to every request from `source`; returns the function that stops serving. */
export function serveStore(store: ServedStore, source: RequestSource, o: ServeStoreOptions = {}): () => void {
  return source.onRequest((_from, payload) => handleStoreRequest(store, payload, o));
}

/** Decodes one request, runs it on `store` and encodes the answer. Never rejects. */
export async function handleStoreRequest(store: ServedStore, payload: Uint8Array, o: ServeStoreOptions = {}): Promise<Uint8Array> {
  let request: StoreRequest;
  try {
    request = decodeStoreRequest(payload);
  } catch (e) {
    // Anything but a typed decode error is a decoder bug: still an answer, not a crash.
    return encodeStoreResponse(failure(e instanceof StoreRpcDecodeError ? 'BadRequest' : 'Internal', e));
  }
  const codec = STORE_REQUEST_CODECS[request.type] as RequestCodec<StoreRequest['type']>;
  try {
    const answer = await store.handle(clampTimeout(request, o.requestTimeoutMsMax ?? SERVE_REQUEST_TIMEOUT_MS_MAX), { now: o.now ?? (() => Date.now()) });
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

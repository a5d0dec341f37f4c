/**
 * `serveStore`: answers store requests arriving through a transport's `onRequest`. It owns
 * the dispatch from a decoded `StoreRequest` to the `Store`'s public methods and the rule
 * that a request never crashes the server: bytes that do not decode answer `BadRequest`, a
 * closed store `StoreClosed`, anything unexpected `Internal`; region errors travel as results.
 */
import { StoreClosedError } from '../options.ts';
import type { Store } from '../store.ts';
import { StoreRpcDecodeError, type StoreRpcFailure } from './errors.ts';
import { decodeStoreRequest, type StoreRequest } from './request-codec.ts';
import { encodeStoreResponse, type StoreResponse } from './response-codec.ts';
import { dispatchPd, type ServedPdStore } from './pd-server.ts';

/** The store methods a server calls (a `Store`, or a stand-in in tests). */
export type ServedStore = Pick<Store, 'write' | 'get' | 'scan' | 'changePeers' | 'split' | 'transferLeader' | 'campaign' | 'status'> & ServedPdStore;

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
    const kind = e instanceof StoreRpcDecodeError ? 'BadRequest' : 'Internal';
    return encodeStoreResponse(failure({ kind, message: e instanceof Error ? e.message : String(e) }));
  }
  try {
    return encodeStoreResponse(await dispatch(store, request, o.requestTimeoutMsMax ?? SERVE_REQUEST_TIMEOUT_MS_MAX, o.now ?? (() => Date.now())));
  } catch (e) {
    if (e instanceof StoreClosedError) return encodeStoreResponse(failure({ kind: 'StoreClosed', message: e.message }));
    return encodeStoreResponse(failure({ kind: 'Internal', message: e instanceof Error ? e.message : String(e) }));
  }
}

function failure(f: StoreRpcFailure): StoreResponse {
  return { type: 'failure', failure: f };
}

/** The store's request options for a request's timeout, cut to `timeoutMsMax`. */
function options(q: { timeoutMs?: number }, timeoutMsMax: number): { timeoutMs?: number } {
  return q.timeoutMs === undefined ? {} : { timeoutMs: Math.min(q.timeoutMs, timeoutMsMax) };
}

async function dispatch(store: ServedStore, q: StoreRequest, timeoutMsMax: number, now: () => number): Promise<StoreResponse> {
  switch (q.type) {
    case 'write':
      return { type: 'unit', result: await store.write(q.regionId, q.epoch, q.clientId, q.seq, q.ops, { ...options(q, timeoutMsMax), ackFloor: q.ackFloor ?? 0 }) };
    case 'get':
      return { type: 'value', result: await store.get(q.regionId, q.epoch, q.key, q.consistency, options(q, timeoutMsMax)) };
    case 'scan': {
      // Engines take integer limits: "unbounded" (Infinity on the wire) is the largest one.
      const range = Number.isFinite(q.range.limit) ? q.range : { ...q.range, limit: Number.MAX_SAFE_INTEGER };
      return { type: 'pairs', result: await store.scan(q.regionId, q.epoch, range, q.consistency, options(q, timeoutMsMax)) };
    }
    case 'changePeers':
      return { type: 'unit', result: await store.changePeers(q.regionId, q.changes, options(q, timeoutMsMax)) };
    case 'split':
      return { type: 'unit', result: await store.split(q.regionId, q.epoch, q.splitKey, q.newRegionId, q.newPeerIds, options(q, timeoutMsMax)) };
    case 'transferLeader':
      store.transferLeader(q.regionId, q.peerId);
      return { type: 'ack' };
    case 'campaign':
      store.campaign(q.regionId);
      return { type: 'ack' };
    case 'status':
      return { type: 'status', status: store.status() };
    default:
      return dispatchPd(store, q, (t) => options(t, timeoutMsMax), now);
  }
}

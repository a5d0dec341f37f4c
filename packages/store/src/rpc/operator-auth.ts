/**
 * The operator credential on the store RPC: an admin request (`REQUEST_CLASSES` says which)
 * travels in an envelope signed with the cluster's operator key (`deriveOperatorKey` of
 * `@peerkv/transport`: HMAC-SHA-256 under its own salt, from a separate operator secret or,
 * by default, the cluster secret). The envelope binds the target store, a signing time and a
 * random nonce to the request's bytes:
 *
 *   varUint OPERATOR_ENVELOPE_TAG, varUint version, bytes nonce (16), varUint issuedAtMs,
 *   bytes mac (32), rest: the request as `encodeStoreRequest` writes it
 *
 * mac = HMAC(operator key, label ‖ target store id ‖ issuedAtMs ‖ nonce ‖ request). A store
 * opens an envelope only if the MAC verifies, it is addressed to it, it was signed within
 * `OPERATOR_FRESHNESS_MS` of the store's clock, and its MAC was not seen before (at most
 * `OPERATOR_SEEN_MAX` remembered, oldest forgotten first; a forgotten one is stale by then
 * unless that many were signed within the window). So a recorded admin request can be
 * replayed neither to its store nor to another one.
 */
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { StoreRpcDecodeError } from './errors.ts';
import { STORE_RPC_VERSION, decoding } from './wire.ts';

/** First varUint of an operator envelope (no request type uses it; request tags grow from 1). */
export const OPERATOR_ENVELOPE_TAG = 96;
/** An envelope signed further than this from the store's clock is refused, ms. */
export const OPERATOR_FRESHNESS_MS = 120_000;
/** Envelope MACs a store remembers to refuse replays. */
export const OPERATOR_SEEN_MAX = 4096;
/** Bytes of an envelope's nonce. */
export const OPERATOR_NONCE_BYTES = 16;
/** Bytes of an envelope's MAC (HMAC-SHA-256). */
export const OPERATOR_MAC_BYTES = 32;
const OPERATOR_LABEL = 'peerkv-operator-request-v1';
const utf8 = new TextEncoder();

/** Whether `payload` is an operator envelope (its first varUint is `OPERATOR_ENVELOPE_TAG`). */
export function isOperatorEnvelope(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === OPERATOR_ENVELOPE_TAG;
}

function macInput(targetStoreId: number, issuedAtMs: number, nonce: Uint8Array, request: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = utf8.encode(`${OPERATOR_LABEL}\u0000${targetStoreId}\u0000${issuedAtMs}\u0000`);
  const out = new Uint8Array(head.length + nonce.length + request.length);
  out.set(head, 0);
  out.set(nonce, head.length);
  out.set(request, head.length + nonce.length);
  return out;
}

/** Wraps an encoded request for `targetStoreId` in an envelope signed with `operatorKey` at `nowMs`. */
export async function signOperatorRequest(operatorKey: CryptoKey, targetStoreId: number, request: Uint8Array, nowMs: number = Date.now()): Promise<Uint8Array> {
  const nonce = crypto.getRandomValues(new Uint8Array(OPERATOR_NONCE_BYTES));
  const issuedAtMs = Math.max(0, Math.floor(nowMs));
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', operatorKey, macInput(targetStoreId, issuedAtMs, nonce, request)));
  const w = new ByteWriter();
  w.varUint(OPERATOR_ENVELOPE_TAG);
  w.varUint(STORE_RPC_VERSION);
  w.bytes(nonce);
  w.varUint(issuedAtMs);
  w.bytes(mac);
  w.raw(request);
  return w.finish();
}

interface Envelope {
  nonce: Uint8Array;
  issuedAtMs: number;
  mac: Uint8Array;
  request: Uint8Array;
}

function readEnvelope(r: ByteReader): Envelope {
  if (r.varUint() !== OPERATOR_ENVELOPE_TAG) throw new StoreRpcDecodeError('UnknownType', 'not an operator envelope');
  const version = r.varUint();
  if (version !== STORE_RPC_VERSION) throw new StoreRpcDecodeError('UnsupportedVersion', `operator envelope version ${version}`);
  const nonce = r.bytes(OPERATOR_NONCE_BYTES, 'nonce');
  const issuedAtMs = r.varUint();
  const mac = r.bytes(OPERATOR_MAC_BYTES, 'mac');
  if (nonce.length !== OPERATOR_NONCE_BYTES || mac.length !== OPERATOR_MAC_BYTES) throw new StoreRpcDecodeError('Malformed', 'operator envelope: short nonce or mac');
  return { nonce, issuedAtMs, mac, request: r.rest() };
}

/** Settings of an `OperatorVerifier`, with units. */
export interface OperatorVerifierOptions {
  /** The store's clock, ms (default `Date.now`). */
  now?: () => number;
  /** Default `OPERATOR_FRESHNESS_MS`. */
  freshnessMs?: number;
  /** Default `OPERATOR_SEEN_MAX`. */
  seenMax?: number;
}

/** Opens operator envelopes addressed to one store (see the module header). */
export class OperatorVerifier {
  private readonly now: () => number;
  private readonly freshnessMs: number;
  private readonly seenMax: number;
  /** MACs of envelopes opened (hex), oldest first. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly operatorKey: CryptoKey,
    private readonly storeId: number,
    o: OperatorVerifierOptions = {},
  ) {
    this.now = o.now ?? (() => Date.now());
    this.freshnessMs = o.freshnessMs ?? OPERATOR_FRESHNESS_MS;
    this.seenMax = o.seenMax ?? OPERATOR_SEEN_MAX;
  }

  /** The request inside `payload` if it is a valid, fresh, first-seen envelope for this store; `undefined` otherwise. */
  async open(payload: Uint8Array): Promise<Uint8Array | undefined> {
    let e: Envelope;
    try {
      e = decoding('operator envelope', payload, readEnvelope);
    } catch (err) {
      if (err instanceof StoreRpcDecodeError) return undefined;
      throw err;
    }
    if (Math.abs(this.now() - e.issuedAtMs) > this.freshnessMs) return undefined;
    const ok = await crypto.subtle.verify('HMAC', this.operatorKey, e.mac as Uint8Array<ArrayBuffer>, macInput(this.storeId, e.issuedAtMs, e.nonce, e.request));
    if (!ok) return undefined;
    const id = hex(e.mac);
    if (this.seen.has(id)) return undefined;
    this.seen.add(id);
    if (this.seen.size > this.seenMax) this.seen.delete(this.seen.values().next().value!);
    return e.request;
  }
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

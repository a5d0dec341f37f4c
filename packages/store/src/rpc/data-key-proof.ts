/**
 * The data-key proof on the store RPC (issue 14, "Witness replicas"). A link proves only the
 * membership key, which a witness credential holds too; so a store that serves data
 * (`StoreOptions.dataProofKey`) serves the requests that read or write user data
 * (`needsDataKey`: reads, writes, transactions, the change feed) only to a caller that
 * proved, on its current link, that it holds the data key. Everything a witness needs (Raft
 * messages, its own reports to PD, PD's routing and store reads, ids and timestamps) needs no
 * proof. An unproven caller is answered the failure `DataKeyUnproven` (counted
 * `refused.forbiddenDataKeyUnproven`).
 *
 * The proof is a challenge and a response, once per link, outside the request types:
 *
 *     challenge: varUint DATA_KEY_PROOF_TAG, varUint version, varUint 0
 *       answer:  varUint DATA_KEY_PROOF_TAG, varUint version, varUint 0, bytes nonce (32)
 *     proof:     varUint DATA_KEY_PROOF_TAG, varUint version, varUint 1, bytes nonce (32), bytes mac (32)
 *       answer:  varUint DATA_KEY_PROOF_TAG, varUint version, varUint 1   (or a failure `Forbidden`)
 *
 * mac = HMAC-SHA-256(data-proof key, label ‖ serving store id ‖ caller id ‖ nonce): the key is
 * `deriveMemberKeys(...).dataProofKey` (from the data root: a witness cannot derive it). The
 * nonce is the serving store's, fresh per challenge and good for one proof from that caller, so
 * a recorded proof proves nothing again. A caller's state is dropped when its link goes up or
 * down (`bindStore`): a new link, perhaps another party under the same temporary id, proves
 * again; a proof whose check was under way when the link changed is not counted.
 *
 * The caller's side is `withDataKeyProof`: it wraps a requester (a `Transport`) so a
 * `DataKeyUnproven` answer runs the proof and sends the request once more.
 *
 * The other direction: a leader sends a data snapshot (plaintext pairs) only to a store that
 * proved the data key to it (`DataKeyGate.receiverProven`), so a store that holds only a witness
 * credential is never sent data, even if PD placed a full replica on it. The leader asks:
 *
 *     ask:       varUint DATA_KEY_PROOF_TAG, varUint version, varUint 2, bytes nonce (32)
 *       answer:  varUint DATA_KEY_PROOF_TAG, varUint version, varUint 2, bytes mac (32)
 *
 * mac = HMAC-SHA-256(data-proof key, label/asked ‖ asking store id ‖ answering store id ‖
 * nonce), with a label of its own so an answer can never serve as a caller's proof. Only stores
 * (no temporary id on either side) ask and answer.
 */
import { ByteWriter, type ByteReader } from '@peerkv/transport';
import { StoreRpcDecodeError } from './errors.ts';
import { decodeStoreResponse, isDataKeyUnproven } from './response-codec.ts';
import { STORE_RPC_VERSION, decoding } from './wire.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import type { DataProofMac } from '../options.ts';

/** The data-proof key as a `DataProofMac` (a `CryptoKey` is WebCrypto's HMAC under it). */
export function dataProofMacOf(key: CryptoKey | DataProofMac): DataProofMac {
  if ('sign' in key) return key;
  return {
    sign: async (data) => new Uint8Array(await crypto.subtle.sign('HMAC', key, data)),
    verify: (mac, data) => crypto.subtle.verify('HMAC', key, mac as Uint8Array<ArrayBuffer>, data),
  };
}

/** First varUint of a data-key proof message (after `OPERATOR_ENVELOPE_TAG`; request tags grow from 1). */
export const DATA_KEY_PROOF_TAG = 97;
/** Bytes of a challenge's nonce. */
export const DATA_KEY_NONCE_BYTES = 32;
/** Bytes of a proof's MAC (HMAC-SHA-256). */
export const DATA_KEY_MAC_BYTES = 32;
/** How long a leader waits for a store's answer to its ask, ms. */
export const DATA_KEY_ASK_TIMEOUT_MS = 5000;
/** Callers a store keeps proof state for (the oldest is forgotten first: it proves again). */
export const DATA_KEY_CALLERS_MAX = 4096;
/** Least time between two asks of one store whose answer failed, ms (a witness never passes). */
export const DATA_KEY_ASK_INTERVAL_MS_MIN = 1000;
const STEP_CHALLENGE = 0;
const STEP_PROOF = 1;
const STEP_ASK = 2;
const LABEL = 'peerkv-data-proof-v1';
const ASKED_LABEL = 'peerkv-data-proof-v1/asked';
const utf8 = new TextEncoder();

/** Whether `payload` is a data-key proof message (its first varUint is `DATA_KEY_PROOF_TAG`). */
export function isDataKeyProofMessage(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === DATA_KEY_PROOF_TAG;
}

/** Whether `payload` is a caller's proof (the step that carries its MAC), for counters. */
export function isDataKeyProofStep(payload: Uint8Array): boolean {
  if (!isDataKeyProofMessage(payload)) return false;
  try {
    return readMessage(payload, 'data-key proof').step === STEP_PROOF;
  } catch (e) {
    if (e instanceof StoreRpcDecodeError) return false;
    throw e;
  }
}

function macInput(servingStoreId: number, callerId: number, nonce: Uint8Array, label = LABEL): Uint8Array<ArrayBuffer> {
  const head = utf8.encode(`${label}\u0000${servingStoreId}\u0000${callerId}\u0000`);
  const out = new Uint8Array(head.length + nonce.length);
  out.set(head, 0);
  out.set(nonce, head.length);
  return out;
}

function header(step: number): ByteWriter {
  const w = new ByteWriter();
  w.varUint(DATA_KEY_PROOF_TAG);
  w.varUint(STORE_RPC_VERSION);
  w.varUint(step);
  return w;
}

/** A data-key proof message as read (`step` 0: a challenge; 1: a proof with its nonce and MAC; 2: an ask with its nonce). */
type ProofMessage = { step: typeof STEP_CHALLENGE } | { step: typeof STEP_PROOF; nonce: Uint8Array; mac: Uint8Array } | { step: typeof STEP_ASK; nonce: Uint8Array };

function readMessage(payload: Uint8Array, what: string): ProofMessage {
  return decoding(what, payload, (r: ByteReader) => {
    r.varUint(); // the tag, checked by the caller
    const version = r.varUint();
    if (version !== STORE_RPC_VERSION) throw new StoreRpcDecodeError('UnsupportedVersion', `${what} v${version}`);
    const step = r.varUint();
    if (step === STEP_CHALLENGE) return { step };
    if (step !== STEP_PROOF && step !== STEP_ASK) throw new StoreRpcDecodeError('Malformed', `${what}: step ${step}`);
    const nonce = r.bytes(DATA_KEY_NONCE_BYTES, 'data-key nonce');
    if (nonce.length !== DATA_KEY_NONCE_BYTES) throw new StoreRpcDecodeError('Malformed', `${what}: a ${DATA_KEY_NONCE_BYTES}-byte nonce`);
    if (step === STEP_ASK) {
      r.end(what);
      return { step, nonce };
    }
    const mac = r.bytes(DATA_KEY_MAC_BYTES, 'data-key mac');
    if (mac.length !== DATA_KEY_MAC_BYTES) throw new StoreRpcDecodeError('Malformed', `${what}: a ${DATA_KEY_MAC_BYTES}-byte mac`);
    r.end(what);
    return { step, nonce, mac };
  });
}

/** One caller's proof state on its current link. */
interface CallerProof {
  /** The nonce of the challenge it was last given (one proof each). */
  nonce?: Uint8Array;
  proven: boolean;
  /** It proved the data key to this store when asked (`receiverProven`), on its current link. */
  receiver: boolean;
}

/** What the gate answers a proof message with: the bytes, or a refusal for the server to encode. */
export type DataKeyProofAnswer = { ok: Uint8Array } | { refused: string };

/** The serving store's side (see the module header): who proved the data key on their current link. */
export class DataKeyGate {
  private readonly callers = new Map<number, CallerProof>();
  /** Stores being asked now (one ask each at a time). */
  private readonly asking = new Set<number>();
  /** When an ask of a store last failed, ms (`DATA_KEY_ASK_INTERVAL_MS_MIN`). */
  private readonly askFailedAtMs = new Map<number, number>();
  private requester: ProvingRequester | undefined;
  private readonly mac: DataProofMac;
  /** What the gate did, for tests and the simulator's report. */
  readonly stats = { callersProven: 0, callerProofsRefused: 0, receiversProven: 0, asksFailed: 0 };

  constructor(
    dataProofKey: CryptoKey | DataProofMac,
    private readonly storeId: number,
    private readonly randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
    private readonly now: () => number = () => Date.now(),
  ) {
    this.mac = dataProofMacOf(dataProofKey);
  }

  /** The link asks go out on (`bindStore` attaches the store's transport); none: nobody is asked. */
  attach(requester: ProvingRequester | undefined): void {
    this.requester = requester;
  }

  /**
   * Whether store `storeId` proved, on its current link, that it holds the data key, when this
   * store asked it (see the module header). If not, an ask starts (one at a time per store, and
   * not again within `DATA_KEY_ASK_INTERVAL_MS_MIN` of a failed one): the caller withholds the
   * data now and offers it again later (a leader's Raft re-sends a snapshot it was told failed).
   */
  receiverProven(storeId: number): boolean {
    if (this.callers.get(storeId)?.receiver) return true;
    void this.ask(storeId);
    return false;
  }

  private async ask(storeId: number): Promise<void> {
    const requester = this.requester;
    if (!requester || this.asking.has(storeId) || isTempStoreId(storeId) || isTempStoreId(this.storeId)) return;
    const failedAt = this.askFailedAtMs.get(storeId);
    if (failedAt !== undefined && this.now() - failedAt < DATA_KEY_ASK_INTERVAL_MS_MIN) return;
    this.asking.add(storeId);
    const st = this.state(storeId);
    let ok = false;
    try {
      const nonce = this.randomBytes(DATA_KEY_NONCE_BYTES);
      const w = header(STEP_ASK);
      w.bytes(nonce);
      const mac = readAnswer(await requester.request(storeId, w.finish(), { timeoutMs: DATA_KEY_ASK_TIMEOUT_MS }), STEP_ASK, storeId);
      ok = await this.mac.verify(mac, macInput(this.storeId, storeId, nonce, ASKED_LABEL));
    } catch {
      ok = false; // a refusal, a link gone, a store with no gate (a witness): not proven
    } finally {
      this.asking.delete(storeId);
    }
    // The link may have changed while it answered: then the answer was the old link's.
    if (ok && this.callers.get(storeId) === st) {
      st.receiver = true;
      this.stats.receiversProven++;
      this.askFailedAtMs.delete(storeId);
    } else {
      this.stats.asksFailed++;
      if (this.askFailedAtMs.size >= DATA_KEY_CALLERS_MAX) this.askFailedAtMs.delete(this.askFailedAtMs.keys().next().value as number);
      this.askFailedAtMs.set(storeId, this.now());
    }
  }

  /** Whether `callerId` proved the data key on its current link. */
  proven(callerId: number): boolean {
    return this.callers.get(callerId)?.proven ?? false;
  }

  /** `callerId`'s link went up or down: whatever it proved was on the old link. */
  forget(callerId: number): void {
    this.callers.delete(callerId);
  }

  /** Answers a proof message from `callerId` (`isDataKeyProofMessage`); throws `StoreRpcDecodeError` on bad bytes. */
  async answer(callerId: number, payload: Uint8Array): Promise<DataKeyProofAnswer> {
    const m = readMessage(payload, 'data-key proof');
    if (m.step === STEP_ASK) return this.answerAsk(callerId, m.nonce);
    if (m.step === STEP_CHALLENGE) {
      const nonce = this.randomBytes(DATA_KEY_NONCE_BYTES);
      this.state(callerId).nonce = nonce;
      const w = header(STEP_CHALLENGE);
      w.bytes(nonce);
      return { ok: w.finish() };
    }
    const st = this.callers.get(callerId);
    const nonce = st?.nonce;
    if (!st || !nonce || !bytesEqual(nonce, m.nonce)) return { refused: `store ${this.storeId}: a data-key proof from ${callerId} answers no challenge of its current link` };
    st.nonce = undefined;
    const ok = await this.mac.verify(m.mac, macInput(this.storeId, callerId, nonce));
    if (!ok) this.stats.callerProofsRefused++;
    if (!ok) return { refused: `store ${this.storeId}: the data-key proof from ${callerId} does not verify (a witness credential holds no data key)` };
    // The link may have changed while the MAC was checked: then this proof was the old link's.
    if (this.callers.get(callerId) !== st) return { refused: `store ${this.storeId}: the link of ${callerId} changed during its data-key proof` };
    st.proven = true;
    this.stats.callersProven++;
    return { ok: header(STEP_PROOF).finish() };
  }

  /** A store asks this one to prove the data key (see the module header): the MAC of its nonce. */
  private async answerAsk(callerId: number, nonce: Uint8Array): Promise<DataKeyProofAnswer> {
    if (isTempStoreId(callerId) || isTempStoreId(this.storeId)) return { refused: `store ${this.storeId}: only stores ask each other for the data-key proof, and ${callerId} is a temporary id` };
    const mac = await this.mac.sign(macInput(callerId, this.storeId, nonce, ASKED_LABEL));
    const w = header(STEP_ASK);
    w.bytes(mac);
    return { ok: w.finish() };
  }

  private state(callerId: number): CallerProof {
    let st = this.callers.get(callerId);
    if (st) return st;
    if (this.callers.size >= DATA_KEY_CALLERS_MAX) this.callers.delete(this.callers.keys().next().value as number);
    st = { proven: false, receiver: false };
    this.callers.set(callerId, st);
    return st;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Anything that sends a store request and awaits its answer, under its own store id (a `Transport`). */
export interface ProvingRequester {
  readonly localStoreId: number;
  request(targetStoreId: number, payload: Uint8Array, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A data-key proof the caller could not make: the store refused it, or answered something else. */
export class DataKeyProofError extends Error {
  override readonly name = 'DataKeyProofError';
}

/**
 * Proves the data key to store `target` over `requester` (a challenge, then the MAC of its
 * nonce). Rejects with `DataKeyProofError` when the store refuses, and with whatever the
 * requester rejects with (an `RpcError`) when the link fails.
 */
export async function proveDataKey(requester: ProvingRequester, dataProofKey: CryptoKey | DataProofMac, target: number, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
  const challenge = await requester.request(target, header(STEP_CHALLENGE).finish(), o);
  const nonce = readAnswer(challenge, STEP_CHALLENGE, target);
  const mac = await dataProofMacOf(dataProofKey).sign(macInput(target, requester.localStoreId, nonce));
  const w = header(STEP_PROOF);
  w.bytes(nonce);
  w.bytes(mac);
  readAnswer(await requester.request(target, w.finish(), o), STEP_PROOF, target);
}

function readAnswer(bytes: Uint8Array, step: number, target: number): Uint8Array {
  if (!isDataKeyProofMessage(bytes)) throw new DataKeyProofError(`store ${target} refused the data-key proof: ${failureText(bytes)}`);
  try {
    return decoding('data-key proof answer', bytes, (r: ByteReader) => {
      r.varUint();
      if (r.varUint() !== STORE_RPC_VERSION || r.varUint() !== step) throw new StoreRpcDecodeError('Malformed', 'data-key proof answer: version or step');
      // A challenge carries the nonce, an ask's answer the MAC (both 32 bytes); a proof's answer nothing.
      const want = step === STEP_PROOF ? 0 : step === STEP_ASK ? DATA_KEY_MAC_BYTES : DATA_KEY_NONCE_BYTES;
      const bytes = want === 0 ? new Uint8Array(0) : r.bytes(want, 'data-key proof answer');
      if (bytes.length !== want) throw new StoreRpcDecodeError('Malformed', `data-key proof answer: ${bytes.length} bytes, not ${want}`);
      r.end('data-key proof answer');
      return bytes;
    });
  } catch (e) {
    if (e instanceof StoreRpcDecodeError) throw new DataKeyProofError(`store ${target}: ${e.message}`);
    throw e;
  }
}

/** What a store's failure answer says (or that the answer is neither a proof step nor a failure). */
function failureText(bytes: Uint8Array): string {
  try {
    const r = decodeStoreResponse(bytes);
    return r.type === 'failure' ? `${r.failure.kind}: ${r.failure.message}` : `it answered ${r.type}`;
  } catch (e) {
    if (e instanceof StoreRpcDecodeError) return `an undecodable ${bytes.length}-byte answer`;
    throw e;
  }
}

/**
 * `requester` (a `Transport`, or anything with `request` and `localStoreId`) with the data-key
 * proof: a request a store answers `DataKeyUnproven` is followed by the proof (one at a time per
 * store) and sent once more; a proof that fails leaves that answer as it was. Every other
 * property is `requester`'s own, called on it (a Proxy, so the wrapped object keeps its class,
 * its private state and every method the caller's type names).
 */
export function withDataKeyProof<T extends ProvingRequester>(requester: T, dataProofKey: CryptoKey | DataProofMac): T {
  const proving = new Map<number, Promise<boolean>>();
  const prove = (target: number, o: { timeoutMs?: number; signal?: AbortSignal } | undefined): Promise<boolean> => {
    let p = proving.get(target);
    if (!p) {
      p = proveDataKey(requester, dataProofKey, target, o).then(
        () => true,
        () => false,
      );
      proving.set(target, p);
      void p.then(() => proving.delete(target));
    }
    return p;
  };
  const request: ProvingRequester['request'] = async (target, payload, o) => {
    const answer = await requester.request(target, payload, o);
    if (!isDataKeyUnproven(answer) || !(await prove(target, o))) return answer;
    return requester.request(target, payload, o);
  };
  return new Proxy(requester, {
    get(target, prop) {
      if (prop === 'request') return request;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

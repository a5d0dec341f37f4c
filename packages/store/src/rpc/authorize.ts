/**
 * Who may ask a store what over RPC (issue 13, finding 6): every request type has one class,
 * written in its entry of the request table (`auth`, `request-codec.ts`; `request-auth.ts`),
 * and the caller is the store id its link authenticated (`RequestSource.onRequest`'s
 * `fromStoreId`).
 *
 * - `data`: reads, writes, transactions, status, PD's routing reads, timestamps and ids, GC
 *   registrations: any member, clients under temporary ids included (a client holding the
 *   secret reads and writes everything by design).
 * - `self`: a store's own reports to PD: a store heartbeat for the caller's store id, a region
 *   heartbeat whose leader is on the caller's store, `pdPutStore` for the caller's own id (or
 *   id 0, a join, which a joining store sends under a temporary id). A temporary id is never a
 *   store: it may only join.
 * - `admin`: membership changes, splits, leader transfers, elections, drains, data-key
 *   rotations: only in an envelope signed with the operator key (`operator-auth.ts`); a
 *   rotation needs the data-key proof too (`needsDataKey`). PD's own operators run these
 *   on the region's leader in process (`PdWorker.executeStep`), never over RPC.
 *
 * A caller whose link was admitted **provisionally** (a store id whose key this store cannot
 * confirm yet: PD has none for it, or PD could not be asked but through the claimed store;
 * `net/peer-keys.ts`) may send only what reaches PD or the key lookup and changes nothing
 * (`PROVISIONAL_REQUESTS`): reads, PD's routing and store reads, and its own `pdPutStore`,
 * which records the key of a store that has none yet (the first key PD records for an id is
 * bound to it). Everything else is refused `forbiddenProvisional` until the key is confirmed.
 *
 * A store that serves data to provers only (`StoreOptions.dataProofKey`; `data-key-proof.ts`)
 * serves the requests that read or write user data (`needsDataKey`) only to a caller that
 * proved the data key on its current link: a link proves the membership key, which a witness
 * credential holds too. The rest (status, PD's routing, store and id requests, timestamps, GC
 * registrations, a store's own reports) is what a witness needs and reveals no key or value;
 * but registering a full store (`registersFullStore`: a `pdPutStore` without the witness label)
 * needs the proof too, so a witness credential registers a witness only.
 *
 * Over links that prove keys (`ServeStoreOptions.linkKey`), a `pdPutStore` naming a store key
 * is served only from a link that proved that key (`keyUnproven`): a join too.
 *
 * A refused request answers the failure `Forbidden` (`DataKeyUnproven` for a missing data-key
 * proof) and is counted by its reason.
 */
import type { StoreRequest, StoreRequestType } from '../request-types.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import type { RequestClass } from './request-auth.ts';
import { STORE_REQUEST_CODECS } from './request-codec.ts';
import { isWitnessStore } from '@peerkv/pd';
import { publicKeysEqual } from '@peerkv/transport';

/** Each request type's value of one of its `auth` fields (`STORE_REQUEST_CODECS[type].auth`). */
function authTable<T>(pick: (type: StoreRequestType) => T): { readonly [K in StoreRequestType]: T } {
  return Object.fromEntries(Object.keys(STORE_REQUEST_CODECS).map((type) => [type, pick(type as StoreRequestType)])) as { readonly [K in StoreRequestType]: T };
}

/** The class of every request type, as its entry in the request table says (see the module header). */
export const REQUEST_CLASSES: { readonly [K in StoreRequestType]: RequestClass } = authTable((type) => STORE_REQUEST_CODECS[type].auth.class);

/**
 * What a provisionally admitted caller may send (see the module header), as each entry's
 * `auth.provisional` says: requests that change nothing here or in PD, and `pdPutStore` (a key
 * registration: `selfReportRefusal` still limits it to the caller's own id, and PD records a
 * key only for an id that has none).
 */
export const PROVISIONAL_REQUESTS: { readonly [K in StoreRequestType]: boolean } = authTable((type) => STORE_REQUEST_CODECS[type].auth.provisional);

/** Whether a request of `type` reads or writes user data: from a store that serves data to provers only, only callers that proved the data key get it. */
export function needsDataKey(type: StoreRequestType): boolean {
  return STORE_REQUEST_CODECS[type].auth.userData;
}

/**
 * Whether `q` registers a full store with PD (a `pdPutStore` without the witness label): PD
 * places full replicas, which hold the user's data, on such a store, so a store that serves data
 * to provers only takes it only from a caller that proved the data key; a witness credential can
 * register a witness only.
 */
export function registersFullStore(q: StoreRequest): boolean {
  return q.type === 'pdPutStore' && !isWitnessStore(q.labels);
}

/** Why a request was refused (each is a counter of the store's `status().refused`). */
export type ForbiddenReason =
  /** An admin request without a valid operator signature. */
  | 'forbiddenAdmin'
  /** A store report (heartbeat, `pdPutStore`) for a store other than the caller. */
  | 'forbiddenOtherStore'
  /** A store report from a temporary id (a client or a store still joining). */
  | 'forbiddenNotStore'
  /** An operator envelope that does not verify, is stale, replayed, or addressed to another store. */
  | 'forbiddenOperatorProof'
  /** A request that writes, from a store whose link was admitted provisionally (its key not confirmed yet). */
  | 'forbiddenProvisional'
  /** A request that `needsDataKey` from a caller that has not proven the data key on its link (a witness credential's holder). */
  | 'forbiddenDataKeyUnproven'
  /** A data-key proof that answers no challenge or does not verify (`data-key-proof.ts`). */
  | 'forbiddenDataKeyProof'
  /** A `pdPutStore` registering a full store (`registersFullStore`) from a caller that has not proven the data key. */
  | 'forbiddenFullStoreUnproven'
  /** A `pdPutStore` naming a store key its caller's link did not prove (`keyUnproven`). */
  | 'forbiddenKeyUnproven';

/**
 * Whether `q` is a `pdPutStore` naming a store key that the link of `caller` did not prove
 * (`linkKey(caller)`: the key the link's handshake was signed with, undefined for none). PD binds
 * a store id to the first key it records for it, so a key is registered only by whoever holds
 * its private half: a join (store id 0, sent under a temporary id whose link signs with the
 * joining store's key pair) and a store recording its own key alike. Without the check, a
 * member with the secret could join, or register a keyless id, under a key it does not hold.
 */
export function keyUnproven(caller: number, q: StoreRequest, linkKey: (storeId: number) => Uint8Array | undefined): boolean {
  if (q.type !== 'pdPutStore' || q.publicKey === undefined) return false;
  const proven = linkKey(caller);
  return proven === undefined || !publicKeysEqual(proven, q.publicKey);
}

/**
 * Whether `callerStoreId` may send `q` (`operator`: it came in a verified operator envelope;
 * `provisional`: the caller's link was admitted before its key was confirmed; `dataKeyUnproven`:
 * this store serves data to provers only and the caller has not proven the data key); the
 * refusal's reason if not.
 */
export function authorizeRequest(callerStoreId: number, q: StoreRequest, operator: boolean, provisional = false, dataKeyUnproven = false): ForbiddenReason | undefined {
  if (dataKeyUnproven && needsDataKey(q.type)) return 'forbiddenDataKeyUnproven';
  if (dataKeyUnproven && registersFullStore(q)) return 'forbiddenFullStoreUnproven';
  if (operator) return undefined;
  const auth = STORE_REQUEST_CODECS[q.type].auth;
  if (provisional && !auth.provisional) return 'forbiddenProvisional';
  switch (auth.class) {
    case 'data':
      return undefined;
    case 'admin':
      return 'forbiddenAdmin';
    case 'self':
      return selfReportRefusal(callerStoreId, q);
  }
}

function selfReportRefusal(caller: number, q: StoreRequest): ForbiddenReason | undefined {
  const temp = isTempStoreId(caller);
  switch (q.type) {
    case 'pdPutStore':
      if (q.storeId === 0) return undefined; // a join: PD picks the id
      return temp ? 'forbiddenNotStore' : q.storeId === caller ? undefined : 'forbiddenOtherStore';
    case 'pdStoreHeartbeat':
      return temp ? 'forbiddenNotStore' : q.stats.storeId === caller ? undefined : 'forbiddenOtherStore';
    case 'pdRegionHeartbeat':
      return temp ? 'forbiddenNotStore' : q.heartbeat.leader.storeId === caller ? undefined : 'forbiddenOtherStore';
    default:
      return undefined;
  }
}

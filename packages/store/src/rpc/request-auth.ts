/**
 * Who may send a request type over RPC, as it is written in that type's entry of the request
 * table (`STORE_REQUEST_CODECS`, `request-codec.ts`): its class and whether a provisionally
 * admitted caller may send it. `authorize.ts` applies them; the values here are every
 * combination the store uses, named for what the request does.
 */

/** What a request type is (`authorize.ts`'s module header says who may send each class). */
export type RequestClass = 'data' | 'self' | 'admin';

/** Who may send a request type. */
export interface RequestAuth {
  readonly class: RequestClass;
  /**
   * Whether a caller whose link was admitted provisionally (its key not confirmed yet) may send
   * it: only requests that change nothing here or in PD, and a store's own key registration.
   */
  readonly provisional: boolean;
  /**
   * Whether it reads or writes user data (`authorize.ts` `needsDataKey`): a store that serves
   * data to provers only (`StoreOptions.dataProofKey`) answers it only to a caller that proved
   * the data key, so a witness credential never reaches it. Routing, ids, timestamps, GC and
   * status carry none.
   */
  readonly userData: boolean;
}

/** Reads of user data that change nothing: any member, a provisionally admitted one too. */
export const AUTH_READ: RequestAuth = { class: 'data', provisional: true, userData: true };

/** Reads without user data (status, PD's routes, stores, GC safe point, schedule): as `AUTH_READ`, and a witness may send them. */
export const AUTH_READ_META: RequestAuth = { class: 'data', provisional: true, userData: false };

/** Requests that change user data or locks: any member whose key is confirmed. */
export const AUTH_CHANGE: RequestAuth = { class: 'data', provisional: false, userData: true };

/** Requests that change PD's state without user data (ids, timestamps, GC registrations): as `AUTH_CHANGE`, and a witness may send them. */
export const AUTH_CHANGE_META: RequestAuth = { class: 'data', provisional: false, userData: false };

/** A store's own reports to PD (heartbeats), for the caller's own store id only. */
export const AUTH_SELF: RequestAuth = { class: 'self', provisional: false, userData: false };

/**
 * A store's registration with PD (`pdPutStore`) for its own id or a join: a provisional caller
 * may send it, since PD records a key only for an id that has none.
 */
export const AUTH_JOIN: RequestAuth = { class: 'self', provisional: true, userData: false };

/** Membership, splits, leader moves, drains: only in an envelope signed with the operator key. */
export const AUTH_ADMIN: RequestAuth = { class: 'admin', provisional: false, userData: false };

/**
 * A data-key rotation (`rotateDataKey`): an admin request, and one that needs the data key on
 * top of the operator signature: a store that serves data to provers only refuses it to a
 * caller that has not proven the data key (a witness credential's holder never rotates).
 */
export const AUTH_ADMIN_DATA_KEY: RequestAuth = { class: 'admin', provisional: false, userData: true };

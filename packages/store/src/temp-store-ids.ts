/**
 * The reserved range of temporary transport identities: a joining store before PD gives it an
 * id, and every client that is not a store (`PeerKV.connect`, the `peerkv` CLI). PD allocates
 * ids upwards from the bootstrap ids and never reaches it, so an id in it is never a store
 * PD knows: the RPC server serves such a caller as a client (`rpc/authorize.ts`), and a store
 * takes no Raft message from one.
 */

/** First id of the range reserved for temporary transport identities (joining stores, clients). */
export const TEMP_STORE_ID_MIN = 2 ** 48;
/** End (exclusive) of the reserved temporary id range. */
export const TEMP_STORE_ID_MAX = 2 ** 49;
/**
 * First temporary id of joining witness stores (the top 2^32 ids of the range); every other
 * temporary id is drawn below it, so a store probing before it bootstraps never takes a
 * joining witness for a smaller prober (and waits for a witness that never bootstraps).
 */
export const WITNESS_TEMP_STORE_ID_MIN = TEMP_STORE_ID_MAX - 2 ** 32;

/** Whether `id` is a temporary transport identity (never a store PD knows). */
export function isTempStoreId(id: number): boolean {
  return id >= TEMP_STORE_ID_MIN && id < TEMP_STORE_ID_MAX;
}

/** A random id in the temporary range below the witnesses' (`randomBytes` defaults to `crypto.getRandomValues`). */
export function randomTempStoreId(randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): number {
  return TEMP_STORE_ID_MIN + (randomUint48(randomBytes) % (WITNESS_TEMP_STORE_ID_MIN - TEMP_STORE_ID_MIN));
}

/** A random temporary id of a joining witness store: above every `randomTempStoreId`. */
export function randomWitnessTempStoreId(randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): number {
  return WITNESS_TEMP_STORE_ID_MIN + (randomUint48(randomBytes) % (TEMP_STORE_ID_MAX - WITNESS_TEMP_STORE_ID_MIN));
}

function randomUint48(randomBytes: (n: number) => Uint8Array): number {
  const b = randomBytes(6);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

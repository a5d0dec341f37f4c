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

/** Whether `id` is a temporary transport identity (never a store PD knows). */
export function isTempStoreId(id: number): boolean {
  return id >= TEMP_STORE_ID_MIN && id < TEMP_STORE_ID_MAX;
}

/** A random id in the temporary range (`randomBytes` defaults to `crypto.getRandomValues`). */
export function randomTempStoreId(randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): number {
  const b = randomBytes(6);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return TEMP_STORE_ID_MIN + (v % (TEMP_STORE_ID_MAX - TEMP_STORE_ID_MIN));
}

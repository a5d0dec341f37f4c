/**
 * Named bounds on everything the shared codecs decode, in their units. A reader refuses
 * input past these with `DecodeError('LimitExceeded')` before allocating anything. Writers do
 * not check them: bytes past a limit are refused by every reader alike, so all replicas of a
 * state machine agree on the refusal.
 */

/** Bytes of a key: a region boundary, an op's key, a lock's primary. */
export const KEY_BYTES_MAX = 64 * 1024;
/** Bytes of a value in one op. */
export const VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** Ops in one write. */
export const OPS_MAX = 4096;
/** Peers in one region, conf change context or heartbeat peer id list. */
export const PEERS_MAX = 64;
/** Regions in one list (an `EpochNotMatch`, a status answer). */
export const REGIONS_MAX = 65_536;
/** Labels one store may carry. */
export const LABELS_MAX = 16;
/** Bytes of one label key or value. */
export const LABEL_BYTES_MAX = 256;
/** Bytes of a store address (transport-specific, e.g. a WebRTC peer name). */
export const ADDRESS_BYTES_MAX = 1024;
/** Bytes of a store's identity public key: a raw uncompressed ECDSA P-256 point (`@peerkv/transport` `store-key.ts`). */
export const STORE_PUBLIC_KEY_BYTES = 65;
/** Bytes of a reason or description in an error (written clipped to this). */
export const REASON_BYTES_MAX = 1024;
/** UTF-16 code units of a column family name (at least 1). */
export const CF_NAME_LENGTH_MAX = 64;
/** Damaged regions one store heartbeat reports (the rest wait for the next). */
export const DAMAGED_REGIONS_MAX = 64;
/** UTF-8 bytes of a column family name: 3 per UTF-16 code unit at most. */
export const CF_NAME_BYTES_MAX = 3 * CF_NAME_LENGTH_MAX;

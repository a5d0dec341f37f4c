/**
 * Named bounds on everything PD decodes or hands out. Decoders refuse input past these
 * limits with a typed error instead of allocating whatever a corrupt length says.
 */

// The decode bounds of the shared types are @peerkv/proto's (the codec checks them); PD
// re-exports them under its own names.
export { ADDRESS_BYTES_MAX, KEY_BYTES_MAX, LABEL_BYTES_MAX, LABELS_MAX as LABELS_PER_STORE_MAX, PEERS_MAX as PEER_LIST_MAX } from '@peerkv/proto';
/** Most peers PD places in one region or the PD group (`maxReplicas` is at most half); the codec reads up to proto's `PEERS_MAX`. */
export const PEERS_PER_REGION_MAX = 32;
/** Most ids one `allocIds` command may reserve. */
export const ID_BATCH_MAX = 100_000;
/** Most regions or stores a snapshot may hold (a sanity bound for the decoder). */
export const SNAPSHOT_ITEMS_MAX = 1_000_000;
/** Most regions one `scanRegions` call returns. */
export const SCAN_REGIONS_LIMIT_MAX = 10_000;

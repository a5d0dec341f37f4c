/**
 * Named bounds on everything PD decodes or hands out. Decoders refuse input past these
 * limits with a typed error instead of allocating whatever a corrupt length says.
 */

/** Longest region boundary key PD accepts, in bytes. */
export const KEY_BYTES_MAX = 64 * 1024;
/** Most peers one region (or the PD group) may list. */
export const PEERS_PER_REGION_MAX = 32;
/** Most labels one store may carry. */
export const LABELS_PER_STORE_MAX = 16;
/** Longest label key or value, in bytes. */
export const LABEL_BYTES_MAX = 256;
/** Longest store address, in bytes. */
export const ADDRESS_BYTES_MAX = 1024;
/** Most ids one `allocIds` command may reserve. */
export const ID_BATCH_MAX = 100_000;
/** Most regions or stores a snapshot may hold (a sanity bound for the decoder). */
export const SNAPSHOT_ITEMS_MAX = 1_000_000;
/** Most peer ids a heartbeat's down/pending lists may hold. */
export const PEER_LIST_MAX = PEERS_PER_REGION_MAX;
/** Most regions one `scanRegions` call returns. */
export const SCAN_REGIONS_LIMIT_MAX = 10_000;

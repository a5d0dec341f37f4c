/**
 * Named bounds of the transaction records and actions, in their units. Readers refuse
 * records past them with `DecodeError('LimitExceeded')`.
 */

/**
 * A value of at most this many bytes is kept inline in its lock or write record (TiKV's
 * `SHORT_VALUE_MAX_LEN`), saving the `default` column family read; longer values go to
 * `default` at `key@startTs`.
 */
export const SHORT_VALUE_BYTES_MAX = 255;
/** Secondary keys an async-commit primary lock may list (bounds the record and the client's check). */
export const SECONDARIES_MAX = 4096;
/** Mutations one prewrite (or 1PC) may carry: proto's `OPS_MAX` is the bound on the ops it returns. */
export const MUTATIONS_MAX = 1024;
/** The longest lock TTL a lock record may carry (TiKV's `max_ttl` is 120 s; one hour is generous). */
export const LOCK_TTL_MS_MAX = 60 * 60 * 1000;
/** Versions of one key a `gc` call drops at most; the caller calls again for the rest. */
export const GC_VERSIONS_PER_CALL_MAX = 1024;

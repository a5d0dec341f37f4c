/**
 * `Unsubscribe`, the handle every `on...` registration returns. A leaf module of its own so
 * that `rpc.ts` and `types.ts` can both use it without importing each other.
 */

/** Removes a handler. */
export type Unsubscribe = () => void;

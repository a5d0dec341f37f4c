/**
 * `sorted-btree` import shim. The package is CommonJS with `exports.default`; Node's ESM
 * loader hands back the whole `module.exports`, bundlers hand back `default`.
 */
import BTreeModule from 'sorted-btree';

type BTreeClass = typeof BTreeModule;

/** The `BTree` class, whichever way the module was loaded. */
export const BTree: BTreeClass =
  ((BTreeModule as unknown as { default?: BTreeClass }).default ?? BTreeModule) as BTreeClass;

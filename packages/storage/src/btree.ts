/**
 * `sorted-btree` import shim. The package is CommonJS with `exports.default`; Node's ESM
 * loader hands back the whole `module.exports`, bundlers hand back `default`.
 */
import BTreeModule from 'sorted-btree';

/**
 * The class's type, named through the CommonJS view of the module (`exports.default`), which
 * is the class under every `moduleResolution` a consumer of the `.d.ts` may use (`nodenext`
 * reads the default import of a CommonJS module as the whole `module.exports`).
 */
type BTreeClass = (typeof import('sorted-btree', { with: { 'resolution-mode': 'require' } }))['default'];

/** The `BTree` class, whichever way the module was loaded. */
export const BTree: BTreeClass =
  ((BTreeModule as unknown as { default?: BTreeClass }).default ?? BTreeModule) as BTreeClass;

/** @peerkv/pd: the placement driver and the cluster metadata it owns. */
export * from './meta.ts';

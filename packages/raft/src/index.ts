/**
 * @peerkv/raft: a pure Raft state machine. No timers, clocks, randomness, storage or network:
 * ticks and a seeded PRNG are inputs; I/O leaves as `Ready`.
 */
export * from './types.ts';
export * from './errors.ts';
export * from './storage.ts';
export * from './config.ts';
export * from './ready.ts';
export * from './rng.ts';

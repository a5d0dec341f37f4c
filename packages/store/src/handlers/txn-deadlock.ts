/**
 * `txnDetectDeadlock`: the deadlock detector's service (TiKV's `Detector` on the leader of the
 * first region). Ours runs on the leader of PD's region (`PD_REGION_ID`): a fixed region every
 * store already reaches through its `PdClient`, in one process (`LocalPdClient`) and over the
 * network (`RemotePdClient`'s `PdCaller`, which follows `NotLeader` hints), so detection needs
 * no routing of its own. Any other store answers `NotLeader` (or `RegionNotFound` without a
 * PD replica) for PD's region.
 *
 * The graph (`txn/deadlock-detector.ts`) is soft state, kept per (store, PD term): a store that
 * wins PD's leadership again starts empty, and waits whose edges were lost only time out.
 */
import { PD_REGION_ID } from '../pd-host.ts';
import { StoreRequestError } from '../request-types.ts';
import type { StoreContext } from '../context.ts';
import { checkKey, checkTs, checkUint } from '../txn/check.ts';
import { DEADLOCK_EDGE_TTL_MS_MAX, WaitForGraph } from '../txn/deadlock-detector.ts';
import type { Handler } from './handler.ts';

const U64_MAX = (1n << 64n) - 1n;
const DEADLOCK_REQUEST_KINDS: readonly unknown[] = ['detect', 'cleanUpWaitFor', 'cleanUp'];

// Beside the store's context: a store that never leads PD never builds a graph.
const GRAPHS = new WeakMap<StoreContext, { term: number; graph: WaitForGraph }>();

/** The detector's graph on this store for PD's `term` (a new term starts empty). */
function graphOf(ctx: StoreContext, term: number): WaitForGraph {
  let g = GRAPHS.get(ctx);
  if (g === undefined || g.term !== term) {
    g = { term, graph: new WaitForGraph() };
    GRAPHS.set(ctx, g);
  }
  return g.graph;
}

/** Detects (or cleans up) wait-for edges on this store's detector, if its PD replica leads. */
export const handleTxnDetectDeadlock: Handler<'txnDetectDeadlock'> = async (env, q) => {
  env.ctx.assertOpen();
  const waiterTs = checkTs('txnDetectDeadlock.waiterTs', q.waiterTs);
  const holderTs = checkTs('txnDetectDeadlock.holderTs', q.holderTs);
  const key = checkKey('txnDetectDeadlock.key', q.key);
  const ttlMs = checkUint('txnDetectDeadlock.ttlMs', q.ttlMs, DEADLOCK_EDGE_TTL_MS_MAX);
  if (typeof q.keyHash !== 'bigint' || q.keyHash < 0n || q.keyHash > U64_MAX) throw new StoreRequestError('BadField', 'txnDetectDeadlock.keyHash: want a u64 bigint');
  if (!DEADLOCK_REQUEST_KINDS.includes(q.kind)) throw new StoreRequestError('BadField', `txnDetectDeadlock.kind: ${String(q.kind)}`);
  const peer = env.ctx.peers.get(PD_REGION_ID);
  if (peer === undefined || peer.destroyed) return { ok: false, error: { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
  if (!env.pd.pdIsLeader()) return { ok: false, error: peer.notLeader() };
  return { ok: true, value: graphOf(env.ctx, peer.raw.status().term).answer({ ...q, key, waiterTs, holderTs, ttlMs }, env.ctx.timers.now()) };
};

/**
 * The directed steps of `--txn`: a few deterministic steps at fixed virtual times of every seed,
 * beside the random lanes (`txn-workload.ts`), so that two paths the random picks reached only by
 * luck are reached in every seed (sim --txn seed 3 handed no lock to a client once unrelated
 * changes moved its schedule; `--mutation queuedIgnoresReadTs` was caught by 4 of seeds 1..6):
 *
 * - **an abandoned transaction across stores**: a 2PC transaction writing two keys of its own in
 *   two regions PD says different stores lead (the smaller key, its primary, in one; the other in
 *   the other), whose client is gone once both prewrites are in (`abandon` of `txn-net.ts`: its
 *   commit, heartbeats and rollbacks never leave the client). Its short-TTL locks expire; no reader
 *   meets them (no other transaction touches the keys), so the store leading the secondary's
 *   region finds the lock expired (resolved-ts run, GC round), cannot resolve it alone (the
 *   primary's region is led elsewhere) and hands it to the client lock resolver
 *   (`StoreLockResolution.locksHanded`). Recorded as `fail`: no commit of it ever reached a store,
 *   and a 2PC transaction commits only by the commit of its primary, so a read that sees one of its
 *   writes (the final read reads both keys) is an aborted read (G1a);
 * - **a queued transaction overtaken**: it reads a key of its own at a fresh read ts r (the queued
 *   path, `queuedTxn`), then another client's transaction reads and writes that key (committed
 *   above r), then the queued transaction commits with readTs r. The store must refuse it
 *   (`WriteConflict`, recorded `fail`); a store that ignores readTs commits it, and the SI checker
 *   finds the lost update (`--mutation queuedIgnoresReadTs`).
 *
 * A step that cannot be taken (no two regions led by different stores, PD unreachable) is skipped
 * and counted; a later round tries again.
 */
import { SeededRng } from '@peerkv/raft';
import { PeerKVError } from 'peerkv';
import type { ClusterEnv } from './cluster-env.ts';
import type { Attempt } from './txn-history.ts';
import type { TxnFaultPlan } from './txn-net.ts';
import { ACCOUNT_PREFIX, bytes, decodeRegister, keyOf, put, queuedTxn, uniq, type Body, type Lane, type TxnWorkload } from './txn-workload.ts';

/** Rounds of directed steps per seed (each an abandoned transaction, then an overtaken queued one). */
export const DIRECTED_ROUNDS = 3;
/** When the first round starts, virtual ms after the workload began. */
const DIRECTED_FIRST_MS = 400;
/** Between the starts of two rounds, virtual ms. */
const DIRECTED_INTERVAL_MS = 1_800;
/** Lock TTL of an abandoned transaction, ms (short, so its locks expire within the workload). */
const ABANDONED_LOCK_TTL_MS = 150;
/** Re-runs of the overtaking transaction after a conflict. */
const OVERTAKE_RETRIES_MAX = 3;
/** Sorts below every digit and letter: `start + KEY_SUFFIX_MARK` lies just after a region's start key. */
const KEY_SUFFIX_MARK = '!';
/** A key between the accounts and the lists (a key with the accounts' prefix would show in the bank's scans). */
const ACCOUNTS_GAP_KEY = 'b';

/** Runs `DIRECTED_ROUNDS` rounds, the first `DIRECTED_FIRST_MS` after now, until `untilMs`. */
export async function directedSteps(w: TxnWorkload, untilMs: number): Promise<void> {
  const startMs = w.env.sched.now();
  const lane: Lane = { w, kv: w.clients[0], rng: new SeededRng(w.env.o.seed ^ 0x6469_7263), process: w.rec.newProcess(), name: 'directed' };
  for (let round = 0; round < DIRECTED_ROUNDS; round++) {
    const atMs = startMs + DIRECTED_FIRST_MS + round * DIRECTED_INTERVAL_MS;
    if (atMs >= untilMs) break;
    await w.env.sched.sleep(Math.max(0, atMs - w.env.sched.now()));
    await abandonAcrossStores(w, round);
    await overtakenQueued(lane, round);
  }
}

/**
 * Two keys of round `round` in regions PD says different stores lead, smaller first (the
 * primary); undefined when every region it knows is led by one store (or by none it knows).
 * A candidate lies just after a region's start key (or between the accounts and the lists).
 */
async function keysAcrossLeaders(env: ClusterEnv, round: number): Promise<[string, string] | undefined> {
  const dec = new TextDecoder();
  const starts = env.pd.regions().map((r) => dec.decode(r.startKey)).filter((s) => !s.startsWith(ACCOUNT_PREFIX));
  const candidates = [...new Set([...starts, ACCOUNTS_GAP_KEY])].map((s) => `${s}${KEY_SUFFIX_MARK}x${round}`).sort();
  const led: { key: string; regionId: number; storeId: number }[] = [];
  for (const key of candidates) {
    const route = await env.pd.getRegion(bytes(key));
    if (route?.leader === undefined || led.some((c) => c.regionId === route.region.id)) continue;
    led.push({ key, regionId: route.region.id, storeId: route.leader.storeId });
  }
  for (let i = 0; i < led.length; i++) {
    const other = led.slice(i + 1).find((c) => c.storeId !== led[i].storeId);
    if (other !== undefined) return [led[i].key, other.key];
  }
  return undefined;
}

/** The abandoned transaction of round `round` (see the module comment). */
async function abandonAcrossStores(w: TxnWorkload, round: number): Promise<void> {
  const keys = await keysAcrossLeaders(w.env, round);
  if (keys === undefined) {
    w.stats.directedSkipped++;
    w.env.note(`directed round ${round}: no two regions led by different stores, no abandoned transaction`);
    return;
  }
  w.directedKeys.push(...keys);
  const stats = w.stats;
  const ctrl = new AbortController();
  const plan: Extract<TxnFaultPlan, { kind: 'abandon' }> = { kind: 'abandon', abort: () => ctrl.abort() };
  const invokeAt = w.rec.tick();
  let a: Attempt | undefined;
  try {
    await w.clients[0].transactionWithInfo(
      async (tx) => {
        // The plan stays in place after the call: a rollback sent later must not leave the client either.
        w.plans.set(tx.startTs, plan);
        a = w.rec.begin(w.rec.newProcess(), invokeAt, `directed abandoned across stores (primary ${keys[0]}, secondary ${keys[1]}) ttl=${ABANDONED_LOCK_TTL_MS}`, tx.startTs);
        for (const k of keys) {
          const v = uniq(w);
          a.mops.push(['w', k, v]);
          tx.put(bytes(k), bytes(String(v)));
        }
      },
      { signal: ctrl.signal, onePc: false, asyncCommit: false, retriesMax: 0, lockTtlMs: ABANDONED_LOCK_TTL_MS },
    );
    // Its commit never left the client: a call that returns is a harness bug, recorded as unknown.
    if (a !== undefined) w.rec.finish(a, 'info');
  } catch (e) {
    // Nothing of it was ever committed (the module comment says why).
    if (a !== undefined) {
      a.label += ` [${e instanceof PeerKVError ? e.kind : 'error'}${plan.gone ? ', gone after its prewrites' : ''}]`;
      w.rec.finish(a, 'fail');
    }
  }
  if (plan.gone === true) stats.directedAbandoned++;
  else {
    stats.directedSkipped++;
    w.env.note(`directed round ${round}: the abandoned transaction ended before its commit: ${a?.label ?? 'no attempt'}`);
  }
}

/** The overtaken queued transaction of round `round` (see the module comment). */
async function overtakenQueued(l: Lane, round: number): Promise<void> {
  const w = l.w;
  const stats = w.stats;
  const k = keyOf('q', round);
  let readTs: bigint;
  try {
    readTs = await l.kv.getTimestamp();
  } catch {
    stats.directedSkipped++;
    return;
  }
  w.directedKeys.push(k);
  const body: Body = async (tx, a, buf) => {
    a.mops.push(['r', k, decodeRegister(await tx.get(bytes(k)))]);
    const v = uniq(w);
    a.mops.push(['w', k, v]);
    put(tx, buf, k, bytes(String(v)));
  };
  let overtaken = false;
  const commitError = await queuedTxn(l, {
    label: `directed queued (read at a fresh ts, overtaken on ${k} before its commit with readTs)`,
    staleness: { readTs },
    body,
    beforeCommit: async () => {
      overtaken = await overtake(w, k);
    },
  });
  if (overtaken) stats.directedOvertaken++;
  if (commitError === 'WriteConflict') stats.directedQueuedRefused++;
}

/** Another client reads and writes `k`, recorded attempt by attempt; true once it committed. */
async function overtake(w: TxnWorkload, k: string): Promise<boolean> {
  const process = w.rec.newProcess();
  const invokeAt = w.rec.tick();
  let a: Attempt | undefined;
  try {
    const r = await w.clients[1].transactionWithInfo(
      async (tx) => {
        if (a !== undefined) w.rec.finish(a, 'fail'); // the previous run conflicted: nothing of it committed
        a = w.rec.begin(process, invokeAt, `directed overtaking write of ${k}`, tx.startTs);
        a.mops.push(['r', k, decodeRegister(await tx.get(bytes(k)))]);
        const v = uniq(w);
        a.mops.push(['w', k, v]);
        tx.put(bytes(k), bytes(String(v)));
      },
      { retriesMax: OVERTAKE_RETRIES_MAX },
    );
    if (a !== undefined) w.rec.finish(a, 'ok', r.info.commitTs);
    return true;
  } catch (e) {
    const kind = e instanceof PeerKVError ? e.kind : undefined;
    if (a !== undefined) w.rec.finish(a, kind === undefined || kind === 'Undetermined' || kind === 'Aborted' ? 'info' : 'fail');
    return false;
  }
}

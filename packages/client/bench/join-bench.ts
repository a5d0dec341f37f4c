/**
 * `npm run bench:join` (issue 16, "a new store joins in about one signaling round plus one
 * snapshot"): how long a store joining a cluster takes, in one Node process, before it holds
 * its first replica. Each of `BENCH_JOIN_ROUNDS` rounds builds a fresh `PdCluster` on the memory
 * engine with the store's default timing (100 ms ticks, a PD heartbeat every 10 ticks): one
 * store bootstraps it and takes `BENCH_JOIN_KEYS` writes, then a second store joins (`join`,
 * from PD's `putStore` on) and the clock runs until that store holds an initialized data
 * replica (`first_replica_ms`: its snapshot applied) and until that replica is a voter
 * (`voter_ms`), looked at every 20 ms (`until`). Prints
 *   bench:join first_replica_ms=<median> first_replica_ms_min=<> first_replica_ms_max=<> voter_ms=<median> rounds=<n>
 * With `BENCH_JOIN_BASE=<a worktree of another commit>` it runs this file in that tree first
 * (copying it there when absent), as `baseline`, then here, as `new`, in the same run.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryEngine } from '@peerkv/storage';
import { PD_REGION_ID } from '@peerkv/store';
import { PdCluster, PeerKV } from '../src/index.ts';
import { median, until } from './bench-util.ts';

/** Upper bounds of the settings, so a typo does not run for an hour. */
const ROUNDS_MAX = 50;
const KEYS_MAX = 10_000;

/** The integer setting `name` from the environment (`fallback` when unset), refused outside 1..`max`. */
function setting(name: string, fallback: number, max: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (Number.isSafeInteger(v) && v >= 1 && v <= max) return v;
  throw new Error(`bench:join: ${name} must be 1..${max}`);
}

const ROUNDS = setting('BENCH_JOIN_ROUNDS', 7, ROUNDS_MAX);
const KEYS = setting('BENCH_JOIN_KEYS', 200, KEYS_MAX);
const BASE = process.env.BENCH_JOIN_BASE;
/** The longest a join may take before the round fails, ms. */
const JOIN_TIMEOUT_MS = 30_000;

const enc = new TextEncoder();
const log = (s: string): void => void process.stderr.write(`bench:join: ${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One round: ms from the join's start until the new store holds an initialized data replica, and until it is a voter. */
async function oneJoin(round: number): Promise<{ firstMs: number; voterMs: number }> {
  const c = new PdCluster({ clusterId: `bench-join-${round}`, openEngine: async (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }) });
  const kv = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
  try {
    await c.bootstrap('a');
    for (let i = 0; i < KEYS; i++) await kv.put(enc.encode(`join/${String(i).padStart(5, '0')}`), enc.encode(`v${i}`));
    const t0 = performance.now();
    const store = await c.join('b');
    const dataReplicas = () => store.status().regions.filter((r) => r.regionId !== PD_REGION_ID && r.peers.length > 0 && r.applyingSnapshot !== true && r.applied > 0);
    let firstMs = NaN;
    await until('a data replica on the joining store', () => {
      if (dataReplicas().length === 0) return false;
      firstMs = performance.now() - t0;
      return true;
    }, JOIN_TIMEOUT_MS);
    let voterMs = NaN;
    await until('a voter on the joining store', () => {
      if (!dataReplicas().some((r) => r.peers.some((p) => p.id === r.peerId && p.role === 'voter'))) return false;
      voterMs = performance.now() - t0;
      return true;
    }, JOIN_TIMEOUT_MS);
    return { firstMs, voterMs };
  } finally {
    await kv.close();
    await c.close();
  }
}

function range(xs: number[]): string {
  return `${Math.round(median(xs))} [${Math.round(Math.min(...xs))}..${Math.round(Math.max(...xs))}]`;
}

/** Runs this file in the worktree `base` (another commit's code), its output passed through with `label`. */
function runIn(base: string, label: string): void {
  const here = fileURLToPath(import.meta.url);
  const root = resolve(here, '../../../..');
  const there = join(base, relative(root, here));
  if (!existsSync(there)) copyFileSync(here, there);
  const r = spawnSync(process.execPath, ['--import', 'tsx', there], { cwd: base, env: { ...process.env, BENCH_JOIN_BASE: '', BENCH_JOIN_LABEL: label }, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`bench:join: the run in ${base} failed (${r.status})`);
}

async function main(): Promise<void> {
  if (BASE) runIn(BASE, 'baseline');
  const label = process.env.BENCH_JOIN_LABEL || (BASE ? 'new' : '');
  const first: number[] = [];
  const voter: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = await oneJoin(round);
    first.push(r.firstMs);
    voter.push(r.voterMs);
    log(`${label} round ${round + 1}: first replica ${Math.round(r.firstMs)} ms, voter ${Math.round(r.voterMs)} ms`);
    await sleep(50);
  }
  log(`${label} first_replica_ms ${range(first)}, voter_ms ${range(voter)}`);
  const tag = label ? ` run=${label}` : '';
  process.stdout.write(
    `bench:join${tag} first_replica_ms=${Math.round(median(first))} first_replica_ms_min=${Math.round(Math.min(...first))} first_replica_ms_max=${Math.round(Math.max(...first))} voter_ms=${Math.round(median(voter))} rounds=${ROUNDS}\n`,
  );
}

await main();

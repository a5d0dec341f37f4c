/**
 * The chaos nemesis: one fault at a time, chosen by a seeded PRNG, so a quorum (two of three
 * stores) usually exists. Its target is the store leading the data region half of the time
 * (faults there cost an election), a random store otherwise. A fault is either a crash (SIGKILL a random store, keep it down
 * a while, restart it from its data directory, give it a bounded time to catch up) or a
 * freeze (SIGSTOP a random store, keep it frozen a while, SIGCONT). Between faults the
 * cluster runs clean for a while. No fault starts after `endAtMs`; the one running then
 * is healed before `runNemesis` resolves.
 */
import type { SeededRng } from '@peerkv/raft';
import { STORE_NAMES, type ChaosStores, type StoreName } from './stores.ts';

/** Durations of the nemesis's steps, [min, max] ms. */
export interface NemesisTimings {
  quietMs: [number, number];
  downMs: [number, number];
  frozenMs: [number, number];
  /** Upper bound on waiting for a restarted store to catch up. */
  catchUpMsMax: number;
}

export const NEMESIS_TIMINGS: NemesisTimings = { quietMs: [500, 2500], downMs: [300, 2500], frozenMs: [1000, 4000], catchUpMsMax: 5000 };

/** What the nemesis did. */
export interface NemesisReport {
  kills: number;
  stops: number;
}

/** Hooks into the test: logging and "why has this restarted store not caught up?". */
export interface NemesisHooks {
  log: (line: string) => void;
  /** `undefined` once the store has caught up, else what it lacks. */
  lagging: (name: StoreName) => Promise<string | undefined>;
  /** The store leading the data region, if known. */
  dataLeader: () => Promise<StoreName | undefined>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function between(rng: SeededRng, [min, max]: [number, number]): number {
  return min + rng.nextInt(max - min + 1);
}

/** Runs faults until `endAtMs` (performance.now() ms). */
export async function runNemesis(stores: ChaosStores, rng: SeededRng, endAtMs: number, hooks: NemesisHooks, t: NemesisTimings = NEMESIS_TIMINGS): Promise<NemesisReport> {
  const report: NemesisReport = { kills: 0, stops: 0 };
  for (;;) {
    await sleep(between(rng, t.quietMs));
    // A store that exited on its own (a failure the test reports) is brought back first, so
    // the next fault is still the only one.
    for (const name of stores.crashed()) {
      hooks.log(`restarting ${name}, which exited on its own`);
      await stores.restart(name);
    }
    if (performance.now() >= endAtMs) return report;
    const random = STORE_NAMES[rng.nextInt(STORE_NAMES.length)];
    const leader = rng.chance(0.5) ? await hooks.dataLeader().catch(() => undefined) : undefined;
    const name = leader ?? random;
    const what = `${name} (store ${stores.storeId(name)}${leader ? ', data leader' : ''})`;
    if (rng.chance(0.5)) {
      await crash(stores, name, what, between(rng, t.downMs), t.catchUpMsMax, hooks);
      report.kills++;
    } else {
      await freeze(stores, name, what, between(rng, t.frozenMs), hooks);
      report.stops++;
    }
  }
}

async function crash(stores: ChaosStores, name: StoreName, what: string, downMs: number, catchUpMsMax: number, hooks: NemesisHooks): Promise<void> {
  hooks.log(`kill ${what} for ${downMs} ms`);
  await stores.kill(name);
  await sleep(downMs);
  await stores.restart(name);
  const deadline = performance.now() + catchUpMsMax;
  let lagging: string | undefined = 'not asked yet';
  while (lagging !== undefined && performance.now() < deadline) {
    lagging = await hooks.lagging(name).catch((e: unknown) => String(e));
    if (lagging !== undefined) await sleep(200);
  }
  hooks.log(`restarted ${name}${lagging === undefined ? ', caught up' : `, not caught up within ${catchUpMsMax} ms: ${lagging}`}`);
}

async function freeze(stores: ChaosStores, name: StoreName, what: string, frozenMs: number, hooks: NemesisHooks): Promise<void> {
  hooks.log(`stop ${what} for ${frozenMs} ms`);
  stores.stop(name);
  await sleep(frozenMs);
  stores.cont(name);
  hooks.log(`cont ${name}`);
}

/**
 * The seeded nemesis of cluster mode: while clients run, it crashes stores (no graceful step:
 * writes in flight are lost or land, power cuts lose unsynced writes) and restarts them from
 * their disks, restarts stores gracefully, wipes a store (it rejoins as a new store from an
 * empty disk), and cuts the network between groups of stores, healing each fault after a
 * while. PD meanwhile splits regions under load and rebuilds replicas of stores down too long.
 *
 * Fault budget: a wipe loses one replica's data for good, so it happens only when every
 * region has its full replica set on running stores and no other fault is active (one
 * permanent loss at a time, as Raft with 3 replicas tolerates); crashes and restarts keep
 * disks, so any number is safe, but at most `downStoresMax` stores are down at once. A wipe
 * picked at another moment waits for such a one (up to `WIPE_WAIT_MS`, one wipe waiting at a
 * time), so whether a run wipes does not hang on where its picks fall.
 */
import type { SeededRng } from '@peerkv/raft';
import { intBetween, pick, shuffled, weightedPick } from '../rng-utils.ts';
import type { ClusterEnv, Device } from './cluster-env.ts';
import { pollUntil } from './poll.ts';

/** How long a picked wipe waits for a moment it may happen, virtual ms. */
export const WIPE_WAIT_MS = 2_000;
/** How often a waiting wipe looks again, virtual ms. */
const WIPE_POLL_MS = 50;

/** Counts of injected faults (what crashes did to disks is in `ClusterEnv.crashStats`). */
export interface NemesisStats {
  /** Crash-restarts (the crash itself counted in `crashStats.crashes`, with wipes and retirement). */
  kills: number;
  /** Graceful restarts. */
  restarts: number;
  wipes: number;
  partitions: number;
  /** Leader transfers the nemesis asked for (graceful stops drain leaders too, not counted here). */
  leaderTransfers: number;
}


/** Runs faults until virtual time `untilMs`; every fault it started is healed when it returns. */
export async function nemesisLoop(env: ClusterEnv, rng: SeededRng, untilMs: number, isConverged: () => boolean, stats: NemesisStats): Promise<void> {
  const running: Promise<void>[] = [];
  const { faultGapMs, faultLengthMs } = env.o;
  let wipeWaiting = false;
  // No other fault active: every device up and idle (a crash aiming at a write keeps its device up, busy).
  const wipeMayGo = (): boolean => !env.isPartitioned() && env.devices.every((d) => d.up && !d.busy) && isConverged();
  for (;;) {
    await env.sched.sleep(intBetween(rng, faultGapMs[0], faultGapMs[1]));
    if (env.sched.now() >= untilMs) break;
    const kind = weightedPick(rng, env.o.faultWeights);
    const lengthMs = intBetween(rng, faultLengthMs[0], faultLengthMs[1]);
    const idle = env.devices.filter((d) => !d.busy);
    const up = idle.filter((d) => d.up);
    const down = env.devices.filter((d) => !d.up).length;
    if (kind === 'stop' && up.length > 0 && down < env.o.downStoresMax) {
      const d = pick(rng, up);
      if (rng.nextFloat() < env.o.gracefulRestartShare) {
        stats.restarts++;
        running.push(restartGracefully(env, d, lengthMs));
      } else {
        stats.kills++;
        running.push(crashAndRestart(env, d, rng, lengthMs));
      }
    } else if (kind === 'wipe' && !wipeWaiting) {
      wipeWaiting = true;
      const wipeRng = rng.fork();
      running.push(
        pollUntil(env, wipeMayGo, (may) => may, Math.min(env.sched.now() + WIPE_WAIT_MS, untilMs), WIPE_POLL_MS).then((may) => {
          wipeWaiting = false;
          if (!may) return;
          stats.wipes++;
          return wipeAndRejoin(env, pick(wipeRng, env.devices), wipeRng, lengthMs);
        }),
      );
    } else if (kind === 'transfer') {
      const d = pick(rng, env.devices);
      if (!d.busy && env.transferLeader(d, rng) !== undefined) stats.leaderTransfers++;
    } else if (kind === 'rotate' && env.dataProofMac) {
      // Sealing on (SIM_SEAL unset): a store's data key moves to the next id (data-key-rotation.ts).
      // Keys of earlier rotations retire first, where every store may drop them.
      // Some crash the rotated store while it saves the rotation or right after it answered.
      const rotateRng = rng.fork();
      const crashAt = rng.nextFloat() < env.o.rotateCrashShare && down < env.o.downStoresMax ? (rng.nextFloat() < 0.5 ? ('saving' as const) : ('answered' as const)) : undefined;
      const crash = crashAt && { at: crashAt, run: (d: Device) => crashAndRestart(env, d, rotateRng.fork(), lengthMs) };
      running.push(env.dataKeys.retire(env).then(() => env.dataKeys.rotate(env, rotateRng, crash)));
    } else if (kind === 'partition' && !env.isPartitioned() && env.devices.length > 1) {
      stats.partitions++;
      const side = shuffled(rng, env.devices).slice(0, intBetween(rng, 1, Math.floor(env.devices.length / 2)));
      env.partition(side);
      running.push(env.sched.sleep(lengthMs).then(() => env.heal()));
    }
  }
  await Promise.all(running);
}

async function crashAndRestart(env: ClusterEnv, d: Device, rng: SeededRng, downMs: number): Promise<void> {
  // Some crashed stores are back at once (a supervisor, a reloaded tab): messages meant for
  // the old incarnation may still be on their way.
  const quick = rng.nextFloat() < env.o.quickRestartShare;
  const [qMin, qMax] = env.o.quickRestartMs;
  await env.crash(d, rng);
  d.busy = true;
  await env.sched.sleep(quick ? intBetween(rng, qMin, qMax) : downMs);
  await env.start(d);
}

/** A graceful restart is short (an update, a reload): the store is back within a fifth of the fault length. */
async function restartGracefully(env: ClusterEnv, d: Device, downMs: number): Promise<void> {
  await env.stop(d);
  d.busy = true;
  await env.sched.sleep(Math.ceil(downMs / 5));
  await env.start(d);
}

async function wipeAndRejoin(env: ClusterEnv, d: Device, rng: SeededRng, downMs: number): Promise<void> {
  await env.wipe(d, rng);
  d.busy = true;
  await env.sched.sleep(downMs);
  await env.start(d);
}

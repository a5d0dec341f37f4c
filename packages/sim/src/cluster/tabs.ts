/**
 * Simulated browser tabs writing through hosts, as the browser runtime does: a tab stamps
 * each write with (its tab id, its own seq) and, when a host does not answer in time, sends
 * the same stamp again through another client (a new host tab), while the first may still
 * be retrying. The stores must apply the write once. Each send carries the tab's ack floor
 * (every seq below it is finished for the tab), so stores may forget those records; a late
 * retry of a finished seq must then be refused, never applied again.
 */
import type { SeededRng } from '@peerkv/raft';
import type { PeerKV } from 'peerkv';
import { shuffled } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';

/** Virtual time a tab waits for a host's answer before sending the write again through another, ms. */
export const TAB_RESEND_MS = 600;
/** Sends of one stamped write at most (the first and its resends). */
export const TAB_SENDS_MAX = 3;

/** One tab: its stamp identity and its writes not yet finished. */
export interface Tab {
  id: string;
  seq: number;
  unfinished: Set<number>;
}

/** The tabs of a run (two, so their stamped writes interleave). */
export function makeTabs(seed: number, count = 2): Tab[] {
  return Array.from({ length: count }, (_, i) => ({ id: `tab-${seed}-${i}`, seq: 0, unfinished: new Set<number>() }));
}

/**
 * What a stamped put needs of the workload (`Workload` has all of it): the clients that act as
 * hosts, the resend counter, and the run's scheduler and notes. Named here rather than
 * imported so that `workload.ts` can use this module without a cycle.
 */
export interface TabHosts {
  clients: readonly PeerKV[];
  stats: { stampedResends: number };
  env: Pick<ClusterEnv, 'note' | 'sched'>;
}

/** Every seq below this is finished for `tab`. */
function ackFloor(tab: Tab): number {
  let min = tab.seq + 1;
  for (const s of tab.unfinished) if (s < min) min = s;
  return min;
}

/**
 * A stamped put of `tab` through the workload's clients (a seeded order of hosts): true once
 * any send succeeds (the others are aborted), false when every send failed (the outcome is
 * then unknown).
 */
export function stampedPut(w: TabHosts, tab: Tab, rng: SeededRng, key: Uint8Array, value: Uint8Array, opId: number): Promise<boolean> {
  const seq = ++tab.seq;
  tab.unfinished.add(seq);
  const hosts = shuffled(rng, w.clients.map((_, i) => i));
  const aborts: AbortController[] = [];
  let sends = 0;
  let running = 0;
  let settled = false;
  return new Promise<boolean>((resolve) => {
    const finish = (ok: boolean): void => {
      settled = true;
      for (const a of aborts) a.abort();
      tab.unfinished.delete(seq);
      resolve(ok);
    };
    const send = (): void => {
      const host = hosts[sends % hosts.length];
      if (sends > 0) {
        w.stats.stampedResends++;
        w.env.note(`tab ${tab.id} resends seq ${seq} (op #${opId}) through c${host}`);
      }
      sends++;
      running++;
      const abort = new AbortController();
      aborts.push(abort);
      const mine = sends;
      w.clients[host].put(key, value, { stamp: { clientId: tab.id, seq, ackFloor: ackFloor(tab) }, signal: abort.signal }).then(
        () => {
          running--;
          if (!settled) finish(true);
        },
        () => {
          running--;
          if (settled) return;
          if (sends < TAB_SENDS_MAX) send();
          else if (running === 0) finish(false);
        },
      );
      // No answer in time: the host may be gone; try the next one (the first keeps going).
      w.env.sched.setTimeout(() => {
        if (!settled && sends === mine && sends < TAB_SENDS_MAX) send();
      }, TAB_RESEND_MS);
    };
    send();
  });
}

/**
 * Simulated browser tabs calling through host tabs, over the browser runtime's own serving
 * path. A tab sends each call as the `TabRequest` an attached tab posts on the tab channel
 * (`{ kind: 'kv', request }`, crossing as a structured clone, the protocol's codec): gets,
 * scans, and writes (put, delete, batch put, batch delete, range delete) numbered with the
 * runtime's `StampWindow` (`{ type: 'batchPut', pairs, stamp }`). A host
 * (`SimTabHost`: one of the workload's clients) serves it as `NetHost` and `EmbeddedCluster`
 * do: the `RequestLedger` checks it (`checkTabRequest`) and `serveTab` routes it to
 * `serveClient`, whose reply crosses back as a clone and is unwrapped as the tab does
 * (`unwrapReply`). So a bug in that path (`TabServeTestMutations`) shows in the sim's checks.
 *
 * When a host does not answer in time, answers an error, or dies holding the request, the tab
 * sends it again (a write with the same stamp) through another host, while the first keeps
 * serving it (a host that left may have proposed the write already). The
 * stores must apply the write once. Each send carries the tab's ack floor (every seq below it is
 * finished for the tab), so stores may forget those records; a late retry of a finished seq
 * must then be refused, never applied again.
 */
import type { SeededRng } from '@peerkv/raft';
import { CLIENT_WRITE_WINDOW_SEQS } from '@peerkv/store';
import type { Clock, ClientOptions, PeerKV } from 'peerkv';
import { BrowserKvError, HostWatches, RequestLedger, StampWindow, TabWriter, isWrite, kvRequest, serveTab, unwrapReply, type ClientRequest, type HookRequest, type Reply, type TabMessage, type TabServeTestMutations, type TabServing } from 'peerkv/browser';
import { shuffled } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';

/** Virtual time a tab waits for a host's answer before sending the write again through another, ms. */
export const TAB_RESEND_MS = 600;
/** Sends of one tab request at most (the first and its resends). */
export const TAB_SENDS_MAX = 3;
/** Chance that a send's host tab dies holding it (closed mid-request), per send. */
export const TAB_HOST_DIES_CHANCE = 0.05;
/** Virtual time from a host tab's death to the next host's announcement (the tab's resend), ms. */
export const TAB_HANDOVER_MS = 50;

/** One tab: its id on the tab channel (its stamps' client id) and its write numbers. */
export interface Tab {
  id: string;
  stamps: StampWindow;
}

/** The tabs of a run (two, so their stamped writes interleave). */
export function makeTabs(seed: number, count = 2): Tab[] {
  return Array.from({ length: count }, (_, i) => ({ id: `tab-${seed}-${i}`, stamps: new StampWindow(CLIENT_WRITE_WINDOW_SEQS) }));
}

/** A request message of the tab channel. */
type RequestMessage = Extract<TabMessage, { t: 'req' }>;

/** A host tab: a client of the workload serving tab requests through the runtime's serving path. */
export class SimTabHost {
  /** The host's tab id on the channel. */
  readonly id: string;
  private readonly ledger = new RequestLedger(false);
  private readonly serving: TabServing;
  /** The change feeds this host runs for tabs (`host-watches.ts`), on the run's virtual clock with numbered ids. */
  private watches: HostWatches;
  /** Every incarnation's watches (a request still held by a dead one may open a watch there). */
  private readonly allWatches: HostWatches[] = [];
  private watchIds = 0;

  /** `clock` is `kv`'s (a tab commit's start is on it: `TabServing.clock`). */
  constructor(id: string, kv: PeerKV, writer: TabWriter, mutations: TabServeTestMutations | undefined, clock: Clock) {
    this.id = id;
    const watchesOf = (): HostWatches => {
      const w = new HostWatches(kv, { clock, newId: () => `${id}/watch-${++this.watchIds}` });
      this.allWatches.push(w);
      return w;
    };
    this.watches = watchesOf();
    this.restartWatches = () => {
      this.watches.closeAll();
      this.watches = watchesOf();
    };
    this.serving = {
      withClient: (serve) => serve(kv, writer),
      clock,
      watches: () => this.watches,
      status: () => {
        throw new BrowserKvError('InvalidArgument', 'a simulated host has no status');
      },
      trace: () => {
        throw new BrowserKvError('InvalidArgument', 'a simulated host has no trace');
      },
      hook: (req: HookRequest) => Promise.reject(new BrowserKvError('HooksDisabled', `${req.type} needs testHooks: true`)),
      ...(mutations ? { unsafeTestMutations: mutations } : {}),
    };
  }

  /** The host tab closed and a new one took its place: its watches are gone (their tabs' next requests find `WatchGone`). */
  readonly restartWatches: () => void;

  /** Stops the watches of every incarnation (the run ends). */
  closeWatches(): void {
    for (const w of this.allWatches) w.closeAll();
  }

  /** Serves a request message as it arrives on the channel; the reply as it arrives back. */
  async serve(m: RequestMessage): Promise<Reply> {
    const arrived = structuredClone(m);
    const reply = await this.ledger.reply(arrived.req, (req) => serveTab(this.serving, req));
    return structuredClone(reply);
  }
}

/**
 * The host tabs of a run, one per client: each with its own writer of stamped multi-key writes
 * (`TabWriter`, on `routes(i)`'s PD and stores, sleeping in virtual time).
 */
export function makeTabHosts(env: ClusterEnv, clients: readonly PeerKV[], routes: (i: number) => Pick<ClientOptions, 'pd' | 'stores'>, mutations: TabServeTestMutations | undefined): SimTabHost[] {
  return clients.map((kv, i) => {
    const o = routes(i);
    const writer = new TabWriter({ getRegion: (key) => o.pd.getRegion(key), store: (id) => o.stores.store(id) }, env.o.requestTimeoutMs, env.sched.sleep);
    return new SimTabHost(`host-${env.o.seed}-${i}`, kv, writer, mutations, env.sched);
  });
}

/**
 * What a tab request needs of the workload (`Workload` has all of it): the host tabs, the
 * resend and host-death counters, and the run's scheduler and notes. Named here rather than
 * imported so that `workload.ts` can use this module without a cycle.
 */
export interface TabHosts {
  tabHosts: readonly SimTabHost[];
  stats: { tabResends: number; tabHostDeaths: number };
  env: Pick<ClusterEnv, 'note' | 'sched'>;
}

/**
 * How a tab request ended: the value of the first ok answer, or (every send failed) the kind
 * of the last error, with `dropped` when a host died holding the request (it may still act on
 * it: a write's outcome is then unknown even when a later host refused it).
 */
export type TabOutcome = { ok: true; value: unknown } | { ok: false; kind: string; dropped: boolean };

/**
 * Sends `request` from `tab` through the host tabs (a seeded order of hosts) as an attached tab
 * does: a write (`isWrite`) stamped with the tab's next seq and ack floor, the same stamp on
 * every send. A send goes to the next host when its host does not answer within
 * `TAB_RESEND_MS`, answers an error, or dies holding it (`TAB_HOST_DIES_CHANCE`: the tab channel
 * says bye, a new host takes over after `TAB_HANDOVER_MS`, and the dead host's answer never
 * arrives though its client goes on serving the request). A host's answer after the call is
 * settled is dropped.
 */
export async function tabCall(w: TabHosts, tab: Tab, rng: SeededRng, request: ClientRequest, opId: number): Promise<TabOutcome> {
  const seq = isWrite(request) ? await tab.stamps.begin() : undefined;
  const hosts = shuffled(rng, w.tabHosts.map((_, i) => i));
  let sends = 0;
  let running = 0;
  let settled = false;
  let dropped = false;
  return new Promise<TabOutcome>((resolve) => {
    const finish = (outcome: TabOutcome): void => {
      settled = true;
      if (seq !== undefined) tab.stamps.end(seq);
      resolve(outcome);
    };
    const failed = (kind: string): void => {
      if (sends < TAB_SENDS_MAX) send();
      else if (running === 0) finish({ ok: false, kind, dropped });
    };
    const send = (): void => {
      const host = w.tabHosts[hosts[sends % hosts.length]];
      if (sends > 0) {
        w.stats.tabResends++;
        w.env.note(`tab ${tab.id} resends ${request.type}${seq !== undefined ? ` seq ${seq}` : ''} (op #${opId}) to ${host.id}`);
      }
      sends++;
      running++;
      const mine = sends;
      const dies = rng.nextFloat() < TAB_HOST_DIES_CHANCE;
      const req = kvRequest(seq !== undefined && isWrite(request) ? { ...request, stamp: { clientId: tab.id, seq, ackFloor: tab.stamps.ackFloor() } } : request);
      void host.serve({ t: 'req', id: seq ?? opId, from: tab.id, to: host.id, req }).then((reply) => {
        running--;
        if (settled) return;
        if (dies) {
          // Served, but the host is gone: nobody posts the answer.
          if (sends === TAB_SENDS_MAX && running === 0) finish({ ok: false, kind: 'HostGone', dropped });
          return;
        }
        let value: unknown;
        try {
          value = unwrapReply<unknown>(reply);
        } catch (e) {
          failed((e as BrowserKvError).kind);
          return;
        }
        finish({ ok: true, value });
      });
      if (dies) {
        w.stats.tabHostDeaths++;
        dropped = true;
        w.env.sched.setTimeout(() => {
          w.env.note(`tab host ${host.id} dies holding ${request.type} of ${tab.id} (op #${opId})`);
          if (!settled && sends === mine) failed('HostGone');
        }, TAB_HANDOVER_MS);
        return;
      }
      // No answer in time: the host may be gone; try the next one (the first keeps going).
      w.env.sched.setTimeout(() => {
        if (!settled && sends === mine && sends < TAB_SENDS_MAX) {
          dropped = true;
          send();
        }
      }, TAB_RESEND_MS);
    };
    send();
  });
}

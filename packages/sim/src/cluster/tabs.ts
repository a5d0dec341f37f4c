/**
 * Simulated browser tabs writing through host tabs, over the browser runtime's own serving
 * path. A tab numbers its writes with the runtime's `StampWindow` and sends each as the
 * `TabRequest` an attached tab posts on the tab channel (`{ kind: 'kv', request: { type:
 * 'put', key, value, stamp } }`, crossing as a structured clone, the protocol's codec). A host
 * (`SimTabHost`: one of the workload's clients) serves it as `NetHost` and `EmbeddedCluster`
 * do: the `RequestLedger` checks it (`checkTabRequest`) and `serveTab` routes it to
 * `serveClient`, whose reply crosses back as a clone and is unwrapped as the tab does
 * (`unwrapReply`). So a bug in that path (`TabServeTestMutations`) shows in the sim's checks.
 *
 * When a host does not answer in time the tab sends the same stamp again through another host,
 * while the first keeps serving it (a host that left may have proposed the write already). The
 * stores must apply the write once. Each send carries the tab's ack floor (every seq below it is
 * finished for the tab), so stores may forget those records; a late retry of a finished seq
 * must then be refused, never applied again.
 */
import type { SeededRng } from '@peerkv/raft';
import { CLIENT_WRITE_WINDOW_SEQS } from '@peerkv/store';
import type { ClientOptions, PeerKV } from 'peerkv';
import { BrowserKvError, RequestLedger, StampWindow, TabWriter, kvRequest, serveTab, unwrapReply, type HookRequest, type Reply, type TabMessage, type TabServeTestMutations, type TabServing } from 'peerkv/browser';
import { shuffled } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';

/** Virtual time a tab waits for a host's answer before sending the write again through another, ms. */
export const TAB_RESEND_MS = 600;
/** Sends of one stamped write at most (the first and its resends). */
export const TAB_SENDS_MAX = 3;

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

  constructor(id: string, kv: PeerKV, writer: TabWriter, mutations: TabServeTestMutations | undefined) {
    this.id = id;
    this.serving = {
      withClient: (serve) => serve(kv, writer),
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
    return new SimTabHost(`host-${env.o.seed}-${i}`, kv, writer, mutations);
  });
}

/**
 * What a stamped put needs of the workload (`Workload` has all of it): the host tabs, the
 * resend counter, and the run's scheduler and notes. Named here rather than imported so that
 * `workload.ts` can use this module without a cycle.
 */
export interface TabHosts {
  tabHosts: readonly SimTabHost[];
  stats: { stampedResends: number };
  env: Pick<ClusterEnv, 'note' | 'sched'>;
}

/**
 * A stamped put of `tab` through the host tabs (a seeded order of hosts): true once any send
 * is answered ok, false when every send failed (the outcome is then unknown). A host's later
 * answer is dropped, as the tab has settled the call.
 */
export async function stampedPut(w: TabHosts, tab: Tab, rng: SeededRng, key: Uint8Array, value: Uint8Array, opId: number): Promise<boolean> {
  const seq = await tab.stamps.begin();
  const hosts = shuffled(rng, w.tabHosts.map((_, i) => i));
  let sends = 0;
  let running = 0;
  let settled = false;
  return new Promise<boolean>((resolve) => {
    const finish = (ok: boolean): void => {
      settled = true;
      tab.stamps.end(seq);
      resolve(ok);
    };
    const send = (): void => {
      const host = w.tabHosts[hosts[sends % hosts.length]];
      if (sends > 0) {
        w.stats.stampedResends++;
        w.env.note(`tab ${tab.id} resends seq ${seq} (op #${opId}) to ${host.id}`);
      }
      sends++;
      running++;
      const mine = sends;
      const req = kvRequest({ type: 'put', key, value, stamp: { clientId: tab.id, seq, ackFloor: tab.stamps.ackFloor() } });
      void host.serve({ t: 'req', id: seq, from: tab.id, to: host.id, req }).then((reply) => {
        running--;
        if (settled) return;
        try {
          unwrapReply<void>(reply);
          finish(true);
        } catch {
          if (sends < TAB_SENDS_MAX) send();
          else if (running === 0) finish(false);
        }
      });
      // No answer in time: the host may be gone; try the next one (the first keeps going).
      w.env.sched.setTimeout(() => {
        if (!settled && sends === mine && sends < TAB_SENDS_MAX) send();
      }, TAB_RESEND_MS);
    };
    send();
  });
}

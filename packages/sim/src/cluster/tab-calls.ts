/**
 * A simulated attached tab's calls to the host tabs, on the browser runtime's `PendingCalls`
 * (the tab channel's outstanding calls, as `TabSession.send` sends them): each call goes to the
 * host the tab knows and is settled by the first reply that reaches the tab.
 *
 * The host the tab knows can die (`hostDies`, or by chance while it holds a request): its
 * watches go with it (`SimTabHost.restartWatches`), its reply to a request it held is never
 * posted (its client goes on serving what it held), and the next host announces itself
 * `TAB_HANDOVER_MS` later and gets every call still open (`resendTo`). A tab that closes fails
 * its open calls (`failAll('Closed')`: `Undetermined` for a change it sent).
 *
 * Shared by the transaction tabs (`tab-txns.ts`) and the watching tab (`tab-watch-lane.ts`).
 */
import type { SeededRng } from '@peerkv/raft';
import { PendingCalls, type Reply, type TabMessage, type TabRequest } from 'peerkv/browser';
import type { ClusterEnv } from './cluster-env.ts';
import { TAB_HANDOVER_MS, type SimTabHost } from './tabs.ts';

/** Longest virtual time from a send to the death it plans (the host's here, the tab's in `tab-txns.ts`), ms. */
export const TAB_DEATH_DELAY_MS_MAX = 40;

/** A request message of the tab channel. */
type RequestMessage = Extract<TabMessage, { t: 'req' }>;

/** What a tab's calls go through, and where they count what happened. */
export interface TabCallsOptions {
  env: Pick<ClusterEnv, 'note' | 'sched'>;
  hosts: readonly SimTabHost[];
  rng: SeededRng;
  /** How long a call waits for any host's answer, ms (the runtime's `requestDeadlineMs`). */
  deadlineMs: number;
  /** Chance that the host a request reaches dies holding it, per send (0: only `hostDies` kills hosts). */
  hostDiesChance: number;
  /** Counts a host's death. */
  onHostDeath(): void;
  /** Counts the calls sent again to a host that announced itself. */
  onResend(calls: number): void;
}

/** See the module header. */
export class TabCalls {
  private readonly calls: PendingCalls;
  /** Index in `hosts` of the host this tab knows (undefined between a host's death and the next one's announcement). */
  private host: number | undefined;
  /** Bumped at each host death: replies of an earlier host are never posted. */
  private hostEpoch = 0;
  private isClosed = false;

  constructor(
    readonly id: string,
    private readonly o: TabCallsOptions,
  ) {
    this.host = o.rng.nextInt(o.hosts.length);
    this.calls = new PendingCalls(id, (m) => this.post(m), o.env.sched.now);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Calls still waiting for an answer. */
  get size(): number {
    return this.calls.size;
  }

  /** Sends `req` to the host the tab knows (or the next one to announce itself); its reply, or `Timeout`/`Undetermined` past the deadline. */
  send(req: TabRequest): Promise<Reply> {
    const done = this.calls.add(req, this.host === undefined ? undefined : this.o.hosts[this.host].id, this.o.deadlineMs);
    this.o.env.sched.setTimeout(() => this.calls.expire(), this.o.deadlineMs + 1);
    return done;
  }

  /** The host this tab knows dies now (`why` goes to the trace); the next one announces itself `TAB_HANDOVER_MS` later. */
  hostDies(why: string): void {
    if (this.host === undefined || this.isClosed) return;
    const dead = this.o.hosts[this.host];
    this.o.onHostDeath();
    this.o.env.note(`tab ${this.id}: host ${dead.id} dies (${why}) with ${this.calls.size} call(s) open`);
    dead.restartWatches();
    const next = (this.host + 1) % this.o.hosts.length;
    this.host = undefined;
    this.hostEpoch++;
    this.o.env.sched.setTimeout(() => {
      if (this.isClosed) return;
      this.host = next;
      this.o.onResend(this.calls.size);
      this.calls.resendTo(this.o.hosts[next].id);
    }, TAB_HANDOVER_MS);
  }

  /** The tab closes: its open calls fail (`Undetermined` for a change it sent). */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.calls.failAll('Closed');
  }

  /** Posts a message of this tab on the channel: a request reaches the host it names. */
  private post(m: TabMessage): void {
    if (m.t !== 'req') return;
    const host = this.o.hosts.find((h) => h.id === m.to);
    if (host === undefined) return;
    const epoch = this.hostEpoch;
    // (No draw at chance 0: a tab whose hosts die only by `hostDies` keeps its seeded schedule.)
    if (this.o.hostDiesChance > 0 && this.o.rng.nextFloat() < this.o.hostDiesChance) {
      this.o.env.sched.setTimeout(() => {
        if (this.hostEpoch === epoch) this.hostDies(`holding ${describe(m)}`);
      }, this.o.rng.nextInt(TAB_DEATH_DELAY_MS_MAX + 1));
    }
    void host.serve(m).then((reply) => {
      // A host that died since never posts its answer.
      if (this.hostEpoch === epoch && !this.isClosed) this.calls.settle(m.id, reply);
    });
  }
}

function describe(m: RequestMessage): string {
  const r = m.req.request as { type: string; startTs?: unknown };
  return `${r.type}${r.startTs !== undefined ? ` of txn ${String(r.startTs)}` : ''}`;
}

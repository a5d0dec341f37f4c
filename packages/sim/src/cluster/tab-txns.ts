/**
 * Simulated browser tabs running transactions through host tabs, on the browser runtime's own
 * code: a tab's `TabTxns` (its `TxnBackend`: start ts, reads at it, the commit, a pessimistic
 * transaction's locks, each a client request to the host) sends through the runtime's
 * `PendingCalls` (the tab channel's outstanding calls: each sent to the host the tab knows,
 * sent again to every new host, and settled by the first reply), and a host (`SimTabHost`) serves
 * it with `serveTab`/`serveClient` on one of the run's clients. So the way a tab decides a
 * transaction's outcome — success, a definite failure, or `Undetermined` for a commit it sent
 * and never heard back from (`PendingCalls`'s `unanswered` and `afterResend`) — is the
 * runtime's, checked by `--txn`'s SI and bank checkers.
 *
 * Faults, seeded:
 * - a host dies holding a request (`TAB_TXN_HOST_DIES_CHANCE` per send, and the transaction
 *   fault `die` after a prewrite of its commit was answered): its reply is never posted, the
 *   next host announces itself `TAB_HANDOVER_MS` later and gets every call still open
 *   (`resendTo`), so a commit runs a second time, on another client, with the same start ts;
 *   the dead host's client goes on serving what it held;
 * - the tab itself closes while its commit is out (`TAB_CLOSES_MID_COMMIT_CHANCE`): its calls
 *   fail (`failAll('Closed')`), a sent commit `Undetermined`; the lane goes on in a new tab.
 *
 * Mutation `tabUndeterminedAsAborted` (harness-side, as `txn-net.ts`'s): the tab reports a
 * commit whose outcome is unknown as `TxnAborted`, a definite failure, so the transaction runs
 * again though the first run may have committed.
 */
import type { SeededRng } from '@peerkv/raft';
import { BrowserKvError, PendingCalls, TAB_VALUE_CHECKS, TabTxns, kvRequest, unwrapReply, type ClientCall, type ClientRequest, type TabMessage } from 'peerkv/browser';
import { runTransaction, type Transaction, type TransactionInfo, type TransactionOptions } from 'peerkv';
import type { ClusterEnv } from './cluster-env.ts';
import { TAB_HANDOVER_MS, type SimTabHost } from './tabs.ts';

/** Chance that the host a tab's request goes to dies holding it, per send. */
export const TAB_TXN_HOST_DIES_CHANCE = 0.03;
/** Chance that a tab closes while its commit is out, per commit sent. */
export const TAB_CLOSES_MID_COMMIT_CHANCE = 0.1;
/** Longest virtual time from a send to the death it plans (the host's or the tab's), ms. */
export const TAB_DEATH_DELAY_MS_MAX = 40;
/** How long a tab's call waits for any host's answer, ms (the runtime's `requestDeadlineMs` default). */
export const TAB_TXN_DEADLINE_MS = 60_000;

/** What the tabs did. */
export interface TabTxnStats {
  tabTxns: number;
  tabHostDeaths: number;
  /** Calls sent again to a new host (every open call of the tab when one announces itself). */
  tabResends: number;
  tabCloses: number;
  /** Tab commits that ended `Undetermined`. */
  tabUndetermined: number;
  /** `Undetermined` commits reported `TxnAborted` (mutation `tabUndeterminedAsAborted`). */
  tabMutated: number;
}

export function emptyTabTxnStats(): TabTxnStats {
  return { tabTxns: 0, tabHostDeaths: 0, tabResends: 0, tabCloses: 0, tabUndetermined: 0, tabMutated: 0 };
}

/** What the tabs share: the hosts, the run, their counters, the mutation. */
export interface TabTxnRun {
  env: Pick<ClusterEnv, 'note' | 'sched'>;
  hosts: readonly SimTabHost[];
  stats: TabTxnStats;
  undeterminedAsAborted: boolean;
}

/** A request message of the tab channel. */
type RequestMessage = Extract<TabMessage, { t: 'req' }>;

/**
 * One simulated tab (see the module header). A closed tab stays closed: `closed` tells the lane
 * to open a new one.
 */
export class SimTxnTab {
  readonly id: string;
  private readonly calls: PendingCalls;
  private readonly txns: TabTxns;
  /** Index in `hosts` of the host this tab knows (undefined between a host's death and the next one's announcement). */
  private host: number | undefined;
  /** Bumped at each host death: replies of an earlier host are never posted. */
  private hostEpoch = 0;
  private isClosed = false;

  constructor(
    private readonly run: TabTxnRun,
    id: string,
    private readonly rng: SeededRng,
  ) {
    this.id = id;
    this.host = rng.nextInt(run.hosts.length);
    this.calls = new PendingCalls(id, (m) => this.post(m), run.env.sched.now);
    this.txns = new TabTxns(this.call, { clock: run.env.sched, random: () => rng.nextFloat() });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Runs `fn` as this tab's transaction (as `BrowserPeerKV.transactionWithInfo` does). */
  transactionWithInfo<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions): Promise<{ value: T; info: TransactionInfo }> {
    this.run.stats.tabTxns++;
    return runTransaction(this.txns.backend(), TAB_VALUE_CHECKS, fn, o);
  }

  /** The host holding this tab's calls dies now (the transaction fault `die`). */
  hostDies(why: string): void {
    if (this.host === undefined || this.isClosed) return;
    const dead = this.run.hosts[this.host];
    this.run.stats.tabHostDeaths++;
    this.run.env.note(`tab ${this.id}: host ${dead.id} dies (${why})`);
    const next = (this.host + 1) % this.run.hosts.length;
    this.host = undefined;
    this.hostEpoch++;
    this.run.env.sched.setTimeout(() => {
      if (this.isClosed) return;
      this.host = next;
      this.run.stats.tabResends += this.calls.size;
      this.calls.resendTo(this.run.hosts[next].id);
    }, TAB_HANDOVER_MS);
  }

  /** The tab closes: its open calls fail (`Undetermined` for a sent commit). */
  private close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.run.stats.tabCloses++;
    this.run.env.note(`tab ${this.id} closes with ${this.calls.size} call(s) open`);
    this.calls.failAll('Closed');
  }

  /** `TabTxns`'s way to the host: through `PendingCalls`, as `TabSession.send` goes. */
  private readonly call: ClientCall = async (req) => {
    if (this.isClosed) throw new BrowserKvError('Closed', 'this tab is closed');
    const done = this.calls.add(kvRequest(req), this.host === undefined ? undefined : this.run.hosts[this.host].id, TAB_TXN_DEADLINE_MS);
    this.run.env.sched.setTimeout(() => this.calls.expire(), TAB_TXN_DEADLINE_MS + 1);
    if (req.type === 'commitTxn' && this.rng.nextFloat() < TAB_CLOSES_MID_COMMIT_CHANCE) {
      this.run.env.sched.setTimeout(() => this.close(), this.rng.nextInt(TAB_DEATH_DELAY_MS_MAX + 1));
    }
    const reply = await done;
    if (!reply.ok && req.type === 'commitTxn' && reply.error.kind === 'Undetermined') {
      this.run.stats.tabUndetermined++;
      if (this.run.undeterminedAsAborted) {
        this.run.stats.tabMutated++;
        throw new BrowserKvError('TxnAborted', `(mutation) ${reply.error.message}`);
      }
    }
    return unwrapReply(reply);
  };

  /** Posts a message of this tab on the channel: a request reaches the host it names. */
  private post(m: TabMessage): void {
    if (m.t !== 'req') return;
    const host = this.run.hosts.find((h) => h.id === m.to);
    if (host === undefined) return;
    const epoch = this.hostEpoch;
    if (this.rng.nextFloat() < TAB_TXN_HOST_DIES_CHANCE) {
      this.run.env.sched.setTimeout(() => {
        if (this.hostEpoch === epoch) this.hostDies(`holding ${describe(m)}`);
      }, this.rng.nextInt(TAB_DEATH_DELAY_MS_MAX + 1));
    }
    void host.serve(m as RequestMessage).then((reply) => {
      // A host that died since never posts its answer.
      if (this.hostEpoch === epoch && !this.isClosed) this.calls.settle(m.id, reply);
    });
  }
}

function describe(m: RequestMessage): string {
  const r = m.req.request as ClientRequest | { type: string };
  return `${r.type}${'startTs' in r ? ` of txn ${String(r.startTs)}` : ''}`;
}

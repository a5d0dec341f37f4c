/**
 * Simulated browser tabs running transactions through host tabs, on the browser runtime's own
 * code: a tab's `TabTxns` (its `TxnBackend`: start ts, reads at it, the commit, a pessimistic
 * transaction's locks, each a client request to the host) sends through the runtime's
 * `PendingCalls` (`tab-calls.ts`: each call sent to the host the tab knows, sent again to every
 * new host, and settled by the first reply), and a host (`SimTabHost`) serves
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
import { BrowserKvError, TAB_VALUE_CHECKS, TabTxns, kvRequest, unwrapReply, type ClientCall } from 'peerkv/browser';
import { runTransaction, type Transaction, type TransactionInfo, type TransactionOptions } from 'peerkv';
import type { ClusterEnv } from './cluster-env.ts';
import { TAB_DEATH_DELAY_MS_MAX, TabCalls } from './tab-calls.ts';
import type { SimTabHost } from './tabs.ts';

/** Chance that the host a tab's request goes to dies holding it, per send. */
export const TAB_TXN_HOST_DIES_CHANCE = 0.03;
/** Chance that a tab closes while its commit is out, per commit sent. */
export const TAB_CLOSES_MID_COMMIT_CHANCE = 0.1;
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

/**
 * One simulated tab (see the module header). A closed tab stays closed: `closed` tells the lane
 * to open a new one.
 */
export class SimTxnTab {
  readonly id: string;
  private readonly calls: TabCalls;
  private readonly txns: TabTxns;

  constructor(
    private readonly run: TabTxnRun,
    id: string,
    private readonly rng: SeededRng,
  ) {
    this.id = id;
    this.calls = new TabCalls(id, {
      env: run.env,
      hosts: run.hosts,
      rng,
      deadlineMs: TAB_TXN_DEADLINE_MS,
      hostDiesChance: TAB_TXN_HOST_DIES_CHANCE,
      onHostDeath: () => run.stats.tabHostDeaths++,
      onResend: (calls) => (run.stats.tabResends += calls),
    });
    this.txns = new TabTxns(this.call, { clock: run.env.sched, random: () => rng.nextFloat() });
  }

  get closed(): boolean {
    return this.calls.closed;
  }

  /** Runs `fn` as this tab's transaction (as `BrowserPeerKV.transactionWithInfo` does). */
  transactionWithInfo<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions): Promise<{ value: T; info: TransactionInfo }> {
    this.run.stats.tabTxns++;
    return runTransaction(this.txns.backend(), TAB_VALUE_CHECKS, fn, o);
  }

  /** The host holding this tab's calls dies now (the transaction fault `die`). */
  hostDies(why: string): void {
    this.calls.hostDies(why);
  }

  /** The tab closes: its open calls fail (`Undetermined` for a sent commit). */
  private close(): void {
    if (this.calls.closed) return;
    this.run.stats.tabCloses++;
    this.run.env.note(`tab ${this.id} closes with ${this.calls.size} call(s) open`);
    this.calls.close();
  }

  /** `TabTxns`'s way to the host: through the tab's `PendingCalls`, as `TabSession.send` goes. */
  private readonly call: ClientCall = async (req) => {
    if (this.calls.closed) throw new BrowserKvError('Closed', 'this tab is closed');
    const done = this.calls.send(kvRequest(req));
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
}

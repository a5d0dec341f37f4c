/**
 * The change feed watched through a simulated browser tab, on the browser runtime's own code:
 * the tab's `TabWatch` (`tab-watch.ts`: batches pulled with `watchNext`, reopened from its last
 * watermark when a host answers `WatchGone`, changes above it deduplicated) sends through the
 * runtime's `PendingCalls` (`tab-calls.ts`, as the transaction tabs do: each call sent to the
 * host the tab knows, sent again to the next host when one announces itself), and a host (`SimTabHost`) serves it with `serveTab` on its
 * own client: `HostWatches` on the run's virtual clock, a `kv.watch` per watch.
 *
 * Faults, seeded: the host the tab knows dies every `TAB_WATCH_HOST_LIFE_MS` (its watches go
 * with it, its reply to a request it held is never posted); the next host announces itself
 * `TAB_HANDOVER_MS` later and gets the open calls, so a `watchNext` finds `WatchGone` and the
 * tab reopens from its watermark. `txn-feed.ts`'s `checkFeed` then checks what the tab yielded
 * against what the stores applied: completeness below each watermark, order per key, soundness.
 *
 * Mutation `tabWatchResumesAhead` (harness-side): a reopen asks for changes from
 * `TAB_WATCH_SKIP_TS` above the tab's watermark, as a tab that resumed from a watermark it never
 * yielded would; the changes in between are missing below a later watermark.
 */
import type { SeededRng } from '@peerkv/raft';
import { TabWatch, tabRequest, unwrapReply, type TabOnlyCall, type TabOnlyRequest, type TabOnlyResponseOf } from 'peerkv/browser';
import type { ClusterEnv } from './cluster-env.ts';
import { TabCalls } from './tab-calls.ts';
import type { SimTabHost } from './tabs.ts';
import type { FeedIterator } from './txn-feed.ts';

/** How long the host a watching tab knows lives before it dies, virtual ms [min, max]. */
export const TAB_WATCH_HOST_LIFE_MS: readonly [number, number] = [300, 1_500];
/** How long a watching tab's call waits for any host's answer, ms (the runtime's `requestDeadlineMs` default). */
export const TAB_WATCH_DEADLINE_MS = 60_000;
/** How far above its watermark a reopen asks under mutation `tabWatchResumesAhead`: 500 ms of TSO (physical ms << 18). */
export const TAB_WATCH_SKIP_TS = 500n << 18n;

/** What the watching tab went through. */
export interface TabWatchStats {
  tabWatchHostDeaths: number;
  /** `watchOpen`s sent (the first and each reopen after `WatchGone`). */
  tabWatchOpens: number;
  /** Calls sent again to a new host. */
  tabWatchResends: number;
  /** Reopens moved ahead (mutation `tabWatchResumesAhead`). */
  tabWatchMutated: number;
}

export function emptyTabWatchStats(): TabWatchStats {
  return { tabWatchHostDeaths: 0, tabWatchOpens: 0, tabWatchResends: 0, tabWatchMutated: 0 };
}

/** One simulated tab watching through the hosts (see the module header). */
export class SimWatchTab {
  private readonly calls: TabCalls;
  private opens = 0;

  constructor(
    id: string,
    private readonly env: Pick<ClusterEnv, 'note' | 'sched'>,
    private readonly hosts: readonly SimTabHost[],
    private readonly rng: SeededRng,
    readonly stats: TabWatchStats,
    private readonly resumesAhead: boolean,
  ) {
    this.calls = new TabCalls(id, {
      env,
      hosts,
      rng,
      deadlineMs: TAB_WATCH_DEADLINE_MS,
      // Hosts die on the lane's schedule only (`hostDeaths`).
      hostDiesChance: 0,
      onHostDeath: () => stats.tabWatchHostDeaths++,
      onResend: (calls) => (stats.tabWatchResends += calls),
    });
  }

  /** The tab's watch of every key from `fromTs` (the runtime's `TabWatch`, as `BrowserPeerKV.watch` makes it). */
  watch(fromTs: bigint): FeedIterator {
    return new TabWatch(this.request, { start: new Uint8Array(), end: new Uint8Array() }, { fromTs });
  }

  /** Kills the host this tab knows, one after another, until `untilMs`. */
  async hostDeaths(untilMs: number): Promise<void> {
    const [lo, hi] = TAB_WATCH_HOST_LIFE_MS;
    for (;;) {
      await this.env.sched.sleep(lo + this.rng.nextInt(hi - lo + 1));
      if (this.env.sched.now() >= untilMs) return;
      this.calls.hostDies('its life is over');
    }
  }

  /** Stops every host's watches (the run ends). */
  closeHosts(): void {
    for (const h of this.hosts) h.closeWatches();
  }

  /** `TabWatch`'s way to the host: through the tab's `PendingCalls`, as `TabSession.send` goes. */
  private readonly request: TabOnlyCall = async <Q extends TabOnlyRequest>(req: Q): Promise<TabOnlyResponseOf<Q['type']>> => {
    let q: TabOnlyRequest = req;
    if (q.type === 'watchOpen') {
      this.stats.tabWatchOpens++;
      if (this.opens++ > 0 && this.resumesAhead && q.fromTs !== undefined) {
        this.stats.tabWatchMutated++;
        q = { ...q, fromTs: q.fromTs + TAB_WATCH_SKIP_TS };
      }
    }
    return unwrapReply(await this.calls.send(tabRequest(q)));
  };
}

/**
 * Pauses of the client's retry loop that end early when news of the region's leader arrives.
 *
 * A request whose region has no reachable leader (the leader's store was killed, an election
 * under way) backs off between attempts, and the backoff grows to `BackoffOptions.capMs` (a
 * second by default). When the process's own store learns the region's new leader
 * (`Store.observeLeader`: it won the election, or heard the winner's first append), a retry
 * asleep in such a pause would otherwise learn it only when the pause ends: up to that cap
 * after the leader could serve it. `LeaderWakeup` ends those pauses at once, so failover costs
 * the election and one round, not the election plus a backoff (issue 16).
 */
import { sleepFor, type Clock } from './backoff.ts';

/** Pauses waiting for news, at most; past it a pause is not woken early (it still ends on time). */
export const LEADER_WAKEUP_WAITERS_MAX = 10_000;
/** Regions whose last news is remembered (`since`), at most; the oldest is forgotten first. */
export const LEADER_NEWS_REGIONS_MAX = 10_000;

/** How a pause ended. */
export type PauseEnd = 'elapsed' | 'news' | 'aborted';

/** Region id → the pauses waiting for news of its leader; see the module header. */
export class LeaderWakeup {
  private readonly waiting = new Map<number, Set<() => void>>();
  private waiters = 0;
  /** Count of news so far, and the count at each region's last news (oldest first). */
  private newsSeq = 0;
  private readonly lastNews = new Map<number, number>();

  constructor(private readonly clock: Clock) {}

  /** A mark to pass to `pause` as `since`: news of `regionId` after it ends that pause at once. */
  mark(): number {
    return this.newsSeq;
  }

  /**
   * Sleeps `ms`, ending early on news of `regionId`'s leader (`'news'`: also news that came
   * after `since`, while the failed attempt was out) or the caller's abort.
   */
  async pause(regionId: number, ms: number, signal?: AbortSignal, since = this.newsSeq): Promise<PauseEnd> {
    if (signal?.aborted) return 'aborted';
    if ((this.lastNews.get(regionId) ?? 0) > since) return 'news';
    const wake = new AbortController();
    const onAbort = (): void => wake.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let news = false;
    const onNews = (): void => {
      news = true;
      wake.abort();
    };
    const set = this.waiting.get(regionId) ?? new Set<() => void>();
    const registered = this.waiters < LEADER_WAKEUP_WAITERS_MAX;
    if (registered) {
      set.add(onNews);
      this.waiting.set(regionId, set);
      this.waiters++;
    }
    try {
      await sleepFor(this.clock, ms, wake.signal);
    } catch {
      /* woken: by news or by the caller's abort, told apart below */
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (registered) {
        set.delete(onNews);
        this.waiters--;
        if (set.size === 0) this.waiting.delete(regionId);
      }
    }
    if (signal?.aborted) return 'aborted';
    return news ? 'news' : 'elapsed';
  }

  /** News of `regionId`'s leader: every pause waiting for it ends now. */
  wake(regionId: number): void {
    this.lastNews.delete(regionId);
    this.lastNews.set(regionId, ++this.newsSeq);
    if (this.lastNews.size > LEADER_NEWS_REGIONS_MAX) this.lastNews.delete(this.lastNews.keys().next().value!);
    const set = this.waiting.get(regionId);
    if (!set) return;
    for (const onNews of [...set]) onNews();
  }
}

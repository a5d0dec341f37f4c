/**
 * `subscribe` over the change feed (`tab-subscribe.ts`), against a scripted feed: one call per
 * commit (a commit's many keys share its commitTs; this profile's own commits told at once are
 * not told again by the feed), a failed feed resumed from its last watermark (`WatchLagged`
 * from its resume ts), `SafePointPassed` restarts at a fresh ts and tells once, a store with no
 * mvcc data ends the feed, the last unsubscribe stops it; the raw model runs no feed.
 */
import { describe, expect, it } from 'vitest';
import { PeerKVError, WatchLaggedError, codec, type WatchEvent } from '../src/index.ts';
import { TabSubscriptions, type ChangeOp } from '../src/browser/tab-subscribe.ts';
import type { TabWatchOptions } from '../src/browser/tab-watch.ts';
import { until } from './until.ts';

const put = (key: string, commitTs: bigint): WatchEvent => ({ type: 'put', key: codec.text(key), value: codec.text('v'), commitTs });
const resolved = (ts: bigint): WatchEvent => ({ type: 'resolved', ts });

/** A feed each watch of which yields the next script's events, then throws its error (or waits for the abort). */
function scriptedFeed(scripts: { events: WatchEvent[]; error?: unknown }[]): { watch: (o: TabWatchOptions) => AsyncIterableIterator<WatchEvent>; opened: (bigint | undefined)[]; returned: number } {
  const state = { opened: [] as (bigint | undefined)[], returned: 0 };
  const watch = (o: TabWatchOptions): AsyncIterableIterator<WatchEvent> => {
    state.opened.push(o.fromTs);
    const script = scripts.shift() ?? { events: [] };
    async function* gen(): AsyncGenerator<WatchEvent> {
      for (const e of script.events) yield e;
      if (script.error !== undefined) throw script.error;
      // Nothing more: wait until the subscription stops the feed.
      await new Promise<void>((resolve) => (o.signal!.aborted ? resolve() : o.signal!.addEventListener('abort', () => resolve(), { once: true })));
    }
    const it = gen();
    const ret = it.return.bind(it);
    it.return = (v) => {
      state.returned++;
      return ret(v);
    };
    return it;
  };
  return {
    watch,
    get opened() {
      return state.opened;
    },
    get returned() {
      return state.returned;
    },
  };
}

const noSleep = async (): Promise<void> => undefined;

describe('TabSubscriptions', () => {
  it('tells each commit once, whether it came by the tab channel or the feed, and resumes from the last watermark', async () => {
    const feed = scriptedFeed([
      // Commit 10 over two keys; commit 11 that this profile made (told by the channel first).
      { events: [put('a', 10n), put('b', 10n), resolved(10n), put('c', 11n), resolved(12n)], error: new PeerKVError('Unavailable', 'no quorum for long') },
      // Resumed from 12; the host's buffer overflowed: resume from the lagged watch's resume ts.
      { events: [put('d', 13n), resolved(14n)], error: new WatchLaggedError(14n, 10) },
      { events: [put('d', 13n), put('e', 15n), resolved(16n)] },
    ]);
    const subs = new TabSubscriptions(feed.watch, noSleep);
    const heard: ChangeOp[] = [];
    subs.local('commitTxn', 11n);
    const off = subs.add((op) => heard.push(op));
    // Told before the listener came: not heard. Told after, by the channel, then the feed skips it.
    subs.local('commitTxn', 11n);
    expect(heard).toEqual([]);
    subs.local('commitTxn', 20n);
    expect(heard).toEqual(['commitTxn']);
    await until('the feed told 10, 13 and 15', () => heard.length === 4);
    expect(feed.opened).toEqual([undefined, 12n, 14n]);
    // 13 came twice (before and after the resume): told once.
    await new Promise((r) => setTimeout(r, 20));
    expect(heard).toEqual(['commitTxn', 'commitTxn', 'commitTxn', 'commitTxn']);
    expect(subs.following).toBe(true);
    off();
    expect(subs.following).toBe(false);
    await until('the running watch was returned', () => feed.returned === 3);
    // Nobody listens: nothing is told, no feed runs.
    subs.local('commitTxn', 30n);
    expect(heard).toHaveLength(4);
  });

  it('restarts at a fresh ts when GC passed its watermark, telling once; ends for good on a store with no mvcc data', async () => {
    const gone = new PeerKVError('SafePointPassed', 'below the GC safe point');
    const feed = scriptedFeed([{ events: [resolved(5n)], error: gone }, { events: [put('a', 9n)], error: new PeerKVError('InvalidArgument', 'watch: the stores do not hold mvcc data') }]);
    const subs = new TabSubscriptions(feed.watch, noSleep);
    const heard: ChangeOp[] = [];
    subs.add((op) => heard.push(op));
    await until('the feed ended', () => !subs.following);
    expect(feed.opened).toEqual([undefined, undefined]);
    // Once for the gap, once for commit 9.
    expect(heard).toEqual(['commitTxn', 'commitTxn']);
    // Local changes are still told.
    subs.local('put');
    expect(heard).toEqual(['commitTxn', 'commitTxn', 'put']);
    subs.close();
  });

  it('the raw model runs no feed: listeners hear the writes of this profile with their op; a throwing listener does not stop the others', () => {
    const subs = new TabSubscriptions(undefined, noSleep);
    const heard: ChangeOp[] = [];
    subs.add(() => {
      throw new Error('listener bug');
    });
    subs.add((op) => heard.push(op));
    expect(subs.following).toBe(false);
    subs.local('put');
    subs.local('deleteRange');
    expect(heard).toEqual(['put', 'deleteRange']);
    subs.close();
    subs.local('put');
    expect(heard).toHaveLength(2);
  });
});

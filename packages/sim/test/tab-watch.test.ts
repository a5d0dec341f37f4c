/**
 * `--txn`'s watching tab (`tab-watch-lane.ts`): a tab watches the change feed through host tabs
 * that die one after another, on the browser runtime's own `TabWatch`, `PendingCalls`,
 * `serveTab` and `HostWatches`; `checkFeed` checks what the tab yielded against what the stores
 * applied (violation `tabFeed`). The lane runs clean and goes through host deaths and reopens,
 * and the harness mutation `tabWatchResumesAhead` (a reopen above the tab's watermark) is caught
 * as `tabFeed` on a seed that runs clean without it.
 */
import { describe, expect, it } from 'vitest';
import { runTxnSeed, txnMutationOptions, type TxnSeedResult } from '../src/cluster/index.ts';

/** The seeds the lane runs clean on; the mutation must be caught on the first. */
const SEEDS = [1, 2] as const;

function problems(r: TxnSeedResult): string[] {
  return r.violations.map((v) => `${v.kind}: ${v.message.slice(0, 400)}`);
}

describe('sim --txn: a tab watching the change feed through host tabs that die', () => {
  it(`runs clean on seeds ${SEEDS.join(', ')}, through host deaths and reopens, with every change checked`, { timeout: 120_000 }, async () => {
    for (const seed of SEEDS) {
      const r = await runTxnSeed(seed);
      expect(problems(r), `seed ${seed}`).toEqual([]);
      const t = r.tabFeed;
      // Hosts died under the watch, the tab's open calls went to the next host, and the tab
      // opened its watch again (after `WatchGone`) from its watermark.
      expect(t.tabWatchHostDeaths, `seed ${seed}`).toBeGreaterThan(0);
      expect(t.tabWatchResends, `seed ${seed}`).toBeGreaterThan(0);
      expect(t.tabWatchOpens, `seed ${seed}`).toBeGreaterThan(1);
      expect(t.tabWatchMutated).toBe(0);
      // What the tab yielded was checked (its violations are in the list above).
      expect(t.feedChecked, `seed ${seed}`).toBeGreaterThan(20);
      expect(t.feedWatermarks, `seed ${seed}`).toBeGreaterThan(3);
    }
  });

  it(`catches mutation tabWatchResumesAhead as tabFeed on seed ${SEEDS[0]} (a reopen above the watermark loses the changes in between)`, { timeout: 120_000 }, async () => {
    const r = await runTxnSeed(SEEDS[0], txnMutationOptions('tabWatchResumesAhead'));
    expect(r.tabFeed.tabWatchMutated).toBeGreaterThan(0);
    expect(r.violations.length).toBeGreaterThan(0);
    // Only the tab's feed is wrong: the stores and the direct feed are not touched.
    expect(new Set(r.violations.map((v) => v.kind))).toEqual(new Set(['tabFeed']));
  });
});

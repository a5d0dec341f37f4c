/**
 * How long a store that just joined or restarted stays unreachable (issues 13/16: 7-16 s in
 * some runs while a WebRTC dial that never connected was waited on for 15 s): from the moment
 * it serves (its status says opened, under its own store id), or the other store serves if
 * that is later, until it lists the other among its connected members (`status().members`)
 * and the other lists it, ms, for every other live store.
 */
import type { BrowserStatus } from 'peerkv/browser';

/** Poll period of `reachMs`, ms. */
const REACH_POLL_MS = 100;

/** What `reachMs` polls: a device's first tab. */
export interface Polled {
  name: string;
  run<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

/** How long a store took to be reached, and when each pair first listed the other. */
export interface Reach {
  storeId: number;
  /** From serving until the last pair below, ms. */
  ms: number;
  /** Per pair `<a>-><b>`: ms from serving until store a first listed store b as a member. */
  pairs: Record<string, number>;
}

/** The device's own store id once it serves (undefined while it opens). */
async function servingId(d: Polled): Promise<{ id: number | undefined; members: number[] }> {
  const st: BrowserStatus = await d.run(() => window.harness.status(), undefined);
  return { id: st.opened === 'opening' ? undefined : st.localStoreId, members: st.members ?? [] };
}

/**
 * Polls `device` until it serves (within `openMsMax`), then it and `others` (devices whose
 * stores serve or will) until `device`'s store and each other store list each other as
 * members. Throws when that takes more than `timeoutMs`, naming the pairs still missing.
 */
export async function reachMs(device: Polled, others: readonly Polled[], timeoutMs: number, openMsMax: number): Promise<Reach> {
  const openBy = performance.now() + openMsMax;
  let own = await servingId(device);
  while (own.id === undefined) {
    if (performance.now() > openBy) throw new Error(`${device.name}: not serving within ${openMsMax} ms`);
    await new Promise((r) => setTimeout(r, REACH_POLL_MS));
    own = await servingId(device);
  }
  const servingAt = performance.now();
  const storeId = own.id;
  const pairs: Record<string, number> = {};
  /** Each other store's id and the time its pairs count from. */
  const seen = new Map<Polled, { id: number; since: number }>();
  for (let poll = 0; ; poll++) {
    const views = await Promise.all([device, ...others].map((d) => servingId(d)));
    const now = performance.now();
    // Serving at the first poll: counted from `device` serving; else from when it was seen to.
    for (const [i, d] of others.entries()) if (views[i + 1].id !== undefined && !seen.has(d)) seen.set(d, { id: views[i + 1].id!, since: poll === 0 ? servingAt : now });
    for (const [d, { id, since }] of seen) {
      // Counted from the later of the two stores serving (two joiners serve at different times).
      const at = Math.round(now - since);
      if (views[0].members.includes(id)) pairs[`${storeId}->${id}`] ??= at;
      // Another store may still list a restarted one over its old link (until its keepalive
      // drops it): its listing counts once the store itself lists that one.
      if (views[others.indexOf(d) + 1].members.includes(storeId) && pairs[`${storeId}->${id}`] !== undefined) pairs[`${id}->${storeId}`] ??= at;
    }
    const late: string[] = [];
    for (const d of others) {
      const s = seen.get(d);
      if (s === undefined) {
        if (now > openBy) late.push(`${d.name} (not serving)`);
        continue;
      }
      const due = s.since + timeoutMs;
      for (const k of [`${storeId}->${s.id}`, `${s.id}->${storeId}`]) if (pairs[k] === undefined && now > due) late.push(k);
    }
    if (late.length > 0) throw new Error(`store ${storeId} (${device.name}): not reached within ${timeoutMs} ms of serving: ${late.join(', ')}; reached: ${JSON.stringify(pairs)}`);
    if (others.every((d) => seen.has(d) && pairs[`${storeId}->${seen.get(d)!.id}`] !== undefined && pairs[`${seen.get(d)!.id}->${storeId}`] !== undefined)) {
      return { storeId, ms: Math.max(0, ...Object.values(pairs)), pairs };
    }
    await new Promise((r) => setTimeout(r, REACH_POLL_MS));
  }
}

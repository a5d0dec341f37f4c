/**
 * A tab's transactions and the host's serving of their commits run on injected time and chance
 * (`TabTxns` options, `TabServing.clock`), so the simulator's tabs stay in virtual time: the
 * commit's `beganAgoMs` is measured on the tab's clock, the host turns it back into a start on
 * its client's clock, and a conflict's backoff sleeps on the tab's clock with its jitter.
 */
import { describe, expect, it } from 'vitest';
import { ManualTimers } from '@peerkv/transport';
import { PeerKVError, runTransaction, type PeerKV } from '../src/index.ts';
import { TAB_VALUE_CHECKS, TabTxns, serveClient, type ClientCall, type ClientRequest, type TabWriter } from '../src/browser/index.ts';

describe('tab transactions on an injected clock', () => {
  it('measures beganAgoMs on the tab clock and backs off on it with the injected jitter', async () => {
    const clock = new ManualTimers();
    clock.advance(1_000_000);
    const sent: ClientRequest[] = [];
    let commits = 0;
    const request = (async (req: ClientRequest) => {
      sent.push(req);
      if (req.type === 'getTimestamp') return BigInt(sent.length);
      if (req.type === 'commitTxn' && commits++ === 0) {
        clock.advance(250);
        throw new PeerKVError('WriteConflict', 'conflict');
      }
      return { commitTs: 99n, onePc: true };
    }) as ClientCall;
    const draws: number[] = [];
    const txns = new TabTxns(request, { clock, random: () => (draws.push(0.5), 0.5) });
    const run = runTransaction(txns.backend(), TAB_VALUE_CHECKS, async (tx) => tx.put(new Uint8Array([1]), new Uint8Array([2])));
    // The re-run waits its backoff on the manual clock: advance until it commits.
    for (let i = 0; i < 100 && commits < 2; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(10);
    }
    const r = await run;
    expect(r.info.commitTs).toBe(99n);
    expect(r.info.attempts).toBe(2);
    expect(draws.length).toBeGreaterThan(0);
    const firstCommit = sent.find((q) => q.type === 'commitTxn') as Extract<ClientRequest, { type: 'commitTxn' }>;
    // Begun and committed at the same manual instant: 0 ms ago (on Date.now it would be far off).
    expect(firstCommit.beganAgoMs).toBe(0);
  });

  it('serveClient turns beganAgoMs into a start on the injected clock', async () => {
    const clock = new ManualTimers();
    clock.advance(5_000);
    let began: number | undefined;
    const kv = {
      commitMutations: async (_ts: bigint, _m: unknown, o: { beganAtMs?: number }) => {
        began = o.beganAtMs;
        return { commitTs: 7n, onePc: true };
      },
    } as unknown as PeerKV;
    const req: ClientRequest = { type: 'commitTxn', startTs: 3n, mutations: [{ op: 'put', key: new Uint8Array([1]), value: new Uint8Array([1]) }], beganAgoMs: 1_200 };
    await serveClient(kv, {} as TabWriter, req, {}, clock);
    expect(began).toBe(3_800);
  });
});

/**
 * Failover (issue 16): a remote store's attempts wait the RTO its measured response times
 * give (RFC 6298), within bounds, backing off when unanswered; the transport's slack is
 * measured too; and a leader change the process's own store learns ends the attempts still
 * waiting on another store for that region's leader, naming the new leader.
 */
import { describe, expect, it } from 'vitest';
import { RpcError, decodeStoreRequest, encodeStoreResponse, type StoreRequest, type StoreResponse } from '@peerkv/store';
import { RemoteKvService, RemoteStoreResolver, codec, type RpcRequester } from '../src/index.ts';
import { ATTEMPT_TIMEOUT_MS_MIN, AttemptTimeout, TRANSPORT_SLACK_MS_MAX, TRANSPORT_SLACK_MS_MIN } from '../src/remote/attempt-timeout.ts';

const t = codec.text;
const epoch = { confVer: 1, version: 1 };
const unitOk = (): Uint8Array => encodeStoreResponse({ type: 'unit', result: { ok: true, value: undefined } } satisfies StoreResponse);
const del = [{ type: 'delete' as const, cf: 'default', key: t('k') }];

describe('AttemptTimeout', () => {
  it("is the caller's timeout until an answer is measured, then the RTO within its bounds", () => {
    const a = new AttemptTimeout();
    expect(a.attemptMs(2000)).toBe(2000);
    expect(a.slackMs()).toBe(TRANSPORT_SLACK_MS_MAX);
    for (let i = 0; i < 20; i++) a.answered(5);
    // Fast answers: the floor, and the slack's floor.
    expect(a.attemptMs(2000)).toBe(ATTEMPT_TIMEOUT_MS_MIN);
    expect(a.slackMs()).toBe(TRANSPORT_SLACK_MS_MIN);
    const slow = new AttemptTimeout();
    for (let i = 0; i < 50; i++) slow.answered(i % 2 === 0 ? 200 : 400);
    // srtt about 300, rttvar about 100: rto about 700.
    expect(slow.attemptMs(2000)).toBeGreaterThan(600);
    expect(slow.attemptMs(2000)).toBeLessThan(800);
    expect(slow.attemptMs(500)).toBe(500);
  });

  it('doubles after each unanswered attempt, up to the caller, and an answer ends the backoff', () => {
    const a = new AttemptTimeout();
    for (let i = 0; i < 20; i++) a.answered(100);
    const base = a.attemptMs(10_000);
    a.unanswered();
    expect(a.attemptMs(10_000)).toBe(2 * base);
    a.unanswered();
    expect(a.attemptMs(10_000)).toBe(4 * base);
    expect(a.attemptMs(3 * base)).toBe(3 * base);
    a.answered(100);
    expect(a.attemptMs(10_000)).toBe(base);
  });

  it('ignores samples that are no time', () => {
    const a = new AttemptTimeout();
    a.answered(NaN);
    a.answered(-1);
    expect(a.smoothedMs).toBeUndefined();
  });
});

/** A requester that records each request's store-side and transport timeouts and answers with `answer`. */
function recording(answer: (o: { signal?: AbortSignal }) => Promise<Uint8Array>): RpcRequester & { sent: { storeMs: number | undefined; transportMs: number | undefined }[] } {
  const sent: { storeMs: number | undefined; transportMs: number | undefined }[] = [];
  return {
    sent,
    request: async (_to, payload, o) => {
      const q = decodeStoreRequest(payload) as StoreRequest & { timeoutMs?: number };
      sent.push({ storeMs: q.timeoutMs, transportMs: o?.timeoutMs });
      return answer(o ?? {});
    },
  };
}

/** Never answers; rejects `Aborted` when its signal fires (as the transport's RPC does). */
const silent = (o: { signal?: AbortSignal }): Promise<Uint8Array> =>
  new Promise((_, reject) => o.signal?.addEventListener('abort', () => reject(new RpcError('Aborted', 'aborted by the caller')), { once: true }));

describe('RemoteKvService attempts', () => {
  it('a write waits the measured RTO (told to the store) plus the measured slack, not the fixed timeout plus a second', async () => {
    let ms = 0;
    const r = recording(async () => unitOk());
    const v = new RemoteKvService(2, r, { requestTimeoutMs: 2000, now: () => ms });
    await v.write(1, epoch, 'c', 1, del);
    expect(r.sent[0]).toEqual({ storeMs: 2000, transportMs: 2000 + TRANSPORT_SLACK_MS_MAX });
    // Answers measured at 0 ms (the fake clock does not move): floor and floor.
    await v.write(1, epoch, 'c', 2, del);
    expect(r.sent[1]).toEqual({ storeMs: ATTEMPT_TIMEOUT_MS_MIN, transportMs: ATTEMPT_TIMEOUT_MS_MIN + TRANSPORT_SLACK_MS_MIN });
    // A scan is not RTO-bounded: the caller's timeout, with the measured slack.
    await v.scan(1, epoch, { start: t(''), limit: 5 }).catch(() => undefined);
    expect(r.sent[2].transportMs).toBe(2000 + TRANSPORT_SLACK_MS_MIN);
    ms = 0;
  });

  it('an unanswered write doubles the next attempt', async () => {
    let fail = false;
    const r = recording(async () => {
      if (fail) throw new RpcError('Timeout', 'no answer');
      return unitOk();
    });
    const v = new RemoteKvService(2, r, { requestTimeoutMs: 2000, now: () => 0 });
    await v.write(1, epoch, 'c', 1, del);
    fail = true;
    expect(await v.write(1, epoch, 'c', 2, del)).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
    await v.write(1, epoch, 'c', 3, del);
    expect(r.sent.map((x) => x.storeMs)).toEqual([2000, ATTEMPT_TIMEOUT_MS_MIN, 2 * ATTEMPT_TIMEOUT_MS_MIN]);
  });

  it("a leader elsewhere, as the own store learned it, ends a write's wait with MaybeCommitted naming it", async () => {
    let tell: ((n: { regionId: number; leader: { id: number; storeId: number; role: 'voter' }; term: number }) => void) | undefined;
    const resolver = new RemoteStoreResolver(recording(silent), { requestTimeoutMs: 60_000, leaderNews: (l) => ((tell = l), () => undefined) });
    const dead = resolver.remote(2);
    const pending = dead.write(1, epoch, 'c', 1, del);
    const stale = dead.handle({ type: 'txnStaleGet', regionId: 1, epoch, key: t('k'), timeoutMs: 60_000 });
    const other = dead.write(9, epoch, 'c', 2, del);
    await new Promise((r) => setTimeout(r, 10));
    // News naming the store asked changes nothing; news naming another store ends the region's leader waits.
    tell!({ regionId: 1, leader: { id: 21, storeId: 2, role: 'voter' }, term: 3 });
    tell!({ regionId: 1, leader: { id: 31, storeId: 3, role: 'voter' }, term: 4 });
    expect(await pending).toEqual({ ok: false, error: { kind: 'MaybeCommitted', regionId: 1, leaderHint: { id: 31, storeId: 3, role: 'voter' } } });
    // A stale read (any replica serves it) and another region's write still wait.
    const settled = await Promise.race([stale.then(() => 'stale'), other.then(() => 'other'), new Promise((r) => setTimeout(() => r('waiting'), 50))]);
    expect(settled).toBe('waiting');
    tell!({ regionId: 9, leader: { id: 93, storeId: 3, role: 'voter' }, term: 2 });
    expect(await other).toMatchObject({ ok: false, error: { kind: 'MaybeCommitted', leaderHint: { storeId: 3 } } });
  });
});

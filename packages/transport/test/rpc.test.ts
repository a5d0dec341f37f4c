/**
 * Request/response over the link engine (in-process pipes): round trips both ways, chunked
 * payloads, out-of-order answers, every `RpcError` kind, membership (no request is served
 * from an unauthenticated link) and the counters.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePackets } from '../src/chunking.ts';
import { RpcError, type RpcErrorKind } from '../src/rpc.ts';
import { ManualTimers } from '../src/timers.ts';
import type { LinkTransportOptions } from '../src/link-transport.ts';
import { connect, PipeLink, sendSealed, TestTransport, testKeys, until } from './helpers.ts';

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);

async function transport(id: number, o: Partial<LinkTransportOptions> = {}, secret = 's3cret'): Promise<TestTransport> {
  return new TestTransport({ localStoreId: id, keys: await testKeys('c1', secret), ...o });
}

async function up(a: TestTransport, b: TestTransport): Promise<[PipeLink, PipeLink]> {
  const links = connect(a, b);
  await until(() => a.peers().includes(b.localStoreId) && b.peers().includes(a.localStoreId));
  return links;
}

/** The kind a request rejects with (fails the test if it resolves or throws anything else). */
async function kindOf(p: Promise<unknown>): Promise<RpcErrorKind> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcError) return e.kind;
    throw e;
  }
  throw new Error('request resolved');
}

/** A handler that echoes the payload with the caller's store id appended. */
function echo(t: TestTransport): void {
  t.onRequest(async (from, payload) => new Uint8Array([...payload, from]));
}

describe('Transport request/response', () => {
  it('round-trips requests both ways, concurrently, each answered by its own response', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    echo(a);
    // b answers in reverse order of arrival: responses must still match their requests.
    const held: (() => void)[] = [];
    b.onRequest((from, payload) => new Promise((resolve) => held.push(() => resolve(new Uint8Array([...payload, from, 99])))));
    await up(a, b);
    const fromA = Array.from({ length: 50 }, (_, i) => a.request(2, bytes(i)));
    const fromB = Array.from({ length: 50 }, (_, i) => b.request(1, bytes(i, i)));
    await until(() => held.length === 50);
    for (const release of held.reverse()) release();
    expect(await Promise.all(fromA)).toEqual(Array.from({ length: 50 }, (_, i) => bytes(i, 1, 99)));
    expect(await Promise.all(fromB)).toEqual(Array.from({ length: 50 }, (_, i) => bytes(i, i, 2)));
    const c = a.counters().rpc;
    expect(c).toEqual({ requestsSent: 50, requestsSucceeded: 50, requestsFailed: 0, requestsServed: 50, requestsRefused: 0, requestsRefusedPeerBusy: 0, responsesUnmatched: 0 });
  });

  it('carries payloads larger than a chunk both ways', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    b.onRequest(async (_from, payload) => payload.map((x) => x ^ 0xff));
    await up(a, b);
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    const got = await a.request(2, big);
    expect(got.length).toBe(big.length);
    expect(got.every((x, i) => x === (big[i] ^ 0xff))).toBe(true);
  });

  it('a request made while the link authenticates is sent once it is up', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    echo(b);
    connect(a, b);
    expect(a.peers()).toEqual([]);
    expect(await a.request(2, bytes(7))).toEqual(bytes(7, 1));
  });

  it('fails Unreachable without a link, and when the link drops before the answer', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    expect(await kindOf(a.request(3, bytes(1)))).toBe('Unreachable');
    b.onRequest(() => new Promise(() => {}));
    const [la] = await up(a, b);
    const pending = a.request(2, bytes(1));
    await until(() => b.counters().rpc.requestsServed === 1);
    la.close();
    expect(await kindOf(pending)).toBe('Unreachable');
  });

  it('times out after timeoutMs; the late answer is counted as unmatched', async () => {
    const timers = new ManualTimers();
    const [a, b] = [await transport(1, { timers, rpcLimits: { requestTimeoutMs: 500 } }), await transport(2)];
    const answers = new Map<number, (b: Uint8Array) => void>();
    b.onRequest((_f, p) => new Promise((resolve) => answers.set(p[0], resolve)));
    await up(a, b);
    const p = a.request(2, bytes(1));
    const q = a.request(2, bytes(2), { timeoutMs: 100 });
    await until(() => answers.size === 2);
    timers.advance(100);
    expect(await kindOf(q)).toBe('Timeout');
    timers.advance(399);
    answers.get(1)!(bytes(5));
    expect(await p).toEqual(bytes(5)); // the default 500 ms had not passed
    answers.get(2)!(bytes(6)); // too late
    await until(() => a.counters().rpc.responsesUnmatched === 1);
    const r = a.request(2, bytes(3));
    await until(() => answers.size === 3);
    timers.advance(500);
    expect(await kindOf(r)).toBe('Timeout');
    expect(a.counters().rpc).toMatchObject({ requestsSent: 3, requestsSucceeded: 1, requestsFailed: 2 });
  });

  it('rejects Aborted when the signal fires, before or after sending', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    b.onRequest(() => new Promise(() => {}));
    await up(a, b);
    const ac = new AbortController();
    const p = a.request(2, bytes(1), { signal: ac.signal });
    ac.abort();
    expect(await kindOf(p)).toBe('Aborted');
    expect(await kindOf(a.request(2, bytes(1), { signal: ac.signal }))).toBe('Aborted');
  });

  it('answers RemoteFailed when the handler throws, rejects or is missing', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    await up(a, b);
    expect(await kindOf(a.request(2, bytes(1)))).toBe('RemoteFailed'); // no handler yet
    const off = b.onRequest(async (_f, p) => {
      if (p[0] === 1) throw new Error('x'.repeat(10_000)); // a long message is clipped, not fatal
      if (p[0] === 2) return Promise.reject(new Error('nope'));
      throw 'not an Error';
    });
    expect(await kindOf(a.request(2, bytes(1)))).toBe('RemoteFailed');
    expect(await kindOf(a.request(2, bytes(2)))).toBe('RemoteFailed');
    expect(await kindOf(a.request(2, bytes(3)))).toBe('RemoteFailed');
    off();
    expect(await kindOf(a.request(2, bytes(1)))).toBe('RemoteFailed');
    expect(a.peers()).toEqual([2]); // none of this hurt the link
    expect(b.counters().rpc.requestsRefused).toBe(2);
  });

  it('enforces payload limits here and at the remote', async () => {
    const a = await transport(1, { rpcLimits: { requestBytesMax: 1000 } });
    const b = await transport(2, { rpcLimits: { requestBytesMax: 100, responseBytesMax: 50 } });
    b.onRequest(async (_f, p) => new Uint8Array(p[0]));
    await up(a, b);
    expect(await kindOf(a.request(2, new Uint8Array(1001)))).toBe('PayloadTooLarge'); // ours
    expect(await kindOf(a.request(2, new Uint8Array(101)))).toBe('PayloadTooLarge'); // theirs
    expect(await kindOf(a.request(2, bytes(51)))).toBe('PayloadTooLarge'); // their response
    expect((await a.request(2, bytes(50))).length).toBe(50);
  });

  it('payload limits never exceed what one frame can carry', async () => {
    const a = await transport(1, { chunkLimits: { frameBytesMax: 4096 }, rpcLimits: { requestBytesMax: 1 << 30 } });
    const b = await transport(2, { chunkLimits: { frameBytesMax: 4096 } });
    b.onRequest(async (_f, p) => new Uint8Array(p.length * 2));
    await up(a, b);
    expect(await kindOf(a.request(2, new Uint8Array(4096)))).toBe('PayloadTooLarge'); // refused here, not sent
    expect(await kindOf(a.request(2, new Uint8Array(3000)))).toBe('PayloadTooLarge'); // 6000-byte answer refused there
    expect((await a.request(2, new Uint8Array(1000))).length).toBe(2000);
    expect(a.peers()).toEqual([2]); // no frame over the limit ever hit the link
    expect(a.counters().drops.reassembly + b.counters().drops.reassembly).toBe(0);
  });

  it('holds requests and responses while the link buffer is over the mark, sends them on drain', async () => {
    const timers = new ManualTimers();
    const a = await transport(1, { timers, bufferedAmountHighBytes: 1000 });
    const b = await transport(2);
    echo(b);
    const [la] = await up(a, b);
    la.buffered = 5000;
    const p = a.request(2, bytes(1));
    await new Promise((r) => setTimeout(r, 5));
    expect(b.counters().rpc.requestsServed).toBe(0);
    expect(a.counters().backpressurePauses).toBe(1);
    la.buffered = 0;
    la.handle?.drained();
    expect(await p).toEqual(bytes(1, 1));
  });

  it('bounds requests in flight here (pendingRequestsMax) and served there (servingRequestsMax)', async () => {
    const a = await transport(1, { rpcLimits: { pendingRequestsMax: 3 } });
    const b = await transport(2, { rpcLimits: { servingRequestsMax: 2 } });
    const held: (() => void)[] = [];
    b.onRequest((_f, p) => new Promise((resolve) => held.push(() => resolve(p))));
    await up(a, b);
    const ps = [a.request(2, bytes(1)), a.request(2, bytes(2)), a.request(2, bytes(3))];
    expect(await kindOf(a.request(2, bytes(4)))).toBe('TooManyPending'); // ours
    expect(await kindOf(ps[2])).toBe('TooManyPending'); // theirs: two are being served
    for (const release of held) release();
    expect(await Promise.all(ps.slice(0, 2))).toEqual([bytes(1), bytes(2)]);
    const again = a.request(2, bytes(5)); // both slots are free again
    await until(() => held.length === 3);
    held[2]();
    expect(await again).toEqual(bytes(5));
  });

  it('one peer cannot take every serving slot (servingRequestsPerPeerMax): its excess is refused TooManyPending, counted', async () => {
    const b = await transport(2, { rpcLimits: { servingRequestsMax: 8, servingRequestsPerPeerMax: 3 } });
    const [greedy, other] = [await transport(1), await transport(3)];
    const held: (() => void)[] = [];
    b.onRequest((_f, p) => new Promise((resolve) => held.push(() => resolve(p))));
    await up(greedy, b);
    await up(other, b);
    const flood = Array.from({ length: 8 }, (_, i) => greedy.request(2, bytes(i)).then(() => 'ok', (e: unknown) => (e instanceof RpcError ? e.kind : 'untyped')));
    await until(() => b.counters().rpc.requestsRefused === 5);
    expect(b.counters().rpc.requestsRefusedPeerBusy).toBe(5);
    // Another peer is still served while the greedy one holds its three.
    const fair = other.request(2, bytes(9));
    await until(() => held.length === 4);
    for (const release of held) release();
    expect(await fair).toEqual(bytes(9));
    const outcomes = await Promise.all(flood);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(3);
    expect(outcomes.filter((o) => o === 'TooManyPending')).toHaveLength(5);
    // The slots are released: the greedy peer is served again.
    const again = greedy.request(2, bytes(7));
    await until(() => held.length === 5);
    held[4]();
    expect(await again).toEqual(bytes(7));
  });

  it('close fails pending requests Closed and refuses new ones', async () => {
    const [a, b] = [await transport(1), await transport(2)];
    b.onRequest(() => new Promise(() => {}));
    await up(a, b);
    const p = a.request(2, bytes(1));
    a.close();
    expect(await kindOf(p)).toBe('Closed');
    expect(await kindOf(a.request(2, bytes(1)))).toBe('Closed');
  });

  it('a store with the wrong secret is never served; its held request fails Unreachable', async () => {
    const a = await transport(1);
    const evil = await transport(2, {}, 'wrong');
    let served = 0;
    a.onRequest(async (_f, p) => {
      served++;
      return p;
    });
    connect(a, evil);
    expect(await kindOf(evil.request(1, bytes(1)))).toBe('Unreachable');
    expect(served).toBe(0);
  });

  it('drops and counts request frames on a link that has not authenticated', async () => {
    const a = await transport(1);
    let served = 0;
    a.onRequest(async (_f, p) => {
      served++;
      return p;
    });
    const rogue = new PipeLink();
    const h = a.attach(9, rogue);
    for (const p of encodePackets({ type: 'rpcRequest', requestId: 1, payload: bytes(1) }, 16 * 1024)) h.receive(p);
    for (const p of encodePackets({ type: 'rpcResponse', requestId: 1, result: { ok: true, payload: bytes(1) } }, 16 * 1024)) h.receive(p);
    await until(() => a.counters().drops.unauthenticated === 2);
    expect(served).toBe(0);
    // Only the hello went out: no response to the rogue request.
    expect(rogue.sent.length).toBe(1);
  });

  it('ignores a response from a store the request did not go to', async () => {
    const [a, b, c] = [await transport(1), await transport(2), await transport(3)];
    b.onRequest(() => new Promise(() => {}));
    await up(a, b);
    const [lac] = await up(a, c);
    const p = a.request(2, bytes(1), { timeoutMs: 200 });
    await until(() => b.counters().rpc.requestsServed === 1);
    // Store 3 forges an answer to request id 1 on its own (authenticated) link.
    const forged = encodePackets({ type: 'rpcResponse', requestId: 1, result: { ok: true, payload: bytes(66) } }, 16 * 1024);
    await sendSealed(await testKeys('c1', 's3cret'), lac.peer as PipeLink, 3, 1, forged);
    await until(() => a.counters().rpc.responsesUnmatched === 1);
    expect(await kindOf(p)).toBe('Timeout');
  });

  it('an authenticated peer sending arbitrary rpc frames never breaks the engine', async () => {
    const frame = fc.oneof(
      fc.record({ type: fc.constant('rpcRequest' as const), requestId: fc.nat(20), payload: fc.uint8Array({ maxLength: 16 }) }),
      fc.record({
        type: fc.constant('rpcResponse' as const),
        requestId: fc.nat(20),
        result: fc.oneof(
          fc.uint8Array({ maxLength: 16 }).map((payload) => ({ ok: true as const, payload })),
          fc.constantFrom('RemoteFailed' as const, 'PayloadTooLarge' as const, 'TooManyPending' as const).map((error) => ({ ok: false as const, error, message: 'x' })),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { maxLength: 20 }), fc.nat(5), async (frames, ownRequests) => {
        const [a, b] = [await transport(1, { rpcLimits: { requestTimeoutMs: 50 } }), await transport(2)];
        echo(a);
        b.onRequest(() => new Promise(() => {})); // a's own requests only ever get forged answers
        const [, lb] = await up(a, b);
        const mine = Array.from({ length: ownRequests }, (_, i) => a.request(2, bytes(i)).then(() => 'ok', (e: unknown) => (e instanceof RpcError ? e.kind : 'untyped')));
        await sendSealed(await testKeys('c1', 's3cret'), lb, 2, 1, frames.flatMap((f) => encodePackets(f, 16 * 1024)));
        const outcomes = await Promise.all(mine);
        expect(outcomes.every((o) => ['ok', 'Timeout', 'RemoteFailed', 'PayloadTooLarge', 'TooManyPending'].includes(o))).toBe(true);
        expect(a.peers()).toEqual([2]);
        // Sealed packets are checked asynchronously: wait for them, then nothing more may come.
        const requests = frames.filter((f) => f.type === 'rpcRequest').length;
        await until(() => a.counters().rpc.requestsServed >= requests);
        await new Promise((r) => setTimeout(r, 5));
        expect(a.counters().rpc.requestsServed).toBe(requests);
        a.close();
        b.close();
      }),
      { numRuns: 40 },
    );
  });
});

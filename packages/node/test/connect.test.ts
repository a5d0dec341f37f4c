/**
 * `PeerKV.connect`'s options (typed `InvalidArgument` before anything opens, defaults, limits)
 * and its timeout when no store answers. The connected client itself runs in
 * tests/e2e/node/peerkv-cli.test.ts (real WebRTC between processes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SignalingServer } from '@peerkv/signaling';
import { PeerKVError, decodeInvite, encodeInvite } from 'peerkv';
import { BROWSER_DATA_MODEL_DEFAULT } from 'peerkv/browser';
import { CONNECT_DATA_MODEL_DEFAULT, CONNECT_TIMEOUT_MS_DEFAULT, ICE_SERVERS_MAX, PeerKV, checkConnectOptions, type ConnectOptions } from '../src/index.ts';

const base: ConnectOptions = { cluster: 'c', secret: 's', signaling: 'ws://127.0.0.1:4444' };

describe('checkConnectOptions', () => {
  it('fills the defaults: mvcc like the browser runtime, no ICE servers', () => {
    expect(CONNECT_DATA_MODEL_DEFAULT).toBe(BROWSER_DATA_MODEL_DEFAULT);
    expect(checkConnectOptions(base)).toEqual({ ...base, iceServers: [], iceTransportPolicy: 'all', dataModel: 'mvcc', anchors: [], connectTimeoutMs: CONNECT_TIMEOUT_MS_DEFAULT, requestTimeoutMs: 2000, pdBudgetMs: 10_000 });
    expect(checkConnectOptions({ ...base, signaling: 'wss://example.org/signal', dataModel: 'raw', iceServers: [{ urls: ['stun:h:3478', 'turn:h:3478?transport=udp'], username: 'u', credential: 'p' }] })).toMatchObject({ dataModel: 'raw' });
    expect(checkConnectOptions({ ...base, iceServers: [{ urls: 'turn:h:3478', username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' }).iceTransportPolicy).toBe('relay');
    // An invite's fields as they are: anchors included.
    const anchors = [{ storeId: 1, publicKey: new Uint8Array(65).fill(4) }];
    const invite = decodeInvite(encodeInvite({ cluster: 'c', secret: 's', signaling: ['ws://127.0.0.1:4444'], anchors }));
    expect(checkConnectOptions({ ...invite }).anchors).toEqual(anchors);
    // Several processes of one signaling deployment, tried in turn.
    expect(checkConnectOptions({ ...base, signaling: ['ws://a:4444', 'wss://b/signal'] }).signaling).toEqual(['ws://a:4444', 'wss://b/signal']);
  });

  it('refuses bad options with PeerKVError InvalidArgument naming them', () => {
    const cases: [Partial<ConnectOptions> & Record<string, unknown>, RegExp][] = [
      [{ secret: '' }, /needs a secret/],
      [{ secret: undefined }, /needs a secret/],
      [{ signaling: 'http://127.0.0.1:4444' }, /ws:\/\/ or wss:\/\//],
      [{ signaling: 'not a url' }, /ws:\/\/ or wss:\/\//],
      [{ signaling: ['ws://a:1', 'http://b:2'] }, /ws:\/\/ or wss:\/\//],
      [{ signaling: [] }, /1\.\.8 URLs, got 0/],
      [{ signaling: Array(9).fill('ws://a:1') }, /1\.\.8 URLs, got 9/],
      [{ cluster: '' }, /cluster must be a name/],
      [{ cluster: 'x'.repeat(257) }, /cluster must be a name/],
      [{ iceServers: [{ urls: 'http://h' }] }, /stun:, stuns:, turn: or turns:/],
      [{ iceServers: Array(ICE_SERVERS_MAX + 1).fill({ urls: 'stun:h' }) }, /at most 8/],
      [{ dataModel: 'kv' as never }, /dataModel is 'raw' or 'mvcc'/],
      [{ iceTransportPolicy: 'none' as never }, /iceTransportPolicy is 'all' or 'relay'/],
      [{ iceTransportPolicy: 'relay', iceServers: [{ urls: 'stun:h:3478' }] }, /'relay' needs a turn: or turns: server/],
      [{ connectTimeoutMs: 0 }, /connectTimeoutMs must be an integer/],
      [{ requestTimeoutMs: 1.5 }, /requestTimeoutMs must be an integer/],
      [{ anchors: {} as never }, /anchors must be a list/],
      [{ anchors: [null] as never }, /anchors: an anchor is/],
      [{ anchors: [{ storeId: 1, publicKey: new Uint8Array(64) }] }, /anchors: anchored key of store 1 is not 65 bytes/],
      [{ anchors: Array.from({ length: 8 }, (_, i) => ({ storeId: i + 1, publicKey: new Uint8Array(65) })) }, /anchors: at most 7/],
    ];
    for (const [o, msg] of cases) {
      let caught: unknown;
      try {
        checkConnectOptions({ ...base, ...o } as ConnectOptions);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(o)).toBeInstanceOf(PeerKVError);
      expect((caught as PeerKVError).kind).toBe('InvalidArgument');
      expect((caught as PeerKVError).message).toMatch(msg);
    }
  });
});

describe('PeerKV.connect', () => {
  const signaling = new SignalingServer();
  afterAll(() => signaling.close());

  it('rejects bad options before opening anything', async () => {
    await expect(PeerKV.connect({ ...base, secret: '' })).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });

  it('rejects Unavailable when no store of the cluster answers within connectTimeoutMs', async () => {
    const { port } = await signaling.listen(0, '127.0.0.1');
    const t0 = performance.now();
    const err = await PeerKV.connect({ cluster: 'nobody-here', secret: 's', signaling: `ws://127.0.0.1:${port}`, connectTimeoutMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerKVError);
    expect((err as PeerKVError).kind).toBe('Unavailable');
    expect((err as PeerKVError).message).toMatch(/no store connected/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

/**
 * The `peerkv-store` command line: required flags, repeated labels and ICE servers,
 * integer flags, typed usage errors, `--help`.
 */
import { describe, expect, it } from 'vitest';
import { deriveWitnessCredential, signProof } from '@peerkv/transport';
import { STORE_CLI_USAGE, StoreCliUsageError, iceServersOf, parseStoreArgs, storeKeys, wantsHelp } from '../src/cli.ts';
import { runCli } from '../src/peerkv-cli/main.ts';
import { encodeInvite } from 'peerkv';

const base = ['--data', '/tmp/x', '--cluster', 'c', '--secret', 's', '--signaling', 'ws://127.0.0.1:4444'];

describe('parseStoreArgs', () => {
  it('parses flags with defaults', () => {
    expect(parseStoreArgs(base)).toEqual({ data: '/tmp/x', cluster: 'c', secret: 's', signaling: 'ws://127.0.0.1:4444', bootstrap: false, witness: false, labels: {}, ice: [], tickMs: 100, drainWaitMs: 1000, bootstrapProbeMs: 3000, dataModel: 'mvcc' });
    const o = parseStoreArgs([...base, '--bootstrap', '--label', 'device=a', '--label', 'zone=z=1', '--ice', 'stun:h:3478', '--tick-ms', '50', '--bootstrap-probe-ms', '0', '--address', 'me', '--data-model', 'raw']);
    expect(o).toMatchObject({ bootstrap: true, labels: { device: 'a', zone: 'z=1' }, ice: ['stun:h:3478'], tickMs: 50, bootstrapProbeMs: 0, address: 'me', dataModel: 'raw' });
    expect(parseStoreArgs([...base, '--operator-secret', 'op']).operatorSecret).toBe('op');
    expect(parseStoreArgs([...base, '--witness'])).toMatchObject({ witness: true, bootstrap: false });
    expect(parseStoreArgs([...base, '--replica-engines-min', '2']).replicaEnginesMin).toBe(2);
    expect(parseStoreArgs([...base, '--rotate-data-key', '3']).rotateDataKey).toBe(3);
  });

  it('refuses missing, unknown and malformed flags', () => {
    for (const argv of [base.slice(2), [...base, '--nope', '1'], [...base, '--label', 'novalue'], [...base, '--tick-ms', '0'], [...base, '--data'], [...base, '--data-model', 'kv'], [...base, '--witness', '--bootstrap'], [...base, '--replica-engines-min', '0'], [...base, '--replica-engines-min', '5'], [...base, '--rotate-data-key', '0'], [...base, '--rotate-data-key', String(2 ** 32)], [...base, '--witness', '--rotate-data-key', '1']]) {
      expect(() => parseStoreArgs(argv)).toThrow(StoreCliUsageError);
    }
  });

  it('takes TURN credentials and a relay-only policy, and refuses them without a turn: server', () => {
    const o = parseStoreArgs([...base, '--ice', 'stun:h:3478', '--ice', 'turn:127.0.0.1:3478?transport=udp', '--ice-username', 'u', '--ice-credential', 'p', '--ice-relay-only']);
    expect(o).toMatchObject({ iceCredentials: { username: 'u', credential: 'p' }, iceTransportPolicy: 'relay' });
    expect(iceServersOf(o)).toEqual([{ urls: 'stun:h:3478' }, { urls: 'turn:127.0.0.1:3478?transport=udp', username: 'u', credential: 'p' }]);
    expect(parseStoreArgs(base).iceTransportPolicy).toBeUndefined();
    const bad: [string[], RegExp][] = [
      [['--ice', 'turn:h:1', '--ice-username', 'u'], /go together/],
      [['--ice', 'stun:h:1', '--ice-username', 'u', '--ice-credential', 'p'], /are for a turn: or turns:/],
      [['--ice', 'stun:h:1', '--ice-relay-only'], /needs a turn: or turns:/],
      [['--ice-relay-only'], /needs a turn: or turns:/],
    ];
    for (const [extra, msg] of bad) expect(() => parseStoreArgs([...base, ...extra]), extra.join(' ')).toThrow(msg);
  });

  it('--invite gives the store an invite’s anchors; another cluster’s, a version 1 or a damaged invite is a usage error', () => {
    const anchors = [{ storeId: 1, publicKey: new Uint8Array(65).fill(4) }];
    const invite = (cluster: string, a?: typeof anchors) => encodeInvite({ cluster, secret: 's', signaling: ['ws://127.0.0.1:4444'], ...(a ? { anchors: a } : {}) });
    expect(parseStoreArgs([...base, '--invite', invite('c', anchors)]).anchors).toEqual(anchors);
    expect(parseStoreArgs([...base, '--invite', `https://example.org/#invite=${invite('c', anchors)}`]).anchors).toEqual(anchors);
    expect(parseStoreArgs(base).anchors).toBeUndefined();
    const bad: [string, RegExp][] = [
      [invite('other', anchors), /invite to cluster 'other', not --cluster 'c'/],
      [invite('c'), /version 1 invite: it anchors no keys/],
      ['peerkv2.!!!', /--invite: not a PeerKV invite/],
    ];
    for (const [code, msg] of bad) {
      expect(() => parseStoreArgs([...base, '--invite', code]), code).toThrow(StoreCliUsageError);
      expect(() => parseStoreArgs([...base, '--invite', code]), code).toThrow(msg);
    }
  });

  it('asks for help with -h or --help anywhere, and the usage names every flag', () => {
    expect(wantsHelp(['--help'])).toBe(true);
    expect(wantsHelp([...base, '-h'])).toBe(true);
    expect(wantsHelp(base)).toBe(false);
    const flags = ['--data', '--cluster', '--secret', '--signaling', '--bootstrap', '--bootstrap-probe-ms', '--label', '--ice', '--address', '--tick-ms', '--drain-wait-ms', '--max-store-down-ms', '--data-model', '--operator-secret', '--witness', '--witness-credential', '--ice-username', '--ice-credential', '--ice-relay-only'];
    for (const f of flags) expect(STORE_CLI_USAGE).toContain(`  ${f} `);
  });
});

describe('witness keys', () => {
  const SECRET = 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const noSecret = ['--data', '/tmp/x', '--cluster', 'c', '--signaling', 'ws://127.0.0.1:4444'];
  const proof = { verifierNonce: new Uint8Array(16).fill(1), proverNonce: new Uint8Array(16).fill(2), proverStoreId: 1, verifierStoreId: 2 };

  it('a witness runs on a credential without the secret, and only a witness does', async () => {
    const credential = await deriveWitnessCredential('c', SECRET);
    const o = parseStoreArgs([...noSecret, '--witness', '--witness-credential', credential]);
    expect(o.secret).toBeUndefined();
    const k = await storeKeys(o);
    // No data key at all, and the same link key a full member derives from the secret.
    expect(k.dataKey).toBeUndefined();
    const full = await storeKeys(parseStoreArgs([...noSecret, '--secret', SECRET]));
    expect(full.dataKey).toBeDefined();
    expect(await signProof(k.keys, proof)).toEqual(await signProof(full.keys, proof));
    expect(() => parseStoreArgs([...noSecret, '--witness-credential', credential])).toThrow(/for a --witness store/);
    expect(() => parseStoreArgs([...noSecret, '--witness', '--witness-credential', credential, '--secret', SECRET])).toThrow(/not both/);
    expect(() => parseStoreArgs([...noSecret, '--witness'])).toThrow(/--witness-credential \(or --secret\) is required/);
    await expect(storeKeys(parseStoreArgs([...noSecret.slice(0, 3), 'other', ...noSecret.slice(4), '--witness', '--witness-credential', credential]))).rejects.toThrow(/for cluster 'c', not 'other'/);
    await expect(storeKeys(parseStoreArgs([...noSecret, '--witness', '--witness-credential', 'pkw1.nonsense']))).rejects.toThrow(StoreCliUsageError);
  });

  it('--witness --secret derives the credential and drops the secret: still no data key', async () => {
    const o = parseStoreArgs([...noSecret, '--witness', '--secret', SECRET]);
    const lines: string[] = [];
    const k = await storeKeys(o, (l) => lines.push(l));
    expect(k.dataKey).toBeUndefined();
    expect(o.secret).toBeUndefined();
    expect(lines.join('\n')).toMatch(/holds no data key/);
  });

  it('peerkv witness-credential prints the credential offline, from flags or the environment', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), stdin: () => Promise.resolve('') };
    const neverConnect = () => Promise.reject(new Error('no connection expected'));
    expect(await runCli(['witness-credential', '--cluster', 'c', '--secret', SECRET], {}, io, neverConnect)).toBe(0);
    expect(await runCli(['witness-credential'], { PEERKV_CLUSTER: 'c', PEERKV_SECRET: SECRET }, io, neverConnect)).toBe(0);
    expect(out).toEqual([await deriveWitnessCredential('c', SECRET), await deriveWitnessCredential('c', SECRET)]);
    expect(out[0]).toMatch(/^pkw1\./);
    expect(await runCli(['witness-credential', '--cluster', 'c'], {}, io, neverConnect)).toBe(1);
    expect(err.join('\n')).toMatch(/needs --secret/);
  });
});

/**
 * The `peerkv-store` command line: required flags, repeated labels and ICE servers,
 * integer flags, typed usage errors, `--help`.
 */
import { describe, expect, it } from 'vitest';
import { STORE_CLI_USAGE, StoreCliUsageError, iceServersOf, parseStoreArgs, wantsHelp } from '../src/cli.ts';

const base = ['--data', '/tmp/x', '--cluster', 'c', '--secret', 's', '--signaling', 'ws://127.0.0.1:4444'];

describe('parseStoreArgs', () => {
  it('parses flags with defaults', () => {
    expect(parseStoreArgs(base)).toEqual({ data: '/tmp/x', cluster: 'c', secret: 's', signaling: 'ws://127.0.0.1:4444', bootstrap: false, witness: false, labels: {}, ice: [], tickMs: 100, drainWaitMs: 1000, bootstrapProbeMs: 3000, dataModel: 'mvcc' });
    const o = parseStoreArgs([...base, '--bootstrap', '--label', 'device=a', '--label', 'zone=z=1', '--ice', 'stun:h:3478', '--tick-ms', '50', '--bootstrap-probe-ms', '0', '--address', 'me', '--data-model', 'raw']);
    expect(o).toMatchObject({ bootstrap: true, labels: { device: 'a', zone: 'z=1' }, ice: ['stun:h:3478'], tickMs: 50, bootstrapProbeMs: 0, address: 'me', dataModel: 'raw' });
    expect(parseStoreArgs([...base, '--operator-secret', 'op']).operatorSecret).toBe('op');
    expect(parseStoreArgs([...base, '--witness'])).toMatchObject({ witness: true, bootstrap: false });
    expect(parseStoreArgs([...base, '--replica-engines-min', '2']).replicaEnginesMin).toBe(2);
  });

  it('refuses missing, unknown and malformed flags', () => {
    for (const argv of [base.slice(2), [...base, '--nope', '1'], [...base, '--label', 'novalue'], [...base, '--tick-ms', '0'], [...base, '--data'], [...base, '--data-model', 'kv'], [...base, '--witness', '--bootstrap'], [...base, '--replica-engines-min', '0'], [...base, '--replica-engines-min', '5']]) {
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

  it('asks for help with -h or --help anywhere, and the usage names every flag', () => {
    expect(wantsHelp(['--help'])).toBe(true);
    expect(wantsHelp([...base, '-h'])).toBe(true);
    expect(wantsHelp(base)).toBe(false);
    const flags = ['--data', '--cluster', '--secret', '--signaling', '--bootstrap', '--bootstrap-probe-ms', '--label', '--ice', '--address', '--tick-ms', '--drain-wait-ms', '--max-store-down-ms', '--data-model', '--operator-secret', '--witness', '--ice-username', '--ice-credential', '--ice-relay-only'];
    for (const f of flags) expect(STORE_CLI_USAGE).toContain(`  ${f} `);
  });
});

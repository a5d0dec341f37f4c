/**
 * The `peerkv` CLI without a network: argument parsing (flags anywhere, the `PEERKV_*`
 * environment, typed usage errors), output formatting (tables, `--json`, `--hex`), the exit
 * code of each error kind, the txn ops, the bench's figures, and whole command lines run
 * against an in-process mvcc cluster (`runCli` with an in-process client).
 */
import { describe, expect, it, afterAll } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, PeerKVError } from 'peerkv';
import { AdminError } from '../src/admin.ts';
import { CliUsageError, PEERKV_CLI_USAGE, CLI_COMMANDS, bytesArg, parseCliArgs, wantsCliHelp } from '../src/peerkv-cli/args.ts';
import { benchKey, opStats, percentile, seededRandom, zipfianPicker } from '../src/peerkv-cli/bench.ts';
import { snapshots, type CliClient } from '../src/peerkv-cli/commands.ts';
import { EXIT, exitCodeOf } from '../src/peerkv-cli/exit-codes.ts';
import { TABLE_CELL_CHARS_MAX, showBound, table, toJson } from '../src/peerkv-cli/format.ts';
import { runCli } from '../src/peerkv-cli/main.ts';
import { TXN_OPS_MAX, TxnExpectationFailed, parseTxnOps } from '../src/peerkv-cli/txn-ops.ts';

const ENV = { PEERKV_CLUSTER: 'c', PEERKV_SECRET: 's', PEERKV_SIGNALING: 'ws://127.0.0.1:4444' };
const text = { json: false, hex: false };

describe('parseCliArgs', () => {
  it('takes the connection from the environment, flags winning, and flags anywhere', () => {
    const c = parseCliArgs(['--limit', '5', 'scan', '--prefix=a/', '--json', '--cluster', 'x', '--ice', 'stun:h:3478'], { ...ENV, PEERKV_ICE: 'turn:ignored' });
    expect(c.command).toBe('scan');
    expect(c.flags).toEqual({ limit: '5', prefix: 'a/' });
    expect(c.output).toEqual({ json: true, hex: false });
    expect(c.connect).toEqual({ cluster: 'x', secret: 's', signaling: 'ws://127.0.0.1:4444', iceServers: [{ urls: 'stun:h:3478' }], dataModel: 'mvcc' });
    const d = parseCliArgs(['get', 'k', '--data-model', 'raw', '--connect-timeout-ms', '500'], { ...ENV, PEERKV_ICE: 'stun:a:1,turn:b:2' });
    expect(d.args).toEqual(['k']);
    expect(d.connect).toMatchObject({ dataModel: 'raw', connectTimeoutMs: 500, iceServers: [{ urls: 'stun:a:1' }, { urls: 'turn:b:2' }] });
    expect(parseCliArgs(['split', 'k'], { ...ENV, PEERKV_OPERATOR_SECRET: 'op' }).connect.operatorSecret).toBe('op');
    // TURN credentials on turn: servers only, and relay-only ICE; from flags or the environment.
    const turn = parseCliArgs(['get', 'k', '--ice', 'stun:h:1', '--ice', 'turn:h:3478?transport=udp', '--ice-username', 'u', '--ice-credential', 'p', '--ice-relay-only'], ENV).connect;
    expect(turn).toMatchObject({ iceServers: [{ urls: 'stun:h:1' }, { urls: 'turn:h:3478?transport=udp', username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' });
    expect(parseCliArgs(['get', 'k'], { ...ENV, PEERKV_ICE: 'turn:h:1', PEERKV_ICE_USERNAME: 'u', PEERKV_ICE_CREDENTIAL: 'p', PEERKV_ICE_RELAY_ONLY: '1' }).connect).toMatchObject({ iceServers: [{ urls: 'turn:h:1', username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' });
    expect(parseCliArgs(['get', 'k'], ENV).connect.iceTransportPolicy).toBeUndefined();
    expect(() => parseCliArgs(['get', 'k', '--ice', 'turn:h:1', '--ice-username', 'u'], ENV)).toThrow(/go together/);
    expect(() => parseCliArgs(['get', 'k', '--ice', 'stun:h:1', '--ice-username', 'u', '--ice-credential', 'p'], ENV)).toThrow(/are for a turn: or turns:/);
    // Several processes of one signaling deployment: comma-separated, tried in turn.
    expect(parseCliArgs(['get', 'k', '--signaling', 'ws://a:1,ws://b:2'], ENV).connect.signaling).toEqual(['ws://a:1', 'ws://b:2']);
    expect(parseCliArgs(['split', 'k', '--operator-secret', 'flag'], { ...ENV, PEERKV_OPERATOR_SECRET: 'op' }).connect.operatorSecret).toBe('flag');
  });

  it('refuses bad command lines with CliUsageError naming the problem', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['get'], ENV, /get takes 1 argument, got 0/],
      [['put', 'k'], ENV, /put takes 2 arguments/],
      [['frob'], ENV, /unknown command 'frob'/],
      [['get', 'k', '--nope'], ENV, /unknown flag --nope/],
      [['get', 'k', '--limit', '3'], ENV, /get takes no --limit/],
      [['drain'], ENV, /drain takes 1 argument/],
      [['scan', '--undo'], ENV, /scan takes no --undo/],
      [['get', 'k', '--json=1'], ENV, /--json takes no value/],
      [['get', 'k', '--cluster'], ENV, /--cluster needs a value/],
      [['get', 'k'], { ...ENV, PEERKV_SECRET: '' }, /no secret/],
      [['get', 'k'], { PEERKV_SECRET: 's', PEERKV_SIGNALING: 'ws://h:1' }, /no cluster/],
      [['get', 'k'], { PEERKV_SECRET: 's', PEERKV_CLUSTER: 'c' }, /no signaling server/],
      [['get', 'k', '--data-model', 'kv'], ENV, /--data-model is mvcc or raw/],
      [['get', 'k', '--connect-timeout-ms', '0'], ENV, /--connect-timeout-ms needs an integer/],
      [['get', 'k', '--cluster', 'a', '--cluster', 'b'], ENV, /given twice/],
      [[], ENV, /no command/],
    ];
    for (const [argv, env, msg] of cases) expect(() => parseCliArgs(argv, env), argv.join(' ')).toThrow(msg);
    expect(() => parseCliArgs(['get'], ENV)).toThrow(CliUsageError);
  });

  it('asks for help with no arguments, help, -h or --help; the usage names every command and exit code', () => {
    for (const argv of [[], ['help'], ['get', 'k', '-h'], ['--help']]) expect(wantsCliHelp(argv)).toBe(true);
    expect(wantsCliHelp(['get', 'k'])).toBe(false);
    for (const c of CLI_COMMANDS) expect(PEERKV_CLI_USAGE).toContain(`  ${c}`);
    for (const v of ['PEERKV_CLUSTER', 'PEERKV_SECRET', 'PEERKV_SIGNALING', '0 ok', '1 usage', '2 not found', '3 unavailable', '4 the transaction', '5 refused', '10 internal']) expect(PEERKV_CLI_USAGE).toContain(v);
  });

  it('reads keys as text, or as hex with --hex', () => {
    expect(bytesArg('key', 'ab', text)).toEqual(new Uint8Array([0x61, 0x62]));
    expect(bytesArg('key', '00ff', { json: false, hex: true })).toEqual(new Uint8Array([0, 255]));
    expect(() => bytesArg('key', '0g', { json: false, hex: true })).toThrow(CliUsageError);
    expect(() => bytesArg('key', 'abc', { json: false, hex: true })).toThrow(/not hex/);
  });
});

describe('output', () => {
  it('aligns table columns, shows absent cells as -, cuts long cells', () => {
    expect(table(['store', 'up'], [[1, true], [1006, undefined]])).toBe('STORE  UP\n1      true\n1006   -');
    const long = table(['v'], [['x'.repeat(200)]]).split('\n')[1];
    expect([...long].length).toBe(TABLE_CELL_CHARS_MAX);
    expect(long.endsWith('…')).toBe(true);
    expect(showBound(new Uint8Array(), false, text)).toBe('-∞');
    expect(showBound(new Uint8Array(), true, text)).toBe('+∞');
  });

  it('prints JSON with bigints as strings and bytes (Node Buffers too) as text or hex', () => {
    const v = { ts: 2n ** 60n, key: Buffer.from('k'), pairs: [{ value: new Uint8Array([0x68, 0x69]) }] };
    expect(JSON.parse(toJson(v, text))).toEqual({ ts: '1152921504606846976', key: 'k', pairs: [{ value: 'hi' }] });
    expect(JSON.parse(toJson(v, { json: true, hex: true })).pairs[0].value).toBe('6869');
  });
});

describe('exit codes', () => {
  it('maps each error kind to its documented code', () => {
    expect(exitCodeOf(new CliUsageError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new PeerKVError('InvalidArgument', 'x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new AdminError('NotFound', 'x'))).toBe(EXIT.notFound);
    expect(exitCodeOf(new AdminError('Refused', 'x'))).toBe(EXIT.refused);
    expect(exitCodeOf(new AdminError('Unavailable', 'x'))).toBe(EXIT.unavailable);
    for (const k of ['Unavailable', 'RetryBudgetExhausted', 'Undetermined', 'Closed', 'Aborted'] as const) expect(exitCodeOf(new PeerKVError(k, 'x'))).toBe(EXIT.unavailable);
    for (const k of ['WriteConflict', 'TxnAborted', 'Deadlock', 'LockWaitTimeout', 'SafePointPassed'] as const) expect(exitCodeOf(new PeerKVError(k, 'x'))).toBe(EXIT.conflict);
    expect(exitCodeOf(new TxnExpectationFailed('x'))).toBe(EXIT.conflict);
    expect(exitCodeOf(new TypeError('bug'))).toBe(EXIT.internal);
    expect(Object.values(EXIT)).toEqual([0, 1, 2, 3, 4, 5, 10]);
  });
});

describe('txn ops', () => {
  it('parses an array or {ops}, and refuses bad ops with their index', () => {
    const ops = parseTxnOps('{"ops":[{"op":"get","key":"a"},{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"},{"op":"expect","key":"c","value":null}]}', text);
    expect(ops.map((o) => o.op)).toEqual(['get', 'put', 'del', 'expect']);
    expect(parseTxnOps('[{"op":"get","key":"00"}]', { json: false, hex: true })[0].key).toEqual(new Uint8Array([0]));
    expect(() => parseTxnOps('nope', text)).toThrow(/not JSON/);
    expect(() => parseTxnOps('[]', text)).toThrow(/1\.\.1024 ops/);
    expect(() => parseTxnOps(JSON.stringify(Array(TXN_OPS_MAX + 1).fill({ op: 'get', key: 'a' })), text)).toThrow(CliUsageError);
    expect(() => parseTxnOps('[{"op":"get","key":"a"},{"op":"put","key":"a"}]', text)).toThrow(/op 1: put needs a string "value"/);
    expect(() => parseTxnOps('[{"op":"cas","key":"a"}]', text)).toThrow(/unknown op "cas"/);
    expect(() => parseTxnOps('[{"op":"get","key":""}]', text)).toThrow(/non-empty string "key"/);
  });
});

describe('bench figures', () => {
  it('percentiles by nearest rank, stats per operation', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 0.5)).toBe(50);
    expect(percentile(xs, 0.99)).toBe(99);
    expect(percentile([], 0.5)).toBe(0);
    expect(opStats('READ', [3, 1, 2], 1, 1000)).toEqual({ operation: 'READ', count: 3, errors: 1, opsPerSec: 4, avgMs: 2, p50Ms: 2, p99Ms: 3, maxMs: 3 });
    expect(benchKey(42)).toBe('usertable/user0000000042');
  });

  it('zipfian picks stay in range, repeat with the seed, and favour a few keys', () => {
    const n = 1000;
    const draw = (seed: number) => {
      const pick = zipfianPicker(n, seededRandom(seed));
      return Array.from({ length: 20_000 }, pick);
    };
    const a = draw(7);
    expect(a.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
    expect(draw(7)).toEqual(a);
    const counts = new Map<number, number>();
    for (const x of a) counts.set(x, (counts.get(x) ?? 0) + 1);
    const top = Math.max(...counts.values());
    // Uniform would give ~20 per key; zipfian(0.99) puts several percent on the hottest.
    expect(top).toBeGreaterThan(500);
    // Scrambled: the hottest key is not simply key 0.
    expect([...counts.entries()].find(([, c]) => c === top)![0]).not.toBe(0);
  });
});

describe('runCli on an in-process mvcc cluster', () => {
  const cluster = new PdCluster({
    openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
    store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, dataColumnFamilies: ['default', 'lock', 'write'], dataModel: 'mvcc' },
  });
  afterAll(() => cluster.close());
  let started: Promise<unknown> | undefined;
  /** An in-process client with the admin calls the data commands never use. */
  const connect = async (): Promise<CliClient & { close(): unknown }> => {
    started ??= cluster.bootstrap('a');
    await started;
    const kv = new PeerKV({ pd: cluster, stores: cluster, dataModel: 'mvcc' });
    const notHere = (): never => {
      throw new AdminError('Unavailable', 'no admin in process');
    };
    return Object.assign(kv, { admin: { status: notHere, members: notHere, region: notHere, split: notHere, transferLeader: notHere, drain: notHere } });
  };
  const run = async (argv: string[], stdin = '') => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, ENV, { out: (s) => out.push(s), err: (s) => err.push(s), stdin: async () => stdin }, connect);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('puts, gets, scans, deletes, with the documented exit codes', async () => {
    expect(await run(['put', 'a/1', 'one'])).toEqual({ code: 0, out: 'OK', err: '' });
    await run(['put', 'a/2', 'two']);
    await run(['put', 'b/1', 'other']);
    expect(await run(['get', 'a/1'])).toMatchObject({ code: 0, out: 'one' });
    expect(await run(['get', 'a/9'])).toEqual({ code: EXIT.notFound, out: '', err: '' });
    expect(JSON.parse((await run(['get', 'a/9', '--json'])).out)).toEqual({ key: 'a/9', found: false });
    const scan = await run(['scan', '--prefix', 'a/', '--json']);
    expect(JSON.parse(scan.out)).toEqual([{ key: 'a/1', value: 'one' }, { key: 'a/2', value: 'two' }]);
    expect((await run(['scan', '--start', 'a/2', '--limit', '1'])).out).toBe('KEY  VALUE\na/2  two');
    expect(await run(['del', 'a/1'])).toMatchObject({ code: 0 });
    expect((await run(['get', 'a/1'])).code).toBe(EXIT.notFound);
    expect(JSON.parse((await run(['get', '612f32', '--hex', '--json'])).out)).toEqual({ key: '612f32', found: true, value: '74776f' });
    const bad = await run(['scan', '--prefix', 'a/', '--start', 'a']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toMatch(/--prefix or --start\/--end/);
  });

  it('applies txn ops atomically; a failed expect writes nothing (exit 4)', async () => {
    const ok = await run(['txn', '--json'], '[{"op":"put","key":"t/x","value":"1"},{"op":"get","key":"t/x"},{"op":"expect","key":"t/y","value":null}]');
    expect(ok.code).toBe(0);
    const r = JSON.parse(ok.out);
    expect(r).toMatchObject({ committed: true, attempts: 1, results: [{ op: 'put', key: 't/x' }, { op: 'get', key: 't/x', value: '1' }, { op: 'expect', key: 't/y' }] });
    expect(BigInt(r.commitTs)).toBeGreaterThan(BigInt(r.startTs));
    const failed = await run(['txn'], '[{"op":"put","key":"t/z","value":"2"},{"op":"expect","key":"t/x","value":"nope"}]');
    expect(failed.code).toBe(EXIT.conflict);
    expect(failed.err).toMatch(/TxnExpectationFailed/);
    expect((await run(['get', 't/z'])).code).toBe(EXIT.notFound);
    expect((await run(['txn'], '{"ops": 3}')).code).toBe(EXIT.usage);
  });

  it('bench load and run print throughput and latency percentiles', async () => {
    const load = await run(['bench', 'load', '--records', '50', '--concurrency', '4', '--value-bytes', '16', '--json']);
    expect(load.code).toBe(0);
    const l = JSON.parse(load.out);
    expect(l.ops).toHaveLength(1);
    expect(l.ops[0]).toMatchObject({ operation: 'INSERT', count: 50, errors: 0 });
    expect(l.ops[0].p99Ms).toBeGreaterThanOrEqual(l.ops[0].p50Ms);
    const runC = JSON.parse((await run(['bench', 'run', '--workload', 'c', '--records', '50', '--operations', '100', '--json'])).out);
    expect(runC.ops.map((o: { operation: string; count: number }) => [o.operation, o.count])).toEqual([['READ', 100]]);
    const runA = await run(['bench', 'run', '--workload', 'a', '--records', '50', '--operations', '100']);
    expect(runA.out).toMatch(/^run workload A: \d+ ms, [\d.]+ ops\/s\nOPERATION +COUNT +ERRORS +OPS\/S +AVG_MS +P50_MS +P99_MS +MAX_MS\nREAD +\d+ +0 /);
    expect((await run(['bench', 'run', '--workload', 'd'])).code).toBe(EXIT.usage);
  });

  it('watch prints the changes since --from-ts, stops after --count, and ends with exit 0 when stopped', async () => {
    const probe = await connect();
    const fromTs = await probe.getTimestamp();
    await probe.close();
    for (const argv of [['put', 'w/1', 'a'], ['put', 'w/2', 'b'], ['del', 'w/1'], ['put', 'x/1', 'not watched']]) expect((await run(argv)).code).toBe(0);
    const r = await run(['watch', '--prefix', 'w/', '--from-ts', String(fromTs), '--count', '3', '--json']);
    expect(r.code).toBe(0);
    const events = r.out.split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => [e.type, e.key, e.value])).toEqual([['put', 'w/1', 'a'], ['put', 'w/2', 'b'], ['delete', 'w/1', undefined]]);
    expect(BigInt(events[2].commitTs)).toBeGreaterThan(BigInt(events[0].commitTs));
    expect((await run(['watch', '--start', 'w/2', '--end', 'w/3', '--from-ts', String(fromTs), '--count', '1'])).out).toMatch(/^PUT w\/2 b commit_ts=\d+$/);
    expect((await run(['watch', '--from-ts', 'yesterday'])).code).toBe(EXIT.usage);
    // No --count: it runs until the signal fires, then exits 0 (the bin fires it on SIGINT/SIGTERM).
    const stop = new AbortController();
    const lines: string[] = [];
    const running = runCli(['watch', '--prefix', 'w/', '--from-ts', String(fromTs), '--resolved'], ENV, { out: (l) => lines.push(l), err: () => {}, stdin: async () => '', signal: stop.signal }, connect);
    await new Promise((res) => setTimeout(res, 1500));
    stop.abort();
    expect(await running).toBe(EXIT.ok);
    expect(lines.slice(0, 3).map((l) => l.split(' ')[0])).toEqual(['PUT', 'PUT', 'DELETE']);
    expect(lines.some((l) => /^RESOLVED \d+$/.test(l))).toBe(true);
  });

  it('maps a failed connect and an admin refusal to their codes', async () => {
    const unavailable = await runCli(['get', 'k'], ENV, { out: () => {}, err: () => {}, stdin: async () => '' }, async () => {
      throw new PeerKVError('Unavailable', 'nobody home');
    });
    expect(unavailable).toBe(EXIT.unavailable);
    expect((await run(['status'])).code).toBe(EXIT.unavailable);
    expect((await run(['transfer-leader', 'x', '2'])).code).toBe(EXIT.usage);
    expect((await run(['drain', '2', '--wait-ms', '-1'])).code).toBe(EXIT.usage);
    expect((await run(['drain', '2', '--undo'])).code).toBe(EXIT.unavailable);
    const help = await run(['--help']);
    expect(help.out).toBe(PEERKV_CLI_USAGE);
  });
});

describe('status: snapshot progress', () => {
  it('shows transfers in flight with the bytes moved, and each region applying one with its chunks', () => {
    expect(snapshots(undefined)).toBeUndefined();
    expect(snapshots({ sending: 0, receiving: 0, bytesSent: 10, bytesReceived: 20, applying: [] })).toBe('-');
    expect(snapshots({ sending: 1, receiving: 1, bytesSent: 2 * 1024 * 1024, bytesReceived: 512 * 1024, applying: [{ regionId: 7, chunksApplied: 3, chunks: 9 }, { regionId: 8, chunksApplied: 0, chunks: 4, failed: 'corrupt' }] })).toBe(
      'send 1 (2.0 MiB sent), recv 1 (512 KiB received), apply r7 3/9, apply r8 0/4 failed',
    );
  });
});

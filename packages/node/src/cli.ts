/**
 * `peerkv-store`: a store in a Node process, on a LevelDB directory, reaching other stores
 * over WebRTC (`@roamhq/wrtc` gives Node an `RTCPeerConnection`) found through a signaling
 * server. The flags are in `STORE_CLI_USAGE` (`peerkv-store --help`).
 *
 * `--bootstrap` creates the cluster only on an empty directory, and only if no member
 * answers within `--bootstrap-probe-ms` (default 3000); on a directory that already holds a
 * store it is ignored (a restart).
 *
 * Prints `peerkv-store serving store=<id> cluster=<name> started=<bootstrapped|joined|restarted>` (then ` witness` for a witness)
 * once it serves (a restart waits for no quorum), then `peerkv-store quorum=<ok|waiting> ...`
 * whenever its quorum comes or goes (see `QuorumWatch`). SIGTERM/SIGINT: drain (hand
 * leaderships away), wait `--drain-wait-ms`, close the store, the transport and the engine,
 * exit 0.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DataKeyring, MVCC_DATA_CFS, NetworkStoreError, startNetworkStore, type NetworkStore, type NetworkStoreOptions, type PeerKeyAnchor } from '@peerkv/store';
import { DEVICE_LABEL, REPLICA_ENGINES_MIN_MAX } from '@peerkv/pd';
import { DATA_KEY_ID_MAX, deriveDataKey, deriveMemberKeys, deriveOperatorKey, deriveWitnessCredential, isTurnUrl, parseWitnessCredential, witnessClusterKeys, type ClusterKeys, type MemberKeys } from '@peerkv/transport';
import { PeerKVError, decodeInvite, lateGcLockResolver, storeClient, type StoreClient } from 'peerkv';
import { nodeEntryCipher } from './node-cipher.ts';
import { openLevelStoreEngine } from './level-store.ts';
import { nodeWebRtcTransport } from './node-webrtc.ts';

/** What `peerkv-store --help` prints. */
export const STORE_CLI_USAGE = `usage: peerkv-store --data DIR --cluster NAME --secret S --signaling URL [options]
       peerkv-store --witness --witness-credential C --data DIR --cluster NAME --signaling URL [options]

A PeerKV store in this process: LevelDB in DIR, WebRTC to the other stores of cluster NAME,
found through the signaling server at URL (ws://host:port) and authenticated by secret S.
A full store seals every write it proposes with the data key derived from S (SECURITY.md).

  --data DIR                 the store's LevelDB directory (created if missing)
  --cluster NAME             the cluster to bootstrap or join
  --secret S                 the cluster's shared secret (signaling and peer authentication)
  --operator-secret S        the operator secret admin requests must be signed with (default: the
                             cluster secret; set one to keep admin from members without it)
  --signaling URL[,URL...]   the signaling server, e.g. ws://127.0.0.1:4444, or the processes
                             of one that share topics (peerkv-signaling --redis), tried in turn
  --bootstrap                create the cluster if DIR is empty and no member answers the probe
  --witness                  run a witness: it votes and keeps the Raft log but holds no data,
                             never leads and serves no read; PD places 2 full replicas + this
                             witness while the cluster has two full stores (a third vote for
                             two devices). It never bootstraps: it waits for the cluster to exist
  --witness-credential C     a witness's credential instead of --secret (\`peerkv
                             witness-credential\` prints it; env PEERKV_WITNESS_CREDENTIAL): the
                             membership and signaling keys, never the data key, so the witness
                             stores sealed payloads it cannot read. --witness --secret S still
                             works: the credential is derived from S and S is not kept
  --bootstrap-probe-ms N     how long --bootstrap first listens for members (default 3000)
  --label key=value          a store label reported to PD (repeatable), e.g. --label device=a;
                             device defaults to the hostname, and engine=node is added
  --ice URL                  an ICE server (repeatable; none by default: host candidates only),
                             e.g. stun:host:3478 or turn:host:3478?transport=udp
  --ice-username U           the username of every turn:/turns: --ice server
  --ice-credential C         its credential (with --ice-username)
  --ice-relay-only           TURN relay candidates only (iceTransportPolicy 'relay'): every data
                             channel goes through a --ice turn: server
  --address A                the address reported to PD (default <hostname>:<absolute DIR>)
  --data-model M             mvcc or raw (default mvcc, as PeerKV.connect, the peerkv CLI and
                             browsers): the cluster's data model; a store keeps the one it was
                             created with (raw: the benchmarks' baseline, stores created raw)
  --invite CODE              a version 2 invite (peerkv2.…, or a link holding one) of --cluster:
                             the store believes the keys it anchors for PD's voters, refuses
                             anyone posing as them, and keeps them in DIR (a restart needs no
                             --invite; another invite's anchors later stop the store)
  --tick-ms N                the store's tick interval (default 100)
  --rotate-data-key N        once serving, rotate the cluster's data key to id N (derived from
                             the secret): new entries are sealed under it from a switch entry
                             in each region's log on; older entries stay readable (SECURITY.md)
  --drain-wait-ms N          wait after handing leaderships away on SIGTERM/SIGINT (default 1000)
  --max-store-down-ms N      PD's max store down time, when this store bootstraps the cluster
  --replica-engines-min N    PD's replicaEnginesMin, when this store bootstraps the cluster:
                             keep each region's replicas on N engines (label engine: chromium,
                             firefox, webkit, node) once stores on N are up (default 1: off;
                             a cluster a browser creates uses 2)
  -h, --help                 print this and exit

Prints "peerkv-store serving store=<id> cluster=<name> started=<how>" once serving, then
"peerkv-store quorum=ok" or "peerkv-store quorum=waiting ..." whenever the quorum changes.`;

/** Parsed command line. */
export interface StoreCliOptions {
  data: string;
  cluster: string;
  /** The cluster secret (a witness may have `witnessCredential` instead). */
  secret?: string;
  /** `--witness-credential`: what a witness holds instead of the secret (`deriveWitnessCredential`). */
  witnessCredential?: string;
  /** Admin requests must be signed with the key of this secret (default: `secret`; a witness with a credential and no operator secret refuses every admin request). */
  operatorSecret?: string;
  /** The signaling server, or several processes of one (comma-separated), tried in turn. */
  signaling: string;
  bootstrap: boolean;
  /** `--witness`: a witness store (`StoreOptions.witness`). */
  witness: boolean;
  labels: Record<string, string>;
  /** ICE server URLs (none by default: host candidates only). */
  ice: string[];
  /** `--ice-username U --ice-credential C`: the credentials of every TURN server in `ice`. */
  iceCredentials?: { username: string; credential: string };
  /** `--ice-relay-only`: relay candidates only. */
  iceTransportPolicy?: 'relay';
  /** Reported to PD (default `<hostname>:<absolute data dir>`). */
  address?: string;
  /** Store tick interval, ms. */
  tickMs: number;
  /**
   * `--rotate-data-key N`: once serving, rotate the cluster's data key to id N (`Store.rotateDataKey`:
   * this store seals with it and proposes the switch in the regions it leads; the other stores
   * follow as they append the switch entries). Full stores only.
   */
  rotateDataKey?: number;
  /** The stores' data model (`raw` by default: a directory keeps the one it was created with). */
  dataModel: 'raw' | 'mvcc';
  /** Wait after draining before closing, ms. */
  drainWaitMs: number;
  /** PD's `maxStoreDownTimeMs` when this store bootstraps the cluster, ms. */
  maxStoreDownMs?: number;
  /** How long `--bootstrap` on an empty directory first listens for existing members, ms. */
  bootstrapProbeMs: number;
  /** PD's `replicaEnginesMin` when this store bootstraps the cluster (1 to `REPLICA_ENGINES_MIN_MAX`). */
  replicaEnginesMin?: number;
  /** `--invite`'s anchors (PD voters' store ids and keys), given to the store's key book, which keeps them. */
  anchors?: PeerKeyAnchor[];
}

/** A bad command line; the message says which flag. */
export class StoreCliUsageError extends Error {
  override readonly name = 'StoreCliUsageError';
}

function intArg(flag: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) throw new StoreCliUsageError(`${flag} needs an integer ≥ ${min}`);
  return n;
}

function strArg(flag: string, v: string | undefined): string {
  if (v === undefined || v.startsWith('--')) throw new StoreCliUsageError(`${flag} needs a value`);
  return v;
}

/** The RTCIceServers of `--ice`, `--ice-username` and `--ice-credential` (credentials on TURN servers only). */
export function iceServersOf(o: Pick<StoreCliOptions, 'ice' | 'iceCredentials'>): RTCIceServer[] {
  return o.ice.map((urls) => (isTurnUrl(urls) && o.iceCredentials ? { urls, ...o.iceCredentials } : { urls }));
}

/** Parses argv (without node and script). Throws `StoreCliUsageError`. */
export function parseStoreArgs(argv: string[]): StoreCliOptions {
  const o: Partial<StoreCliOptions> & { labels: Record<string, string>; ice: string[] } = { bootstrap: false, witness: false, labels: {}, ice: [], tickMs: 100, drainWaitMs: 1000, bootstrapProbeMs: 3000, dataModel: 'mvcc' };
  let invite: string | undefined;
  let iceUsername: string | undefined;
  let iceCredential: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--bootstrap') {
      o.bootstrap = true;
      continue;
    }
    if (flag === '--witness') {
      o.witness = true;
      continue;
    }
    if (flag === '--ice-relay-only') {
      o.iceTransportPolicy = 'relay';
      continue;
    }
    const v = strArg(flag, argv[++i]);
    if (flag === '--data') o.data = v;
    else if (flag === '--cluster') o.cluster = v;
    else if (flag === '--secret') o.secret = v;
    else if (flag === '--witness-credential') o.witnessCredential = v;
    else if (flag === '--operator-secret') o.operatorSecret = v;
    else if (flag === '--signaling') o.signaling = v;
    else if (flag === '--address') o.address = v;
    else if (flag === '--ice') o.ice.push(v);
    else if (flag === '--ice-username') iceUsername = v;
    else if (flag === '--ice-credential') iceCredential = v;
    else if (flag === '--invite') invite = v;
    else if (flag === '--tick-ms') o.tickMs = intArg(flag, v);
    else if (flag === '--rotate-data-key') {
      o.rotateDataKey = intArg(flag, v);
      if (o.rotateDataKey > DATA_KEY_ID_MAX) throw new StoreCliUsageError(`--rotate-data-key is at most ${DATA_KEY_ID_MAX}`);
    }
    else if (flag === '--data-model') {
      if (v !== 'raw' && v !== 'mvcc') throw new StoreCliUsageError(`--data-model is raw or mvcc, got '${v}'`);
      o.dataModel = v;
    }
    else if (flag === '--drain-wait-ms') o.drainWaitMs = intArg(flag, v);
    else if (flag === '--max-store-down-ms') o.maxStoreDownMs = intArg(flag, v);
    else if (flag === '--bootstrap-probe-ms') o.bootstrapProbeMs = intArg(flag, v, 0);
    else if (flag === '--replica-engines-min') {
      o.replicaEnginesMin = intArg(flag, v);
      if (o.replicaEnginesMin > REPLICA_ENGINES_MIN_MAX) throw new StoreCliUsageError(`--replica-engines-min is at most ${REPLICA_ENGINES_MIN_MAX}`);
    }
    else if (flag === '--label') {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new StoreCliUsageError(`--label needs key=value, got '${v}'`);
      o.labels[v.slice(0, eq)] = v.slice(eq + 1);
    } else throw new StoreCliUsageError(`unknown flag ${flag}`);
  }
  for (const f of ['data', 'cluster', 'signaling'] as const) if (!o[f]) throw new StoreCliUsageError(`--${f} is required`);
  if (invite !== undefined) o.anchors = inviteAnchors(invite, o.cluster!);
  if (o.witnessCredential !== undefined && !o.witness) throw new StoreCliUsageError('--witness-credential is for a --witness store (a full store needs --secret: it seals with the data key)');
  if (o.witnessCredential !== undefined && o.secret !== undefined) throw new StoreCliUsageError('a witness takes --witness-credential or --secret, not both');
  if (o.witnessCredential === undefined && !o.secret) throw new StoreCliUsageError(o.witness ? '--witness-credential (or --secret) is required' : '--secret is required');
  if (o.rotateDataKey !== undefined && o.witness) throw new StoreCliUsageError('--rotate-data-key is for a full store: a witness holds no data key');
  if (o.bootstrap && o.witness) throw new StoreCliUsageError('--witness cannot --bootstrap: a full store creates the cluster, a witness joins it');
  if ((iceUsername === undefined) !== (iceCredential === undefined)) throw new StoreCliUsageError('--ice-username and --ice-credential go together');
  const turn = o.ice.some(isTurnUrl);
  if (iceUsername !== undefined && iceCredential !== undefined) {
    if (!turn) throw new StoreCliUsageError('--ice-username and --ice-credential are for a turn: or turns: --ice server');
    o.iceCredentials = { username: iceUsername, credential: iceCredential };
  }
  if (o.iceTransportPolicy === 'relay' && !turn) throw new StoreCliUsageError('--ice-relay-only needs a turn: or turns: --ice server');
  return o as StoreCliOptions;
}

/** The anchors of `--invite CODE` for cluster `cluster`, or `StoreCliUsageError`. */
function inviteAnchors(code: string, cluster: string): PeerKeyAnchor[] {
  let anchors: PeerKeyAnchor[] | undefined;
  let invited: string;
  try {
    ({ anchors, cluster: invited } = decodeInvite(code));
  } catch (e) {
    if (e instanceof PeerKVError) throw new StoreCliUsageError(`--invite: ${e.message}`);
    throw e;
  }
  if (invited !== cluster) throw new StoreCliUsageError(`--invite is an invite to cluster '${invited.slice(0, 64)}', not --cluster '${cluster}'`);
  if (!anchors) throw new StoreCliUsageError('--invite is a version 1 invite: it anchors no keys');
  return anchors;
}

/** Whether the command line asks for the usage text (`-h` or `--help` anywhere). */
export function wantsHelp(argv: string[]): boolean {
  return argv.some((a) => a === '-h' || a === '--help');
}

/** Runs a store until SIGTERM/SIGINT; with `--help`, prints `STORE_CLI_USAGE` and returns. */
export async function main(argv: string[]): Promise<void> {
  if (wantsHelp(argv)) {
    console.log(STORE_CLI_USAGE);
    return;
  }
  const credential = process.env.PEERKV_WITNESS_CREDENTIAL;
  const withEnv = credential && argv.includes('--witness') && !argv.includes('--witness-credential') && !argv.includes('--secret') ? [...argv, '--witness-credential', credential] : argv;
  const running = runStore(parseStoreArgs(withEnv));
  const stop = (signal: string): void => void running.stop(signal).then(() => process.exit(0));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await running.started;
}

/** A store started by `runStore`. */
export interface RunningStore {
  /** Resolves once it serves (a witness first waits, retrying, until the cluster exists); rejects if it cannot start. */
  started: Promise<NetworkStore>;
  /** Drains (hands leaderships away), waits `drainWaitMs`, closes the store and its engine; stops a witness still waiting. */
  stop(signal: string): Promise<void>;
}

/**
 * Starts the store `o` describes, logging its lines (`peerkv-store serving ...`, `quorum=`).
 * A witness (`--witness`) whose cluster does not exist yet (nobody gave it an id within the
 * join timeout) logs so and tries again every `WITNESS_JOIN_RETRY_MS`, until it joins or is
 * stopped: `peerkv-signaling --witness` starts one before any browser came.
 */
export function runStore(o: StoreCliOptions, log: (line: string) => void = (l) => console.log(l)): RunningStore {
  let stopping = false;
  let engine: Awaited<ReturnType<typeof openLevelStoreEngine>> | undefined;
  let quorumLog: ReturnType<typeof setInterval> | undefined;
  let serving: NetworkStore | undefined;
  // The store's GC resolves the locks it cannot resolve alone (async commit, a primary on
  // another store) through this process's client, made once the store runs.
  let client: StoreClient | undefined;
  const started = (async (): Promise<NetworkStore> => {
    const dir = resolve(o.data);
    const keys = await storeKeys(o, log);
    engine = await openLevelStoreEngine(dir, o.dataModel);
    const operatorSecret = o.operatorSecret ?? o.secret;
    const operatorKey = operatorSecret === undefined ? undefined : await deriveOperatorKey(o.cluster, operatorSecret);
    for (;;) {
      try {
        const ns = await startNetworkStore(networkOptions(o, dir, engine, keys, operatorKey, () => client?.kv));
        // A witness holds no data: its GC never runs, so it needs no client.
        if (o.dataModel === 'mvcc' && !o.witness) client = storeClient(ns, { requestTimeoutMs: STORE_CLIENT_REQUEST_TIMEOUT_MS, pdBudgetMs: STORE_CLIENT_PD_BUDGET_MS, dataModel: 'mvcc', ...(operatorKey ? { operatorKey } : {}) });
        log(`peerkv-store serving store=${ns.store.storeId} cluster=${o.cluster} started=${ns.started}${o.witness ? ' witness' : ''}`);
        if (o.rotateDataKey !== undefined) {
          await ns.store.rotateDataKey(o.rotateDataKey);
          log(`peerkv-store data-key=${o.rotateDataKey} (switches proposed in the regions this store leads; the other stores follow)`);
        }
        quorumLog = logQuorumChanges(ns, log);
        serving = ns;
        return ns;
      } catch (e) {
        if (!(o.witness && e instanceof NetworkStoreError && e.kind === 'JoinTimeout') || stopping) throw e;
        log(`peerkv-store witness: no member of '${o.cluster}' yet, waiting for a full store to create it`);
        await new Promise((r) => setTimeout(r, WITNESS_JOIN_RETRY_MS));
        if (stopping) throw e;
      }
    }
  })();
  return {
    started,
    stop: async (signal) => {
      if (stopping) return;
      stopping = true;
      // A witness still waiting for its cluster holds nothing to hand over: stop at once (the
      // join in flight would keep the process up to the join timeout).
      if (serving === undefined) {
        log('peerkv-store: closed (had not joined)');
        return;
      }
      const ns = serving;
      if (quorumLog) clearInterval(quorumLog);
      await client?.kv.close();
      const moved = ns.store.drain();
      log(`peerkv-store: ${signal}, draining ${moved.length} leaderships`);
      await new Promise((r) => setTimeout(r, o.drainWaitMs));
      await ns.close();
      await engine?.close();
      log('peerkv-store: closed');
    },
  };
}

/** Wait before a witness asks again for a cluster that did not exist yet, ms. */
export const WITNESS_JOIN_RETRY_MS = 2000;

/** What a store process holds: the link and signaling keys, and the data key unless it is a witness. */
export interface StoreProcessKeys {
  keys: ClusterKeys;
  /** Absent on a witness (`StoreOptions.entryCipher`): key id 0's, and the root later key ids derive from (`deriveDataKey`). */
  dataKey?: CryptoKey;
  member?: MemberKeys;
  /** Absent on a witness: proves the data key to the other full stores and gates their data requests (`StoreOptions.dataProofKey`). */
  dataProofKey?: CryptoKey;
}

/**
 * A full store derives all three keys from the secret; a witness imports its credential's two
 * (or derives the credential from a given secret, keeping neither the secret's data key nor
 * the secret in its options).
 */
export async function storeKeys(o: StoreCliOptions, log: (line: string) => void = () => {}): Promise<StoreProcessKeys> {
  if (!o.witness) {
    const m = await deriveMemberKeys(o.cluster, o.secret!);
    return { keys: m.keys, dataKey: m.dataKey, member: m, dataProofKey: m.dataProofKey };
  }
  let text = o.witnessCredential;
  if (text === undefined) {
    text = await deriveWitnessCredential(o.cluster, o.secret!);
    delete o.secret;
    log('peerkv-store witness: derived its credential from --secret and holds no data key (pass --witness-credential so this process never sees the secret)');
  }
  let credential;
  try {
    credential = parseWitnessCredential(text);
  } catch (e) {
    throw new StoreCliUsageError(`--witness-credential: ${(e as Error).message}`);
  }
  if (credential.clusterId !== o.cluster) throw new StoreCliUsageError(`--witness-credential is for cluster '${credential.clusterId}', not '${o.cluster}'`);
  return { keys: await witnessClusterKeys(credential) };
}

function networkOptions(o: StoreCliOptions, dir: string, engine: NetworkStoreOptions['engine'], k: StoreProcessKeys, operatorKey: CryptoKey | undefined, kv: () => StoreClient['kv'] | undefined): NetworkStoreOptions {
  const mvcc = o.dataModel === 'mvcc' ? { dataColumnFamilies: MVCC_DATA_CFS, dataModel: 'mvcc' as const, ...(o.witness ? {} : { gcLockResolver: lateGcLockResolver(kv) }) } : { dataModel: 'raw' as const };
  return {
    engine,
    clusterId: o.cluster,
    bootstrap: o.bootstrap,
    bootstrapProbeMs: o.bootstrapProbeMs,
    address: o.address ?? `${hostname()}:${dir}`,
    // The host is the device PD isolates replicas by; startNetworkStore adds engine=node.
    labels: { [DEVICE_LABEL]: hostname(), ...o.labels },
    store: { tickIntervalMs: o.tickMs, ...(o.witness ? { witness: true } : {}), ...(k.member ? { entryCipher: nodeDataKeyring(k.member) } : {}), ...(k.dataProofKey ? { dataProofKey: k.dataProofKey } : {}), ...mvcc },
    schedule: { ...(o.maxStoreDownMs ? { maxStoreDownTimeMs: o.maxStoreDownMs } : {}), ...(o.replicaEnginesMin ? { replicaEnginesMin: o.replicaEnginesMin } : {}) },
    ...(operatorKey ? { operatorKey } : {}),
    ...(o.anchors ? { anchors: o.anchors } : {}),
    // `identity`: the store's key pair and the keys it accepts for other stores (under a temporary id: the anchors' policy only).
    transportFactory: (storeId, identity) =>
      nodeWebRtcTransport({ localStoreId: storeId, keys: k.keys, ...(k.dataProofKey ? { dataProofKey: k.dataProofKey } : {}), signalingUrl: o.signaling.split(','), iceServers: iceServersOf(o), ...(o.iceTransportPolicy ? { iceTransportPolicy: o.iceTransportPolicy } : {}), ...identity }),
  };
}

/** A full store's keyring: key id 0, and every later id derived from the data root when an entry or a rotation names it. */
function nodeDataKeyring(m: MemberKeys): DataKeyring {
  return new DataKeyring(new Map([[0, nodeEntryCipher(m.dataKey)]]), { derive: async (id) => nodeEntryCipher(await deriveDataKey(m, id)) });
}

/** The store's own client (its GC's lock resolver): one request's timeout, ms. */
export const STORE_CLIENT_REQUEST_TIMEOUT_MS = 2000;
/** The store's own client: the time one PD call may take across members, ms. */
export const STORE_CLIENT_PD_BUDGET_MS = 10_000;

/** Period of the quorum check behind the `quorum=` lines, ms. */
export const CLI_QUORUM_POLL_MS = 1000;

/** Prints a `quorum=` line whenever the store's quorum state changes. */
function logQuorumChanges(ns: NetworkStore, log: (line: string) => void): ReturnType<typeof setInterval> {
  let last: string | undefined;
  return setInterval(() => {
    const q = ns.quorum();
    if (q.state === last) return;
    last = q.state;
    log(q.state === 'ok' ? 'peerkv-store quorum=ok' : `peerkv-store quorum=waiting attempts=${q.attempts} reason=${JSON.stringify(q.lastError ?? '')}`);
  }, CLI_QUORUM_POLL_MS);
}

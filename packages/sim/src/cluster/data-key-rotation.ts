/**
 * Data-key rotation as a fault of cluster mode (`@peerkv/store`'s data-key-switch.ts): the
 * nemesis rotates a running full store's data key to the next cluster-wide key id at random
 * times (`rotateDataKey`), while stores crash, restart, take snapshots and change leaders.
 * The `dataKeySwitch` check it owns:
 * - no entry is applied under a key id older than its region's applied switch (each store's
 *   `staleKeyEntries`, collected when it stops and at the end);
 * - two replicas of a region (or one at two times) at the same applied index and epoch name
 *   the same switch (key id and index: sampled with the region digests, digests.ts);
 * - a store never seals with a key older than a rotation it acknowledged, also after it
 *   restarted (a rotation lost);
 * - no replica stops on an entry whose key it retired (`RetiredKeyId`);
 * - once the cluster is healed and converged, every data region switched to the newest key id
 *   a full store holds among the stores its replicas reach through shared regions
 *   (`dataKeyLagProblem`): a rotation travels over the regions stores share, a follower whose
 *   keyring is ahead forwarding it to its leader (data-key-forward.ts).
 *
 * Retirement, as an operator does it (SECURITY.md): before each rotation and once more at the
 * end of the run, with every device up and no partition, each running full store retires the
 * keys below the lowest `retirableDataKeyFloor` of them all (`retire`). An entry under a key
 * retired there stops the store that meets it, which the check above reports.
 *
 * Some rotations crash their store on purpose (`rotationCrashes`): while the rotation is being
 * saved, or right after it answered, before its switches can apply anywhere (then only the saved
 * rotation keeps the key id across the restart).
 *
 * A rotation whose store crashed before it answered is `rotationsUndetermined`: the save of
 * the rotation may or may not have landed, so it is neither acknowledged nor failed.
 */
import type { SeededRng } from '@peerkv/raft';
import type { Region } from '@peerkv/pd';
import type { RegionDigest, Store } from '@peerkv/store';
import { pick } from '../rng-utils.ts';

/** A device as the fault sees it. */
export interface RotationDevice {
  up: boolean;
  busy: boolean;
  witness: boolean;
  storeId?: number;
}

/** What the fault needs of the cluster (`ClusterEnv`, which owns the checker: no import back). */
export interface RotationEnv<D extends RotationDevice = RotationDevice> {
  readonly devices: readonly D[];
  readonly pd: { store(storeId: number): Store | undefined };
  readonly sched: { sleep(ms: number): Promise<void> };
  isCrashed(s: Store): boolean;
  isPartitioned(): boolean;
  rel(): number;
}

/** Virtual time the nemesis waits for a rotation to answer before it calls its outcome undetermined, ms. */
export const ROTATION_ANSWER_WAIT_MS = 2_000;

/** The rotation fault's and the `dataKeySwitch` check's counts (the summary's `sim: data keys` line). */
export interface DataKeyRotationStats {
  /** Rotations the store acknowledged. */
  rotations: number;
  /** Rotations refused with a `RangeError` (an id below the store's current one). */
  rotationsRefused: number;
  /** Rotations whose store crashed or stopped before it answered: outcome not known. */
  rotationsUndetermined: number;
  /** Replica switches compared with an earlier one at the same region, applied index and epoch. */
  switchChecks: number;
  /** Entries applied under a key id older than their region's switch, summed over store incarnations. */
  staleSeals: number;
  /** Regions whose replicas named different switches at the same applied index and epoch. */
  switchDisagreements: number;
  /** Samples of a store sealing with a key id below a rotation it acknowledged. */
  rotationsLost: number;
  /** Stores stopped on an entry under a retired key id. */
  retiredKeyStops: number;
  /** Rotations whose store the fault crashed, while saving or right after answering. */
  rotationCrashes: number;
  /** Store retirements that raised the store's floor (`retire`). */
  retirements: number;
  /** Key ids those retirements dropped, summed over stores. */
  keysRetired: number;
}

/** Rotates data keys (the fault) and checks the switches (see the module header). */
export class DataKeySwitchChecker {
  readonly stats: DataKeyRotationStats = { rotations: 0, rotationsRefused: 0, rotationsUndetermined: 0, switchChecks: 0, staleSeals: 0, switchDisagreements: 0, rotationsLost: 0, retiredKeyStops: 0, rotationCrashes: 0, retirements: 0, keysRetired: 0 };
  /** Problems found, at virtual times relative to the run's start. */
  readonly problems: { atMs: number; message: string }[] = [];
  private keyIdLast = 0;
  private readonly seen = new Map<string, { keyId: number; index: number; storeId: number }>();
  private readonly reported = new Set<number>();
  /** Store id → the highest key id it acknowledged a rotation to. */
  private readonly acknowledged = new Map<number, number>();
  private readonly collected = new WeakSet<Store>();

  /**
   * The fault: rotates one running full store to the next key id and waits for its answer;
   * with `crash`, crashes that store (`crash.run`) as the rotation starts or once it answered.
   */
  async rotate<D extends RotationDevice>(env: RotationEnv<D>, rng: SeededRng, crash?: { at: 'saving' | 'answered'; run: (d: D) => Promise<void> }): Promise<void> {
    const up = env.devices.filter((d) => d.up && !d.busy && !d.witness && d.storeId !== undefined);
    if (up.length === 0) return;
    const d = pick(rng, up);
    const s = env.pd.store(d.storeId!);
    if (!s || env.isCrashed(s)) return;
    const keyId = ++this.keyIdLast;
    const answer = s.rotateDataKey(keyId).then(
      () => 'ok' as const,
      (e: unknown) => (e instanceof RangeError ? ('refused' as const) : ('failed' as const)),
    );
    let crashed: Promise<void> | undefined;
    if (crash?.at === 'saving') crashed = crash.run(d);
    const outcome = await Promise.race([answer, env.sched.sleep(ROTATION_ANSWER_WAIT_MS).then(() => 'late' as const)]);
    if (crash?.at === 'answered' && outcome === 'ok') crashed = crash.run(d);
    if (crashed) this.stats.rotationCrashes++;
    if (outcome === 'ok') {
      this.stats.rotations++;
      this.acknowledged.set(s.storeId, Math.max(keyId, this.acknowledged.get(s.storeId) ?? 0));
    } else if (outcome === 'refused') this.stats.rotationsRefused++;
    else if (env.isCrashed(s) || !d.up || d.storeId !== s.storeId) this.stats.rotationsUndetermined++;
    else this.problems.push({ atMs: env.rel(), message: `store ${s.storeId} did not rotate to data key ${keyId} (${outcome}) while it ran` });
    await crashed;
  }

  /**
   * Retires data keys on every running full store, below the lowest floor any of them may
   * retire to (`Store.retirableDataKeyFloor`), when every device is up and no partition is on:
   * a down or cut-off store's log may still hold entries under a key the others could drop.
   */
  async retire(env: RotationEnv): Promise<void> {
    if (env.isPartitioned() || env.devices.some((d) => !d.up || d.busy)) return;
    const stores: Store[] = [];
    for (const d of env.devices) {
      if (d.witness) continue; // it holds no data key
      const s = d.storeId === undefined ? undefined : env.pd.store(d.storeId);
      if (!s || env.isCrashed(s)) return;
      stores.push(s);
    }
    if (stores.length === 0) return;
    const floor = Math.min(...stores.map((s) => s.retirableDataKeyFloor()));
    for (const s of stores) {
      const before = s.dataKeyStats().floorKeyId ?? 0;
      if (floor <= before) continue;
      const now = await s.retireDataKeys(floor).catch(() => before); // stopped or closed meanwhile
      if (now <= before) continue;
      this.stats.retirements++;
      this.stats.keysRetired += now - before;
    }
  }

  /** One replica's digest: its switch must match every other sample at the same region, applied index and epoch. */
  observeDigest(d: RegionDigest, storeId: number, atMs: number): void {
    const key = `${d.regionId}@${d.applied}/${d.epoch.confVer}.${d.epoch.version}`;
    const sw = d.dataKeySwitch;
    const first = this.seen.get(key);
    if (first === undefined) {
      this.seen.set(key, { ...sw, storeId });
      return;
    }
    this.stats.switchChecks++;
    if ((first.keyId === sw.keyId && first.index === sw.index) || this.reported.has(d.regionId)) return;
    this.reported.add(d.regionId);
    this.stats.switchDisagreements++;
    this.problems.push({ atMs, message: `region ${d.regionId} at applied index ${d.applied}: store ${first.storeId} switched to data key ${first.keyId} at ${first.index}, store ${storeId} to ${sw.keyId} at ${sw.index}` });
  }

  /** A running store sampled: it seals with at least the newest key it acknowledged a rotation to. */
  observeStore(s: Store, atMs: number): void {
    const want = this.acknowledged.get(s.storeId) ?? 0;
    const has = s.dataKeyId() ?? 0;
    if (has >= want) return;
    this.stats.rotationsLost++;
    this.problems.push({ atMs, message: `store ${s.storeId} seals with data key ${has} after it acknowledged a rotation to ${want}` });
  }

  /** A store incarnation stops (or the run ends): its stale-seal count and a stop on a retired key. */
  collect(s: Store, atMs: number): void {
    if (this.collected.has(s)) return;
    this.collected.add(s);
    const stale = s.dataKeyStats().staleKeyEntries;
    if (stale > 0) {
      this.stats.staleSeals += stale;
      this.problems.push({ atMs, message: `store ${s.storeId} applied ${stale} entr${stale === 1 ? 'y' : 'ies'} sealed under a data key older than its region's switch` });
    }
    if (s.status().stoppedReason?.includes('which this store retired')) {
      this.stats.retiredKeyStops++;
      this.problems.push({ atMs, message: `store ${s.storeId} stopped on an entry under a retired data key: ${s.status().stoppedReason}` });
    }
  }
}

/**
 * The first data region (of `regions`, PD's view) with a full replica whose applied switch is
 * below the newest key id held by a full store of its component (stores joined by the regions
 * they share), described; undefined when each is switched that far. For a healed, converged
 * cluster: polled until it holds.
 */
export function dataKeyLagProblem(stores: readonly Store[], regions: readonly Region[]): string | undefined {
  const full = new Map(stores.filter((s) => s.dataKeyId() !== undefined).map((s) => [s.storeId, s]));
  const parent = new Map([...full.keys()].map((id) => [id, id]));
  const root = (id: number): number => {
    let r = id;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(id, r);
    return r;
  };
  const replicasOf = (r: Region): Store[] => r.peers.filter((p) => !p.witness && full.has(p.storeId)).map((p) => full.get(p.storeId)!);
  for (const r of regions) {
    const [first, ...rest] = replicasOf(r);
    for (const s of rest) parent.set(root(s.storeId), root(first.storeId));
  }
  const newest = new Map<number, number>();
  for (const s of full.values()) newest.set(root(s.storeId), Math.max(newest.get(root(s.storeId)) ?? 0, s.dataKeyId() ?? 0));
  for (const r of regions) {
    for (const s of replicasOf(r)) {
      const want = newest.get(root(s.storeId)) ?? 0;
      const has = s.dataKeySwitchOf(r.id)?.keyId ?? 0;
      if (has < want) return `region ${r.id} on store ${s.storeId} is at data key ${has}, a store it shares regions with at ${want}`;
    }
  }
  return undefined;
}

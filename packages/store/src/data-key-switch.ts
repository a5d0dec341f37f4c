/**
 * Data-key rotation made replicated (issue 14, "Witness replicas"; `sealing.ts` seals with the
 * keys): the switch to a new data key id is a `dataKey` command in each data region's own Raft
 * log, so every replica of the region agrees at which index it switched.
 *
 * Why per region and not the PD group as the one authority: sealing happens per region (the
 * leader seals its proposal just before it proposes it, bound to the region and term), and the
 * only order every replica of a region shares is that region's log. A switch recorded in PD's
 * log would still need each region's leader to learn it and seal with it from some index of
 * its own log on, which is exactly a switch entry in that log; PD would add a second place to
 * agree on and a dependency on PD's reachability, which sealing has never had.
 *
 * How the key id spreads: a store's keyring (`EntryKeyring`) is shared by all its regions, and
 * only moves forward. A rotation (`Store.rotateDataKey`, the `rotateDataKey` request) moves the
 * keyring of the store it is sent to; `DataKeySwitcher` then proposes a switch in every region
 * that store leads whose applied switch is older. Each store hosting a replica of such a region
 * moves its own keyring on as it appends the switch entry (`OpenedPayloads.prefetch`), and its
 * switcher then switches the regions it leads: the id travels over the regions stores share.
 * A store whose keyring is ahead of a region it only follows forwards the switch to that
 * region's leader, which checks it and proposes it (data-key-forward.ts): without that, a
 * leader sharing no region with the rotated store never learns the id.
 *
 * What holds after a switch at index S of a region to key id k:
 * - every entry after S is sealed under k or later: a leader moved its keyring on when it
 *   appended S (before it could lead past it: Raft's leader completeness puts every committed S
 *   in a new leader's log), and it refuses to propose a payload sealed under an older id while
 *   its keyring moved meanwhile (`staleSealError`). Apply counts any entry that breaks this
 *   (`ApplyCounters.staleKeyEntries`; the simulator's `staleDataKeySeal` mutation);
 * - entries before S stay readable: older ids stay in the keyring until they retire;
 * - a restarted replica knows S and k (`dataKeySwitchKey`, read by `loadDataKeySwitches`).
 *
 * Retirement (`retireDataKeys`): a key id below the floor is dropped from the keyring (an entry
 * naming one fails `RetiredKeyId`). The floor rises only to what no entry this store can still
 * read needs: for every data region here, its switch is applied, its log is compacted past the
 * switch (and past any stale seal), and its entries not applied yet are all sealed at or above
 * the floor. Snapshots are not sealed (they carry pairs in the clear, `snapshot-worker.ts`), so
 * they keep no key alive. A replica this store gets later for a region whose log still holds
 * entries under a retired key stops on them (`RetiredKeyId`): retire once every store's
 * regions switched and compacted (SECURITY.md).
 */
import { ProposalDroppedError } from '@peerkv/raft';
import { WriteBatch } from '@peerkv/storage';
import { decodeDataKeySwitch } from './apply.ts';
import { encodeCommand } from './command.ts';
import type { StoreContext } from './context.ts';
import { DataKeyForwards } from './data-key-forward.ts';
import { DATA_KEY_FLOOR_KEY, DATA_KEY_ROTATION_KEY, META_CF, dataKeySwitchKey } from './keys.ts';
import type { RegionPeer } from './peer.ts';
import { sealedKeyId, type EntryKeyring } from './sealing.ts';

/** Store ticks between two walks over every region for switches still to propose (one walk right after a rotation). */
export const DATA_KEY_SWITCH_CHECK_TICKS = 10;

/** Proposes a region's data-key switch on the leader when the store's keyring is ahead of it. */
export class DataKeySwitcher {
  /** Switches proposed and not applied yet: region id → the key id and term it was proposed for. */
  private readonly proposed = new Map<number, { keyId: number; term: number }>();
  private ticks = 0;
  /** Switch entries proposed (for tests and status). */
  switchesProposed = 0;
  /** Switches followers forward to leaders, both ends (data-key-forward.ts). */
  readonly forwards: DataKeyForwards;

  constructor(private readonly ctx: StoreContext) {
    this.forwards = new DataKeyForwards(ctx);
  }

  /** Called every store tick. */
  onTick(): void {
    const ring = this.ctx.entryCipher;
    if (!ring || ++this.ticks % DATA_KEY_SWITCH_CHECK_TICKS !== 0) return;
    if (this.forwards.queuedCount() > 0) void this.takeForwarded(ring).catch((e: unknown) => this.ctx.stop(e));
    if (ring.currentKeyId() === 0) return;
    this.proposeDue(ring);
    this.forwards.forwardOverdue(ring);
  }

  /** As a leader: moves the keyring on to the highest forwarded switch it accepts, and proposes the switches. */
  private async takeForwarded(ring: EntryKeyring): Promise<void> {
    const keyId = await this.forwards.takeForwardedSwitches(ring);
    if (keyId === 0 || this.ctx.closed || this.ctx.fatal !== undefined) return;
    if (keyId > ring.currentKeyId()) {
      try {
        await ring.rotate(keyId);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        return; // raced with a newer id, or the key went: the next walk sees what is due
      }
    }
    this.proposeDue(ring);
    this.ctx.schedule();
  }

  /**
   * Moves `ring` on to `keyId` (`EntryKeyring.rotate`: `RangeError` for an older id or one it
   * has no key for) and proposes the switches now. The rotation is durable first
   * (`DATA_KEY_ROTATION_KEY`): a crash before the switches applied resumes it at open.
   */
  async rotate(ring: EntryKeyring, keyId: number): Promise<void> {
    if (keyId < ring.currentKeyId()) throw new RangeError(`data key id ${keyId} is below the current one, ${ring.currentKeyId()}: a rotation only moves forward`);
    if (!(await ring.cipher(keyId))) throw new RangeError(`no data key for key id ${keyId} on this store (give it, or the data root to derive it)`);
    await this.ctx.engine.write(new WriteBatch().put(META_CF, DATA_KEY_ROTATION_KEY, encodeKeyId(keyId)), { durability: 'strict' });
    await ring.rotate(keyId);
    this.proposeDue(ring);
    this.ctx.schedule();
  }

  /** Proposes the switch now in every region this store leads that is behind its keyring. */
  proposeDue(ring: EntryKeyring): void {
    const keyId = ring.currentKeyId();
    for (const peer of this.ctx.peers.values()) {
      if (peer.dataKeyId >= keyId) {
        this.proposed.delete(peer.regionId);
        continue;
      }
      if (!peer.machine.holdsData || !peer.initialized || peer.destroyed || !peer.isLeader()) continue;
      const term = peer.raw.status().term;
      const last = this.proposed.get(peer.regionId);
      if (last && last.keyId >= keyId && last.term === term) continue;
      try {
        peer.raw.propose(encodeCommand({ type: 'dataKey', keyId }));
      } catch (e) {
        if (e instanceof ProposalDroppedError) continue;
        throw e;
      }
      this.proposed.set(peer.regionId, { keyId, term });
      this.switchesProposed++;
      this.ctx.wake(peer.regionId);
    }
    for (const id of this.proposed.keys()) if (!this.ctx.peers.has(id)) this.proposed.delete(id);
  }
}

/**
 * Reads each loaded data region's persisted switch, the store's pending rotation and its
 * retired floor into the replicas and the keyring, before the store seals anything: a
 * restarted store seals with the newest key id it switched or was rotated to.
 */
export async function loadDataKeySwitches(ctx: StoreContext): Promise<void> {
  const ring = ctx.entryCipher;
  let newest = 0;
  for (const peer of ctx.peers.values()) {
    if (!peer.machine.holdsData) continue;
    const sw = decodeDataKeySwitch(await ctx.engine.get(META_CF, dataKeySwitchKey(peer.regionId)));
    peer.dataKeyId = sw.keyId;
    peer.dataKeySwitchIndex = sw.index;
    // What the log held before the restart is not known: an older key stays until it is compacted past.
    if (sw.keyId > 0) peer.dataKeyOldThrough = peer.applied;
    newest = Math.max(newest, sw.keyId);
  }
  if (!ring) return;
  ring.observe(newest);
  if (!ctx.mutations.rotationResumeOff) await resumeRotation(ctx, ring);
  const floor = decodeKeyId(await ctx.engine.get(META_CF, DATA_KEY_FLOOR_KEY));
  if (floor > 0) ring.retireBelow(floor);
}

/**
 * Moves the keyring on to the rotation this store was asked for before it stopped
 * (`DATA_KEY_ROTATION_KEY`); the switcher proposes the switches at its next walk. A key id it
 * has no key for any more (started without it) is left: the store keeps sealing with what it has.
 */
async function resumeRotation(ctx: StoreContext, ring: EntryKeyring): Promise<void> {
  const rotation = decodeKeyId(await ctx.engine.get(META_CF, DATA_KEY_ROTATION_KEY));
  if (rotation <= ring.currentKeyId()) return;
  try {
    await ring.rotate(rotation);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
}

/**
 * The lowest data key id an entry this store can still read may name (see the module header),
 * at most the keyring's current id and never below its floor.
 */
export function retirableDataKeyFloor(ctx: StoreContext, ring: EntryKeyring): number {
  let floor = ring.currentKeyId();
  if (ctx.mutations.retireIgnoresLog) return floor;
  for (const peer of ctx.peers.values()) {
    if (!peer.machine.holdsData || peer.destroyed) continue;
    floor = Math.min(floor, regionFloor(peer, ring));
    if (floor <= ring.floorKeyId()) return ring.floorKeyId();
  }
  return floor;
}

function regionFloor(peer: RegionPeer, ring: EntryKeyring): number {
  // A replica waiting for (or applying) a snapshot gets the leader's entries after it: unknown keys.
  if (!peer.initialized || peer.applying) return ring.floorKeyId();
  const log = peer.log;
  if (log.firstIndex() <= Math.max(peer.dataKeySwitchIndex, peer.dataKeyOldThrough)) return ring.floorKeyId();
  let floor = peer.dataKeyId;
  const last = log.lastIndex();
  if (peer.applied >= last) return floor;
  let entries;
  try {
    entries = log.entries(Math.max(peer.applied + 1, log.firstIndex()), last + 1, Number.POSITIVE_INFINITY);
  } catch {
    return ring.floorKeyId(); // not in memory now: judged at the next retirement
  }
  if (entries.length < last - peer.applied) return ring.floorKeyId();
  for (const e of entries) {
    const id = e.type === 'normal' ? sealedKeyId(e.data) : undefined;
    if (id !== undefined) floor = Math.min(floor, id);
  }
  return floor;
}

/**
 * Drops from the keyring every data key id no entry this store can still read needs
 * (`retirableDataKeyFloor`), and none at or above `atMost` (a cluster retires to the lowest
 * floor of its stores: another store's log may still send an entry under a key this one could
 * drop), durably first (`DATA_KEY_FLOOR_KEY`), so a restart does not bring them back. Answers
 * the floor now in force.
 */
export async function retireDataKeys(ctx: StoreContext, ring: EntryKeyring, atMost = Number.POSITIVE_INFINITY): Promise<number> {
  const floor = Math.min(retirableDataKeyFloor(ctx, ring), atMost);
  if (floor <= ring.floorKeyId()) return ring.floorKeyId();
  await ctx.engine.write(new WriteBatch().put(META_CF, DATA_KEY_FLOOR_KEY, encodeKeyId(floor)), { durability: 'strict' });
  ring.retireBelow(floor);
  return ring.floorKeyId();
}

function encodeKeyId(keyId: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, keyId);
  return out;
}

function decodeKeyId(b: Uint8Array | undefined): number {
  return b !== undefined && b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : 0;
}

/**
 * A follower's newer data key reaches its region's leader (`data-key-switch.ts`): a store's
 * keyring can move past a region it only follows (a rotation sent to it, a switch of a region
 * it leads, a snapshot), while the leader of that region, sharing no other region with it,
 * never learns the id and never switches. So a follower whose keyring is ahead of its region's
 * applied switch forwards the switch to the leader (`forwardOverdue`), and the leader, after
 * checking it (`takeForwardedSwitches`), moves its own keyring on and proposes it.
 *
 * What a leader accepts (each refusal counted in the store's `refused`):
 * - only from a full voter of the region: not a witness (`dataKeySwitchFromWitness`: it holds
 *   no data key, so its word on one is worth nothing), not a learner nor a peer outside the
 *   region (`dataKeySwitchFromNonMember`);
 * - only for a region that holds data (`dataKeySwitchNotData`: PD's group seals nothing);
 * - only to a key id it has not retired (`dataKeySwitchRetiredKey`: sealing under it again
 *   would bring back what retirement dropped) and holds a key for (`dataKeySwitchNoKey`).
 *
 * Bounds: a follower forwards at most `DATA_KEY_FORWARDS_PER_WALK_MAX` regions per walk, and a
 * region's switch once per (key id, leader term), so a repeated walk sends nothing new, but
 * again after `DATA_KEY_FORWARD_RESEND_WALKS` walks while it is still overdue (the forward or
 * the leader's proposal may have been lost); a
 * leader keeps at most `DATA_KEY_FORWARDS_QUEUED_MAX` forwards, one per region (the highest
 * key id), between two walks.
 *
 * Carrier: a `RegionMessage` whose Raft message has type `MsgUnreachable` (local to a Raft
 * node: Raft never sends it, `RawNode.step` never sees it, the store loop takes it first) and
 * the key id in `context`; the envelope's `from` is checked against the sending store as for
 * Raft messages.
 */
import type { Message } from '@peerkv/raft';
import { ByteReader, ByteWriter, type RegionMessage } from '@peerkv/transport';
import type { StoreContext } from './context.ts';
import type { RegionPeer } from './peer.ts';
import type { EntryKeyring } from './sealing.ts';

/** Regions a follower forwards a switch for in one walk (`DATA_KEY_SWITCH_CHECK_TICKS`). */
export const DATA_KEY_FORWARDS_PER_WALK_MAX = 8;
/** Walks after which a follower forwards a switch that is still overdue again (same key id and leader term). */
export const DATA_KEY_FORWARD_RESEND_WALKS = 10;
/** Forwarded switches a leader keeps until its next walk (one per region). */
export const DATA_KEY_FORWARDS_QUEUED_MAX = 64;
/** The Raft message type that carries a forwarded switch (see the module header). */
export const DATA_KEY_FORWARD_CARRIER = 'MsgUnreachable' as const;

/** A switch a follower forwarded: its region, the sending peer, the key id. */
export interface ForwardedSwitch {
  regionId: number;
  fromPeerId: number;
  keyId: number;
}

/** Why a leader refused a forwarded switch (the store's `refused` counter names). */
export type ForwardRefusal = 'dataKeySwitchFromWitness' | 'dataKeySwitchFromNonMember' | 'dataKeySwitchNotData' | 'dataKeySwitchRetiredKey' | 'dataKeySwitchNoKey';

/** Whether a region message carries a forwarded switch. */
export function isDataKeyForwardMessage(rm: RegionMessage): boolean {
  return rm.message.type === DATA_KEY_FORWARD_CARRIER;
}

/** A forwarded switch wrapped for the store transport. */
export function dataKeyForwardMessage(peer: RegionPeer, toPeerId: number, keyId: number): RegionMessage {
  const w = new ByteWriter(8);
  w.varUint(keyId);
  const message: Message = { type: DATA_KEY_FORWARD_CARRIER, to: toPeerId, from: peer.peerId, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: w.finish() };
  return { regionId: peer.regionId, regionEpoch: { ...peer.region.epoch }, message };
}

/** The forwarded switch a message carries, or undefined when its context does not decode. */
export function decodeDataKeyForward(rm: RegionMessage): ForwardedSwitch | undefined {
  try {
    const r = new ByteReader(rm.message.context ?? new Uint8Array());
    const keyId = r.varUint();
    r.end('data key forward');
    return { regionId: rm.regionId, fromPeerId: rm.message.from, keyId };
  } catch {
    return undefined;
  }
}

/**
 * The refusal of `f` by the leader `peer` whose store holds `ring`, or undefined to accept it
 * (see the module header for the rules).
 */
export async function forwardRefusal(peer: RegionPeer, ring: EntryKeyring, f: ForwardedSwitch): Promise<ForwardRefusal | undefined> {
  const from = peer.region.peers.find((p) => p.id === f.fromPeerId);
  if (from?.witness) return 'dataKeySwitchFromWitness';
  if (!from || from.role !== 'voter') return 'dataKeySwitchFromNonMember';
  if (!peer.machine.holdsData) return 'dataKeySwitchNotData';
  if (f.keyId < ring.floorKeyId()) return 'dataKeySwitchRetiredKey';
  if (!(await ring.cipher(f.keyId))) return 'dataKeySwitchNoKey';
  return undefined;
}

/** Both ends of the forwarding on one store (see the module header). */
export class DataKeyForwards {
  /** Region id → the key id and leader term a switch was forwarded for, and at which walk (the follower's dedupe). */
  private readonly sent = new Map<number, { keyId: number; term: number; walk: number }>();
  private walks = 0;
  /** Region id → the forwarded switch with the highest key id since the last walk (the leader's queue). */
  private readonly queued = new Map<number, ForwardedSwitch>();
  /** Forwards sent (for tests and status). */
  forwardsSent = 0;

  constructor(private readonly ctx: StoreContext) {}

  /** As a follower: forwards the switch of every region it follows whose applied switch is behind `ring`. */
  forwardOverdue(ring: EntryKeyring): void {
    if (this.ctx.mutations.dataKeyForwardOff) return;
    const keyId = ring.currentKeyId();
    const walk = ++this.walks;
    let sentNow = 0;
    for (const peer of this.ctx.peers.values()) {
      if (sentNow >= DATA_KEY_FORWARDS_PER_WALK_MAX) break;
      if (peer.dataKeyId >= keyId || !peer.machine.holdsData || !peer.initialized || peer.destroyed || peer.applying || peer.isLeader()) continue;
      const st = peer.raw.status();
      const leaderStore = st.lead === 0 ? undefined : peer.storeOf(st.lead);
      if (leaderStore === undefined) continue;
      const last = this.sent.get(peer.regionId);
      if (last && last.keyId >= keyId && last.term === st.term && walk - last.walk < DATA_KEY_FORWARD_RESEND_WALKS) continue;
      this.sent.set(peer.regionId, { keyId, term: st.term, walk });
      this.ctx.transport.send(leaderStore, [dataKeyForwardMessage(peer, st.lead, keyId)]);
      this.forwardsSent++;
      sentNow++;
    }
    for (const id of this.sent.keys()) if (!this.ctx.peers.has(id)) this.sent.delete(id);
  }

  /** Forwards queued for the next walk. */
  queuedCount(): number {
    return this.queued.size;
  }

  /** As a leader: a forward arrived (its sender already checked against the sending store). */
  receive(rm: RegionMessage): void {
    const f = decodeDataKeyForward(rm);
    if (!f) {
      this.ctx.countRefused('dataKeySwitchMalformed');
      return;
    }
    const had = this.queued.get(f.regionId);
    if (had && had.keyId >= f.keyId) return; // a repeat: nothing new
    if (!had && this.queued.size >= DATA_KEY_FORWARDS_QUEUED_MAX) {
      this.ctx.countRefused('dataKeySwitchQueueFull');
      return;
    }
    this.queued.set(f.regionId, f);
  }

  /**
   * As a leader: checks the queued forwards (`forwardRefusal`) and answers the highest key id
   * accepted (0 for none); the caller moves the keyring on to it and proposes the switches.
   */
  async takeForwardedSwitches(ring: EntryKeyring): Promise<number> {
    const forwards = [...this.queued.values()];
    this.queued.clear();
    let accepted = 0;
    for (const f of forwards) {
      const peer = this.ctx.peers.get(f.regionId);
      if (!peer || peer.destroyed || !peer.isLeader() || f.keyId <= Math.max(peer.dataKeyId, accepted)) continue;
      const refusal = await forwardRefusal(peer, ring, f);
      if (refusal) this.ctx.countRefused(refusal);
      else accepted = f.keyId;
    }
    return accepted;
  }
}

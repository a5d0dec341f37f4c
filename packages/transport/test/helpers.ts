/** Test helpers: link transports wired by in-process pipes (not the simulator's MemoryNetwork). */
import { makeMessage } from '@peerkv/raft';
import { deriveClusterKeys } from '../src/auth.ts';
import type { ClusterKeys } from '../src/auth.ts';
import type { RaftBatch, RegionMessage } from '../src/codec/envelope.ts';
import type { PeerEvent, Transport } from '../src/types.ts';
import type { Link, LinkHandle, LinkTransportOptions } from '../src/link-transport.ts';
import { LinkTransport } from '../src/link-transport.ts';
import { RpcError } from '../src/rpc.ts';
import { readFrame } from '../src/codec/frame.ts';
import { deriveLinkMac, PACKET_SEALED, sealPacket } from '../src/link-mac.ts';

const keyCache = new Map<string, Promise<ClusterKeys>>();

/** Cluster keys with few PBKDF2 iterations, cached: tests need the shape, not the cost. */
export function testKeys(clusterId: string, secret: string): Promise<ClusterKeys> {
  const k = `${clusterId}\u0000${secret}`;
  if (!keyCache.has(k)) keyCache.set(k, deriveClusterKeys(clusterId, secret, 1000));
  return keyCache.get(k) as Promise<ClusterKeys>;
}

/** A pipe end: packets sent arrive at the other end on a later microtask, in order. */
export class PipeLink implements Link {
  peer: PipeLink | null = null;
  handle: LinkHandle | null = null;
  buffered = 0;
  sent: Uint8Array[] = [];
  closed = false;

  send(packet: Uint8Array): void {
    if (this.closed) throw new Error('closed');
    this.sent.push(packet);
    const target = this.peer;
    queueMicrotask(() => {
      if (target && !target.closed) target.handle?.receive(packet.slice());
    });
  }

  bufferedAmountBytes(): number {
    return this.buffered;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const p = this.peer;
    queueMicrotask(() => p?.handle?.closed('remote closed'));
  }
}

/** A link transport whose links are made by hand. */
export class TestTransport extends LinkTransport {
  readonly received: RaftBatch[] = [];

  constructor(o: LinkTransportOptions) {
    super(o);
    this.onMessage((b) => this.received.push(b));
  }

  /** Attaches a link to `remote` (exposed for tests). */
  attach(remoteStoreId: number, link: PipeLink): LinkHandle {
    const h = this.attachLink(remoteStoreId, link);
    link.handle = h;
    return h;
  }

  /** Every region message received, in order. */
  messages(): RegionMessage[] {
    return this.received.flatMap((b) => b.messages);
  }
}

/** Connects two transports with a pipe pair; returns both ends. */
export function connect(a: TestTransport, b: TestTransport): [PipeLink, PipeLink] {
  const la = new PipeLink();
  const lb = new PipeLink();
  la.peer = lb;
  lb.peer = la;
  a.attach(b.localStoreId, la);
  b.attach(a.localStoreId, lb);
  return [la, lb];
}

/** A region message whose entry data encodes `seq`. */
export function seqMessage(seq: number, dataBytes = 8): RegionMessage {
  const data = new Uint8Array(Math.max(8, dataBytes));
  new DataView(data.buffer).setFloat64(0, seq);
  return {
    regionId: 1,
    regionEpoch: { confVer: 1, version: 1 },
    message: makeMessage({ type: 'MsgApp', term: 1, index: seq, entries: [{ term: 1, index: seq, type: 'normal', data }] }),
  };
}

/** Reads back the `seq` of `seqMessage`. */
export function seqOf(m: RegionMessage): number {
  const d = m.message.entries[0].data;
  return new DataView(d.buffer, d.byteOffset, d.byteLength).getFloat64(0);
}

/** Resolves when `cond()` holds, polling on macrotasks (bounded by `rounds`). */
export async function until(cond: () => boolean, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error('condition not reached');
}

/** The `RpcError` a request rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcError) return e;
    throw e;
  }
  throw new Error('resolved');
}

/** A transport under test with what it received: batches and peer events. */
export interface Watched<T extends Transport> {
  t: T;
  got: RaftBatch[];
  events: PeerEvent[];
}

/**
 * Records `t`'s batches and peer events, answers its requests with the payload plus the
 * caller's id, and registers its close with `cleanups`.
 */
export function watch<T extends Transport>(t: T, cleanups: Array<() => unknown>): Watched<T> {
  cleanups.push(() => t.close());
  const got: RaftBatch[] = [];
  const events: PeerEvent[] = [];
  t.onMessage((b) => got.push(b));
  t.onPeer((e) => events.push(e));
  t.onRequest(async (from, p) => new Uint8Array([...p, from]));
  return { t, got, events };
}

/** The nonce of the auth hello a pipe end sent first. */
function helloNonce(l: PipeLink): Uint8Array {
  const f = readFrame((l.sent[0] as Uint8Array).subarray(1));
  if (f.type !== 'authHello') throw new Error('the first packet is not a hello');
  return f.nonce;
}

/**
 * Sends `inners` (whole or chunk packets) on the open link `sender` as its transport would,
 * sealed with the link's key and numbered after what it sent: an authenticated peer that
 * misbehaves. Call when the link is quiet (sequence numbers are read from `sender.sent`).
 */
export async function sendSealed(keys: ClusterKeys, sender: PipeLink, senderStoreId: number, receiverStoreId: number, inners: Uint8Array[]): Promise<void> {
  const receiver = sender.peer as PipeLink;
  const mac = await deriveLinkMac(keys, { localStoreId: senderStoreId, remoteStoreId: receiverStoreId, localNonce: helloNonce(sender), remoteNonce: helloNonce(receiver) });
  let seq = sender.sent.filter((p) => p[0] === PACKET_SEALED).length;
  for (const p of inners) sender.send(sealPacket(mac.sendKey, seq++, p));
}

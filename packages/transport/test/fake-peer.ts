/**
 * An in-process stand-in for simple-peer, for testing `WebRtcTransport`'s signaling logic in
 * Node: the initiator signals an "offer", the answerer an "answer" plus a "candidate", and
 * once both sides have what they need the pair connects and carries bytes in order.
 */
import type { PeerFactory, PeerLike, PeerOptions } from '../src/webrtc-transport.ts';

type Handler = (...args: unknown[]) => void;

let nextId = 1;

/** Test knob: delay of the second side's `connect` event after the first's, ms (0 = same tick). */
export const fakePeerTiming = { connectSkewMs: 0 };
const registry = new Map<number, FakePeer>();

/** A fake simple-peer. */
export class FakePeer {
  readonly id = nextId++;
  private readonly handlers = new Map<string, Handler[]>();
  private remote: FakePeer | null = null;
  destroyed = false;
  connected = false;
  bufferSize = 0;

  constructor(readonly opts: PeerOptions) {
    registry.set(this.id, this);
    if (opts.initiator) queueMicrotask(() => this.emit('signal', { type: 'offer', id: this.id }));
  }

  on(event: string, fn: Handler): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
    return this;
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const h of this.handlers.get(event) ?? []) h(...args);
  }

  signal(data: unknown): void {
    const s = data as { type: string; id: number };
    if (this.destroyed) return;
    if (s.type === 'offer') {
      this.remote = registry.get(s.id) ?? null;
      queueMicrotask(() => {
        this.emit('signal', { type: 'answer', id: this.id });
        this.emit('signal', { type: 'candidate', id: this.id });
      });
    } else if (s.type === 'answer') {
      this.remote = registry.get(s.id) ?? null;
    } else if (s.type === 'candidate' && this.remote && this.remote.remote === this) {
      this.connectBoth();
    }
  }

  private connectBoth(): void {
    const r = this.remote as FakePeer;
    if (this.destroyed || r.destroyed) return;
    this.connected = r.connected = true;
    queueMicrotask(() => {
      r.emit('connect');
      // Real channels open on the two sides at different moments: the first may send first.
      if (fakePeerTiming.connectSkewMs > 0) setTimeout(() => this.emit('connect'), fakePeerTiming.connectSkewMs);
      else this.emit('connect');
    });
  }

  send(data: Uint8Array): void {
    if (!this.connected || this.destroyed) throw new Error('not connected');
    const r = this.remote as FakePeer;
    const copy = data.slice();
    queueMicrotask(() => {
      if (!r.destroyed) r.emit('data', copy);
    });
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    registry.delete(this.id);
    queueMicrotask(() => this.emit('close'));
    const r = this.remote;
    if (r && r.remote === this) r.destroy();
  }
}

/** The factory to pass as `peerFactory`. */
export const fakePeerFactory: PeerFactory = (o) => new FakePeer(o) as unknown as PeerLike;

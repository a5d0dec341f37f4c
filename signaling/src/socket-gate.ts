/**
 * Admission of TCP sockets before they become WebSocket connections (issue 13, finding 5).
 * Every socket counts from the moment it connects, whether it is still sending its upgrade
 * headers, upgraded or serving HTTP: per remote address (`connectionsPerAddressMax`) and,
 * until upgraded, against `upgradesPendingMax`. A socket not upgraded within
 * `upgradeTimeoutMs` is destroyed, so parking sockets mid-headers holds nothing for long.
 * An IPv6 client counts by its /64: one host commonly holds a whole /64, so counting single
 * addresses would bound nothing.
 */
import type { Socket } from 'node:net';

/** The gate's limits (a subset of `SignalingLimits`). */
export interface SocketGateLimits {
  connectionsPerAddressMax: number;
  upgradesPendingMax: number;
  upgradeTimeoutMs: number;
}

/** Why the gate refused or ended a socket. */
export type SocketGateDrop = 'addressFull' | 'pendingFull' | 'upgradeTimeout';

interface Pending {
  timer: ReturnType<typeof setTimeout>;
  /** An HTTP request was served on it (`/healthz`, `/metrics`): not a parked upgrade. */
  servedHttp: boolean;
}

/**
 * The key a remote address is counted under: an IPv4 address as is (also when IPv4-mapped,
 * `::ffff:a.b.c.d`), an IPv6 address by its first four groups (its /64).
 */
export function addressKey(remoteAddress: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1];
  if (!remoteAddress.includes(':')) return remoteAddress;
  const [head, tail = ''] = remoteAddress.toLowerCase().split('%')[0].split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = remoteAddress.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Counts sockets per address and times out those that never upgrade. */
export class SocketGate {
  private readonly perAddress = new Map<string, number>();
  private readonly pending = new Map<Socket, Pending>();

  constructor(
    private readonly limits: SocketGateLimits,
    private readonly onDrop: (reason: SocketGateDrop) => void,
  ) {}

  /** Sockets connected but not upgraded. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Distinct remote addresses with a socket open. */
  get addressCount(): number {
    return this.perAddress.size;
  }

  /** True when no further socket would be admitted while none closes. */
  get pendingFull(): boolean {
    return this.pending.size >= this.limits.upgradesPendingMax;
  }

  /** A new TCP socket: admitted, or destroyed and counted. */
  admit(socket: Socket): void {
    const address = addressKey(socket.remoteAddress ?? '');
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.limits.connectionsPerAddressMax) return this.refuse(socket, 'addressFull');
    if (this.pendingFull) return this.refuse(socket, 'pendingFull');
    this.perAddress.set(address, n + 1);
    const timer = setTimeout(() => this.expire(socket), this.limits.upgradeTimeoutMs);
    timer.unref();
    this.pending.set(socket, { timer, servedHttp: false });
    socket.once('close', () => {
      this.settle(socket);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  /** The socket sent complete upgrade headers: it is a WebSocket (or fails as one) now. */
  upgraded(socket: Socket): void {
    this.settle(socket);
  }

  /** An HTTP request completed its headers on the socket. */
  servedHttp(socket: Socket): void {
    const p = this.pending.get(socket);
    if (p) p.servedHttp = true;
  }

  private settle(socket: Socket): void {
    const p = this.pending.get(socket);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(socket);
  }

  private expire(socket: Socket): void {
    const p = this.pending.get(socket);
    if (!p) return;
    this.pending.delete(socket);
    // An idle keep-alive socket after `/healthz` is not an attack; one that never finished
    // its headers is.
    if (!p.servedHttp) this.onDrop('upgradeTimeout');
    socket.destroy();
  }

  private refuse(socket: Socket, reason: SocketGateDrop): void {
    this.onDrop(reason);
    socket.destroy();
  }
}

/** Test helpers: a raw y-webrtc protocol client over `ws`. */
import WebSocket from 'ws';

/** A raw client that records what it receives and how it was closed. */
export class RawClient {
  readonly ws: WebSocket;
  readonly received: Array<Record<string, unknown>> = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      });
    });
    this.ws.on('message', (d) => this.received.push(JSON.parse(d.toString()) as Record<string, unknown>));
    this.ws.on('error', () => {});
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** Resolves when a received message satisfies `pred`. */
  async waitFor(pred: (m: Record<string, unknown>) => boolean, rounds = 3000): Promise<Record<string, unknown>> {
    for (let i = 0; i < rounds; i++) {
      const m = this.received.find(pred);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error('message not received');
  }
}

/** Polls until `cond()` holds. */
export async function until(cond: () => boolean, rounds = 3000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('condition not reached');
}

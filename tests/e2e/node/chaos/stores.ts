/**
 * `ChaosStores`: three `peerkv-store` processes of one cluster (LevelDB, WebRTC), each
 * addressed by a name ('a' bootstraps, 'b' and 'c' join) so the nemesis can kill one
 * (SIGKILL) and restart it from its data directory, or freeze it (SIGSTOP) and thaw it
 * (SIGCONT). Any exit the nemesis did not cause is recorded with the process's last lines.
 */
import { join } from 'node:path';
import { StoreProcess } from '../../store-process.ts';

/** Store names; the first bootstraps the cluster. */
export const STORE_NAMES = ['a', 'b', 'c'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

/** Lines of a process's output kept in a failure report. */
const TAIL_LINES = 20;
/** Time for a (re)started process to print its serving line, ms. */
const SERVING_TIMEOUT_MS = 30_000;

/** Where the processes meet and how they tick. */
export interface ChaosStoresOptions {
  root: string;
  cluster: string;
  secret: string;
  signalingUrl: string;
  /** Told at once when a process exits on its own. */
  onCrash?: (report: string) => void;
}

interface Slot {
  proc: StoreProcess;
  storeId: number;
  /** `crashed`: exited on its own (reported in `crashes`); restarted like a killed one. */
  state: 'up' | 'killed' | 'stopped' | 'crashed';
  /** Set before the nemesis signals the process, so its exit is not reported as a crash. */
  expectExit: boolean;
}

/** The processes of one cluster, by name. */
export class ChaosStores {
  /** Exits nobody asked for, e.g. `b exited 1: ...last lines`. */
  readonly crashes: string[] = [];
  private readonly slots = new Map<StoreName, Slot>();

  constructor(private readonly o: ChaosStoresOptions) {}

  /** Starts 'a' with `--bootstrap`, then 'b' and 'c' joining; resolves once all three serve. */
  async start(): Promise<void> {
    const a = await this.spawn('a', true);
    if (a.started !== 'bootstrapped') throw new Error(`store a started ${a.started}, expected bootstrapped`);
    const [b, c] = await Promise.all([this.spawn('b', false), this.spawn('c', false)]);
    if (b.started !== 'joined' || c.started !== 'joined') throw new Error(`stores b, c started ${b.started}, ${c.started}, expected joined`);
  }

  /** Store ids in name order. */
  ids(): number[] {
    return STORE_NAMES.map((n) => this.slot(n).storeId);
  }

  storeId(name: StoreName): number {
    return this.slot(name).storeId;
  }

  /** SIGKILL and wait for the exit (nothing to do if it crashed). */
  async kill(name: StoreName): Promise<void> {
    const s = this.slot(name);
    if (s.state === 'crashed') return;
    if (s.state !== 'up') throw new Error(`kill ${name}: it is ${s.state}`);
    s.expectExit = true;
    s.proc.kill('SIGKILL');
    await s.proc.exited;
    s.state = 'killed';
  }

  /** Stores that exited on their own and are not running. */
  crashed(): StoreName[] {
    return STORE_NAMES.filter((n) => this.slots.get(n)?.state === 'crashed');
  }

  /** A new process on a killed (or crashed) store's directory; it must come back under the same id. */
  async restart(name: StoreName): Promise<void> {
    const old = this.slot(name);
    if (old.state !== 'killed' && old.state !== 'crashed') throw new Error(`restart ${name}: it is ${old.state}`);
    const r = await this.spawn(name, false);
    if (r.started !== 'restarted' || r.storeId !== old.storeId) {
      throw new Error(`store ${name} came back as store ${r.storeId} (${r.started}), expected store ${old.storeId} restarted`);
    }
  }

  /** SIGSTOP: the process keeps its sockets but runs nothing (nothing to do if it crashed). */
  stop(name: StoreName): void {
    const s = this.slot(name);
    if (s.state === 'crashed') return;
    if (s.state !== 'up') throw new Error(`stop ${name}: it is ${s.state}`);
    s.proc.kill('SIGSTOP');
    s.state = 'stopped';
  }

  /** SIGCONT after `stop` (nothing to do if it crashed meanwhile). */
  cont(name: StoreName): void {
    const s = this.slot(name);
    if (s.state === 'crashed') return;
    if (s.state !== 'stopped') throw new Error(`cont ${name}: it is ${s.state}`);
    s.proc.kill('SIGCONT');
    s.state = 'up';
  }

  /** Every store running: frozen ones thawed, killed and crashed ones restarted. */
  async heal(): Promise<void> {
    for (const name of STORE_NAMES) {
      const s = this.slot(name);
      if (s.state === 'stopped') this.cont(name);
      if (s.state === 'killed' || s.state === 'crashed') await this.restart(name);
    }
  }

  /** Last lines of a store's output, for failure reports. */
  tail(name: StoreName): string {
    return this.slot(name).proc.lines.slice(-TAIL_LINES).join(' | ');
  }

  /** Thaws and kills every process (test cleanup). */
  async close(): Promise<void> {
    for (const s of this.slots.values()) {
      s.expectExit = true;
      s.proc.kill('SIGCONT');
      s.proc.kill('SIGKILL');
    }
    await Promise.all([...this.slots.values()].map((s) => s.proc.exited));
  }

  private slot(name: StoreName): Slot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`store ${name} was never started`);
    return s;
  }

  private args(name: StoreName, bootstrap: boolean): string[] {
    const o = this.o;
    return [
      '--data', join(o.root, name), '--cluster', o.cluster, '--secret', o.secret, '--signaling', o.signalingUrl,
      '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000',
      // The raw model: the chaos checker's linearizable KV history (stamped writes).
      '--data-model', 'raw',
      ...(bootstrap ? ['--bootstrap'] : []),
    ];
  }

  private async spawn(name: StoreName, bootstrap: boolean): Promise<{ storeId: number; started: string }> {
    const proc = new StoreProcess(this.args(name, bootstrap));
    const slot: Slot = { proc, storeId: 0, state: 'up', expectExit: false };
    this.slots.set(name, slot);
    void proc.exited.then((code) => {
      if (slot.expectExit) return;
      const report = `store ${name} (pid ${proc.pid}, was ${slot.state}) exited with code ${code} signal ${proc.exitSignal}: ${proc.lines.slice(-TAIL_LINES).join(' | ')}`;
      slot.state = 'crashed';
      this.crashes.push(report);
      this.o.onCrash?.(report);
    });
    const r = await proc.serving(SERVING_TIMEOUT_MS);
    slot.storeId = r.storeId;
    return r;
  }
}

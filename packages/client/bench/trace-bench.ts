/**
 * `npm run bench:trace`: what the client's latency trace (`src/trace.ts`) costs, in one run.
 * One PD-driven mvcc cluster of three in-memory stores (memory engines, so the client's own
 * work is as large a share of a put as it gets), `CLIENTS` clients putting concurrently; each
 * round measures the same clients with the trace off and on, one after the other, the order
 * swapped every round, so load from elsewhere falls on both alike. Prints
 *   bench:trace on_vs_off= on_vs_off_min= on_vs_off_max= ops_per_s_off= ops_per_s_on= cpu_us_per_put_off= cpu_us_per_put_on= rounds=
 * - on_vs_off: puts/s with the trace on over puts/s with it off (the median of the rounds'
 *   ratios, their spread beside). Off, each instrumented path is one field read and no clock
 *   (test/client-trace.test.ts counts the clock reads: none), so on_vs_off bounds from below
 *   what turning it on costs; what off costs is below anything this run can resolve;
 * - cpu_us_per_put_*: the process's CPU time per put (medians), which load moves less than wall time.
 * `BENCH_ROUNDS` (default 6) and `BENCH_OPS` (puts per client per round and mode, default 100).
 */
import { MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, SpanTrace } from '../src/index.ts';
import { median, until } from './bench-util.ts';

const CLIENTS = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const PUTS_PER_CLIENT = Number(process.env.BENCH_OPS ?? 100);
const TXN_CFS = ['default', 'lock', 'write'];
const enc = new TextEncoder();
const value = new Uint8Array(100);

/** Puts per second and CPU µs per put of one mode's pass. */
async function pass(clients: PeerKV[], on: boolean, tag: string): Promise<{ opsPerS: number; cpuUsPerPut: number }> {
  for (const kv of clients) kv.setTrace(on ? new SpanTrace() : undefined);
  const t0 = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(clients.map(async (kv, c) => {
    for (let i = 0; i < PUTS_PER_CLIENT; i++) await kv.put(enc.encode(`${tag}/${c}/${i}`), value);
  }));
  const used = process.cpuUsage(cpu);
  const puts = clients.length * PUTS_PER_CLIENT;
  return { opsPerS: puts / ((performance.now() - t0) / 1000), cpuUsPerPut: (used.user + used.system) / puts };
}

async function main(): Promise<void> {
  const c = new PdCluster({
    openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
    store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, dataColumnFamilies: TXN_CFS, dataModel: 'mvcc' },
    schedule: { regionSplitKeys: 1_000_000 },
  });
  await c.bootstrap('a');
  await c.join('b');
  await c.join('c');
  await until('three voters for the data region', () => c.regions().some((r) => r.id !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3));
  const clients = Array.from({ length: CLIENTS }, () => new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' }));
  try {
    await pass(clients, false, 'warm');
    const off: { opsPerS: number; cpuUsPerPut: number }[] = [];
    const on: { opsPerS: number; cpuUsPerPut: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? [false, true] : [true, false]) (mode ? on : off).push(await pass(clients, mode, `r${r}${mode ? 'on' : 'off'}`));
      console.log(`round ${r + 1}: off ${off[r].opsPerS.toFixed(0)} puts/s (${off[r].cpuUsPerPut.toFixed(0)} µs CPU each), on ${on[r].opsPerS.toFixed(0)} puts/s (${on[r].cpuUsPerPut.toFixed(0)} µs)`);
    }
    const ratios = on.map((x, i) => x.opsPerS / off[i].opsPerS);
    console.log(
      `bench:trace on_vs_off=${median(ratios).toFixed(3)} on_vs_off_min=${Math.min(...ratios).toFixed(3)} on_vs_off_max=${Math.max(...ratios).toFixed(3)}` +
        ` ops_per_s_off=${median(off.map((x) => x.opsPerS)).toFixed(0)} ops_per_s_on=${median(on.map((x) => x.opsPerS)).toFixed(0)}` +
        ` cpu_us_per_put_off=${median(off.map((x) => x.cpuUsPerPut)).toFixed(0)} cpu_us_per_put_on=${median(on.map((x) => x.cpuUsPerPut)).toFixed(0)} rounds=${ROUNDS}`,
    );
  } finally {
    for (const kv of clients) kv.close();
    await c.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

/**
 * `npm run bench:raft`: the same proposal workload on a 3-node and a 1-node cluster in one
 * process (in-memory message passing, MemoryStorage), side by side in one run. Prints
 * committed+applied proposals per second, p50/p99 commit latency in ticks and wall ms, and
 * the 3-node/1-node throughput ratio. Wall time is measured here, in the benchmark driver,
 * never inside the Raft core.
 */
import { DEFAULT_CONFIG, MemoryStorage, RawNode, SeededRng, type Message } from '../src/index.ts';

const PROPOSALS = Number(process.env.BENCH_PROPOSALS ?? 100_000);
const WINDOW = 256; // proposals in flight
const VALUE_BYTES = 100;
const ROUNDS_PER_TICK = 5;

interface Result {
  nodes: number;
  opsPerSec: number;
  p50Ticks: number;
  p99Ticks: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function run(n: number, count: number): Result {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const storages = new Map(ids.map((id) => [id, MemoryStorage.withVoters(ids)]));
  const nodes = new Map(
    ids.map((id) => [
      id,
      new RawNode({ ...DEFAULT_CONFIG, id, storage: storages.get(id)!, rng: new SeededRng(id), maxInflightMsgs: 512 }),
    ]),
  );
  let queue: Message[] = [];
  let ticks = 0;
  const proposedAt = new Map<number, { tick: number; ms: number }>();
  const latTicks: number[] = [];
  const latMs: number[] = [];
  let applied = 0;
  let proposed = 0;

  const processAll = (): void => {
    for (const id of ids) {
      const node = nodes.get(id)!;
      if (!node.hasReady()) continue;
      const rd = node.ready();
      const st = storages.get(id)!;
      if (rd.snapshot) st.applySnapshot(rd.snapshot);
      st.append(rd.entries);
      if (rd.hardState) st.setHardState(rd.hardState);
      queue.push(...rd.messages, ...rd.persistedMessages);
      for (const e of rd.committedEntries) {
        if (id !== 1 || e.data.length === 0) continue;
        const seq = new DataView(e.data.buffer, e.data.byteOffset).getUint32(0);
        const at = proposedAt.get(seq);
        if (!at) continue;
        latTicks.push(ticks - at.tick);
        latMs.push(performance.now() - at.ms);
        proposedAt.delete(seq);
        applied++;
      }
      node.advance(rd);
    }
    const msgs = queue;
    queue = [];
    for (const m of msgs) nodes.get(m.to)!.step(m);
  };

  const leader = nodes.get(1)!;
  leader.campaign();
  for (let i = 0; i < 50 && leader.status().role !== 'leader'; i++) processAll();
  for (let i = 0; i < 20; i++) processAll();

  const start = performance.now();
  let rounds = 0;
  while (applied < count) {
    while (proposed < count && proposed - applied < WINDOW) {
      const data = new Uint8Array(VALUE_BYTES);
      new DataView(data.buffer).setUint32(0, proposed);
      proposedAt.set(proposed, { tick: ticks, ms: performance.now() });
      leader.propose(data);
      proposed++;
    }
    processAll();
    if (++rounds % ROUNDS_PER_TICK === 0) {
      for (const node of nodes.values()) node.tick();
      ticks++;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  latTicks.sort((a, b) => a - b);
  latMs.sort((a, b) => a - b);
  return {
    nodes: n,
    opsPerSec: Math.round(applied / seconds),
    p50Ticks: percentile(latTicks, 50),
    p99Ticks: percentile(latTicks, 99),
    p50Ms: Number(percentile(latMs, 50).toFixed(3)),
    p99Ms: Number(percentile(latMs, 99).toFixed(3)),
  };
}

// Warm up the JIT on a small run of each shape, then measure.
run(3, 5_000);
run(1, 5_000);
const r3 = run(3, PROPOSALS);
const r1 = run(1, PROPOSALS);
console.log(`bench:raft ${PROPOSALS} proposals of ${VALUE_BYTES} B, window ${WINDOW}, 1 tick per ${ROUNDS_PER_TICK} message rounds`);
console.log('nodes  ops/s     p50_ticks  p99_ticks  p50_ms   p99_ms');
for (const r of [r3, r1]) {
  console.log(
    `${String(r.nodes).padEnd(6)} ${String(r.opsPerSec).padEnd(9)} ${String(r.p50Ticks).padEnd(10)} ${String(r.p99Ticks).padEnd(10)} ${String(r.p50Ms).padEnd(8)} ${r.p99Ms}`,
  );
}
console.log(`bench:raft ops_per_s_3=${r3.opsPerSec} ops_per_s_1=${r1.opsPerSec} ratio=${(r3.opsPerSec / r1.opsPerSec).toFixed(3)}`);

import { describe, expect, it } from 'vitest';
import { SeededRng } from '@peerkv/raft';
import { MemoryNetwork, NetworkConfigError, type Delivery, type DropReason } from '../src/memory-network.ts';

function drain<M>(net: MemoryNetwork<M>): Delivery<M>[] {
  const out: Delivery<M>[] = [];
  for (let t = net.nextDeliveryAtMs(); t !== undefined; t = net.nextDeliveryAtMs()) out.push(...net.takeDue(t));
  return out;
}

describe('MemoryNetwork', () => {
  it('delivers in virtual-time order, ties by send order', () => {
    const net = new MemoryNetwork<string>({ rng: new SeededRng(1), faults: { delayMsMin: 5, delayMsMax: 5 } });
    net.send(1, 2, 'a', 0);
    net.send(1, 2, 'b', 0);
    net.send(2, 1, 'c', 1);
    expect(net.nextDeliveryAtMs()).toBe(5);
    expect(net.takeDue(4)).toEqual([]);
    expect(net.takeDue(5).map((d) => d.message)).toEqual(['a', 'b']);
    expect(net.takeDue(6).map((d) => [d.source, d.target, d.message])).toEqual([[2, 1, 'c']]);
    expect(net.nextDeliveryAtMs()).toBeUndefined();
  });

  it('is deterministic for a seed and reorders with random delays', () => {
    const run = (seed: number): number[] => {
      const net = new MemoryNetwork<number>({
        rng: new SeededRng(seed),
        faults: { delayMsMin: 1, delayMsMax: 50, lossRate: 0.1, duplicateRate: 0.1, reorderRate: 0.2, reorderDelayMsMax: 100 },
      });
      for (let i = 0; i < 200; i++) net.send(1, 2, i, i);
      return drain(net).map((d) => d.message);
    };
    const a = run(7);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
    const sorted = [...a].sort((x, y) => x - y);
    expect(a).not.toEqual(sorted); // reordered
    expect(new Set(a).size).toBeLessThan(200); // some lost
    expect(a.length).toBeGreaterThan(new Set(a).size); // some duplicated
  });

  it('loses and duplicates at roughly the configured rates', () => {
    const drops: DropReason[] = [];
    const net = new MemoryNetwork<number>({
      rng: new SeededRng(3),
      faults: { lossRate: 0.25, duplicateRate: 0.5 },
      onDrop: (_d, reason) => drops.push(reason),
    });
    for (let i = 0; i < 4000; i++) net.send(1, 2, i, 0);
    expect(net.stats.dropped.loss).toBeGreaterThan(800);
    expect(net.stats.dropped.loss).toBeLessThan(1200);
    expect(net.stats.duplicated).toBeGreaterThan(1200);
    expect(drops.every((r) => r === 'loss')).toBe(true);
    expect(drain(net).length).toBe(4000 - net.stats.dropped.loss + net.stats.duplicated);
  });

  it('symmetric partitions block both ways; unlisted endpoints are unaffected', () => {
    const net = new MemoryNetwork<string>({ rng: new SeededRng(1) });
    net.partition([[1, 2], [3]]);
    expect(net.canReach(1, 2)).toBe(true);
    expect(net.canReach(1, 3)).toBe(false);
    expect(net.canReach(3, 2)).toBe(false);
    expect(net.canReach(4, 3)).toBe(true);
    net.heal();
    expect(net.canReach(1, 3)).toBe(true);
  });

  it('asymmetric cuts block one direction only', () => {
    const net = new MemoryNetwork<string>({ rng: new SeededRng(1) });
    net.cutLink(1, 2);
    net.send(1, 2, 'lost', 0);
    net.send(2, 1, 'arrives', 0);
    expect(drain(net).map((d) => d.message)).toEqual(['arrives']);
    expect(net.stats.dropped.partition).toBe(1);
    net.restoreLink(1, 2);
    expect(net.isHealed()).toBe(true);
  });

  it('drops messages in flight when the link is cut before delivery', () => {
    const dropped: string[] = [];
    const net = new MemoryNetwork<string>({ rng: new SeededRng(1), faults: { delayMsMin: 10, delayMsMax: 10 }, onDrop: (d) => dropped.push(d.message) });
    net.send(1, 2, 'x', 0);
    net.isolate(2);
    expect(net.takeDue(10)).toEqual([]);
    expect(dropped).toEqual(['x']);
    net.reconnect(2);
    net.send(1, 2, 'y', 10);
    expect(net.takeDue(20).map((d) => d.message)).toEqual(['y']);
  });

  it('bounds the messages in flight', () => {
    const net = new MemoryNetwork<number>({ rng: new SeededRng(1), inflightMessagesMax: 3 });
    for (let i = 0; i < 5; i++) net.send(1, 2, i, 0);
    expect(net.inflightCount()).toBe(3);
    expect(net.stats.dropped.queueFull).toBe(2);
  });

  it('rejects bad fault settings with a typed error', () => {
    expect(() => new MemoryNetwork({ rng: new SeededRng(1), faults: { lossRate: 2 } })).toThrow(NetworkConfigError);
    const net = new MemoryNetwork({ rng: new SeededRng(1) });
    try {
      net.setFaults({ delayMsMin: 5, delayMsMax: 1 });
      expect.unreachable();
    } catch (e) {
      expect((e as NetworkConfigError).kind).toBe('InvalidDelay');
    }
  });
});

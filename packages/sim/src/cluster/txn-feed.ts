/**
 * The change feed in `--txn` runs: a watcher over the whole key space (`kv.watch`, the real
 * client and stores, through the lossy client network, the nemesis' kills, partitions, splits
 * and leader transfers), a small writer that also deletes (the workload only puts), and the
 * check of what the feed delivered against what the stores committed.
 *
 * - **What was committed** is taken from the stores themselves: an apply observer on every
 *   store (`CommittedChanges`) records each `put`/`delete` write record applied anywhere (a
 *   committed Raft entry: applied means committed) and each long value, never forgetting one
 *   (GC deletes are ignored). A write whose client never learned its outcome is here if it
 *   committed.
 * - **The checks** (`checkFeed`), over the stream the consumer read:
 *   - completeness: every committed change with commitTs in (fromTs, W] came before the first
 *     watermark ≥ its commitTs, for the last watermark W the feed delivered;
 *   - soundness: every delivered change was committed, as delivered (put and value, or delete);
 *   - order: per key, commitTs only goes up (an exact repeat is allowed: at least once);
 *   - watermarks only go up; the feed reached the ts taken after the final read (liveness).
 * - **GC**: the watcher registers its last consumed watermark with the GC driver (as the
 *   watch's own GC hold does with PD), so the safe point never passes it.
 *
 * Mutations (`--mutation cdcSkipDeletes`, `cdcWatermarkAhead`): the stores drop delete events,
 * or vouch past their resolved ts; each must be caught here.
 */
import type { AppliedCommand, ApplyObserver } from '@peerkv/store';
import { CF_DEFAULT, CF_WRITE, decodeMvccKey, decodeWrite } from '@peerkv/txn';
import type { PeerKV, Watch, WatchEvent } from 'peerkv';
import type { ClusterEnv } from './cluster-env.ts';
import type { GcDriver, GcRegistration } from './txn-gc.ts';

/** The writer's keys (outside the workload's). */
const FEED_KEY_PREFIX = '~feed/';
/** Pause between two of the writer's writes, virtual ms. */
const FEED_WRITE_EVERY_MS = 150;
/** Problems of one kind listed in full (the rest counted). */
const PROBLEMS_LISTED_MAX = 5;

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A committed change: its key, commitTs, and value (absent: a delete). */
interface Change {
  key: Uint8Array;
  commitTs: bigint;
  value?: Uint8Array;
}

const changeId = (key: Uint8Array, commitTs: bigint): string => `${hex(key)}@${commitTs}`;

/** Every put/delete write record and long value any store applied (see the module comment). */
export class CommittedChanges implements ApplyObserver {
  private readonly records = new Map<string, { key: Uint8Array; commitTs: bigint; kind: 'put' | 'delete'; startTs: bigint; shortValue?: Uint8Array }>();
  private readonly longValues = new Map<string, Uint8Array>();

  onApplied(cmd: AppliedCommand): void {
    if (cmd.type !== 'txn') return;
    for (const op of cmd.ops) {
      if (op.type !== 'put') continue;
      const cf = op.cf;
      if (cf === CF_DEFAULT) {
        const { key, ts } = decodeMvccKey(op.key);
        this.longValues.set(changeId(key, ts), op.value);
      } else if (cf === CF_WRITE) {
        const { key, ts } = decodeMvccKey(op.key);
        const w = decodeWrite(op.value);
        if (w.kind !== 'put' && w.kind !== 'delete') continue;
        const id = changeId(key, ts);
        if (!this.records.has(id)) this.records.set(id, { key, commitTs: ts, kind: w.kind, startTs: w.startTs, ...(w.shortValue === undefined ? {} : { shortValue: w.shortValue }) });
      }
    }
  }

  /** The committed changes, by `changeId`. */
  changes(): Map<string, Change> {
    const out = new Map<string, Change>();
    for (const [id, r] of this.records) {
      if (r.kind === 'delete') {
        out.set(id, { key: r.key, commitTs: r.commitTs });
        continue;
      }
      const value = r.shortValue ?? this.longValues.get(changeId(r.key, r.startTs));
      out.set(id, { key: r.key, commitTs: r.commitTs, ...(value === undefined ? {} : { value }) });
    }
    return out;
  }
}

export interface FeedStats {
  /** Changes and watermarks the consumer read. */
  feedEvents: number;
  feedWatermarks: number;
  /** Committed changes the completeness check covered. */
  feedChecked: number;
  /** The writer's writes (puts and deletes) acknowledged. */
  feedWrites: number;
}

export function emptyFeedStats(): FeedStats {
  return { feedEvents: 0, feedWatermarks: 0, feedChecked: 0, feedWrites: 0 };
}

/** A violation the feed check found. */
export interface FeedProblem {
  atMs: number;
  message: string;
}

/** A running feed as the watcher consumes it: `kv.watch`'s `Watch`, or a tab's `TabWatch`. */
export interface FeedIterator {
  next(): Promise<IteratorResult<WatchEvent>>;
  return(): Promise<unknown>;
  /** Resolves once the feed stopped everything it ran (a `Watch`'s region feeds). */
  settled?(): Promise<unknown>;
}

/**
 * The watcher: consumes the feed into `stream` while the run goes on. The feed is `client`'s
 * `kv.watch` of everything unless `open` gives another (a tab's watch through its hosts,
 * `tab-watch-lane.ts`).
 */
export class FeedWatcher {
  readonly stream: WatchEvent[] = [];
  fromTs = 0n;
  failure: unknown;
  private watch: FeedIterator | undefined;
  private consumer: Promise<void> | undefined;
  private hold: GcRegistration | undefined;

  constructor(
    private readonly env: ClusterEnv,
    private readonly client: PeerKV,
    private readonly gc: GcDriver | undefined,
    readonly stats: FeedStats,
    private readonly open: (fromTs: bigint) => FeedIterator = (fromTs): Watch => client.watch({ start: new Uint8Array() }, { fromTs }),
  ) {}

  /** Starts watching everything from a fresh ts (registered with GC first). */
  async start(): Promise<void> {
    this.fromTs = await this.client.getTimestamp();
    this.hold = this.gc?.register(this.fromTs, true);
    const w = this.open(this.fromTs);
    this.watch = w;
    this.consumer = (async () => {
      try {
        for (;;) {
          const r = await w.next();
          if (r.done) return;
          this.stream.push(r.value);
          if (r.value.type === 'resolved') {
            this.stats.feedWatermarks++;
            if (this.hold) this.hold.ts = r.value.ts;
          } else this.stats.feedEvents++;
        }
      } catch (e) {
        this.failure = e;
      }
    })();
  }

  /** The last watermark consumed (0 before any). */
  lastWatermark(): bigint {
    for (let i = this.stream.length - 1; i >= 0; i--) {
      const e = this.stream[i];
      if (e.type === 'resolved') return e.ts;
    }
    return 0n;
  }

  /** Waits until the feed resolved `ts` or failed; false if not within `budgetMs` virtual ms. */
  async catchUp(ts: bigint, budgetMs: number): Promise<boolean> {
    return this.env.sched.runUntil(() => this.failure !== undefined || this.lastWatermark() >= ts, budgetMs);
  }

  async stop(): Promise<void> {
    await this.watch?.return();
    if (this.consumer) await this.env.sched.await(this.consumer, 5_000);
    if (this.watch?.settled) await this.env.sched.await(this.watch.settled(), 5_000);
    if (this.hold) this.gc?.end(this.hold);
  }
}

/** Puts `~feed/<n>` and deletes `~feed/<n-1>` until `untilMs` (outcomes may be unknown: the check reads what the stores applied). */
export async function feedWriter(env: ClusterEnv, kv: PeerKV, untilMs: number, stats: FeedStats): Promise<void> {
  const key = (n: number): Uint8Array => new TextEncoder().encode(`${FEED_KEY_PREFIX}${String(n).padStart(4, '0')}`);
  for (let n = 0; env.sched.now() < untilMs; n++) {
    await env.sched.sleep(FEED_WRITE_EVERY_MS);
    try {
      await kv.put(key(n), new TextEncoder().encode(`v${n}`));
      stats.feedWrites++;
      if (n > 0) {
        await kv.delete(key(n - 1));
        stats.feedWrites++;
      }
    } catch {
      /* a fault: the next round goes on */
    }
  }
}

/** The checks of the module comment. */
export function checkFeed(w: FeedWatcher, committed: Map<string, Change>, targetTs: bigint, atMs: number, stats: FeedStats): FeedProblem[] {
  const problems: FeedProblem[] = [];
  const add = (kind: string, lines: string[]): void => {
    if (lines.length === 0) return;
    const shown = lines.slice(0, PROBLEMS_LISTED_MAX);
    problems.push({ atMs, message: `${kind}: ${lines.length}\n  ${shown.join('\n  ')}${lines.length > shown.length ? `\n  ... ${lines.length - shown.length} more` : ''}` });
  };
  if (w.failure !== undefined) add('the watch failed', [String((w.failure as Error).message ?? w.failure)]);
  // Watermarks, order per key, soundness; where each change was first delivered.
  const firstAt = new Map<string, number>();
  const lastTsOfKey = new Map<string, bigint>();
  const watermarks: { ts: bigint; at: number }[] = [];
  const backwards: string[] = [];
  const disorder: string[] = [];
  const invented: string[] = [];
  w.stream.forEach((e, at) => {
    if (e.type === 'resolved') {
      const prev = watermarks.at(-1);
      if (prev !== undefined && e.ts <= prev.ts) backwards.push(`watermark ${e.ts} after ${prev.ts}`);
      watermarks.push({ ts: e.ts, at });
      return;
    }
    const id = changeId(e.key, e.commitTs);
    const repeat = firstAt.has(id);
    if (!repeat) firstAt.set(id, at);
    const k = hex(e.key);
    const last = lastTsOfKey.get(k);
    if (!repeat && last !== undefined && e.commitTs <= last) disorder.push(`${text(e.key)}@${e.commitTs} after @${last}`);
    if (last === undefined || e.commitTs > last) lastTsOfKey.set(k, e.commitTs);
    const c = committed.get(id);
    const got = e.type === 'put' ? hex(e.value) : 'delete';
    const want = c === undefined ? 'nothing' : c.value === undefined ? 'delete' : hex(c.value);
    if (got !== want) invented.push(`${text(e.key)}@${e.commitTs}: delivered ${e.type === 'put' ? `put ${JSON.stringify(text(e.value))}` : 'delete'}, committed ${c === undefined ? 'nothing' : c.value === undefined ? 'a delete' : `put ${JSON.stringify(text(c.value))}`}`);
  });
  add('watermarks going back', backwards);
  add('changes of a key out of commitTs order', disorder);
  add('delivered changes that were not committed so', invented);
  // Completeness below every watermark: a change must come before the first watermark at or above its commitTs.
  const last = watermarks.at(-1);
  const missing: string[] = [];
  if (last !== undefined) {
    for (const c of committed.values()) {
      if (c.commitTs <= w.fromTs || c.commitTs > last.ts) continue;
      stats.feedChecked++;
      const cover = watermarks.find((x) => x.ts >= c.commitTs)!;
      const at = firstAt.get(changeId(c.key, c.commitTs));
      if (at === undefined || at > cover.at) {
        missing.push(`${text(c.key)}@${c.commitTs} (${c.value === undefined ? 'delete' : 'put'}) committed, ${at === undefined ? 'never delivered' : 'delivered only after'} (watermark ${cover.ts} covers it)`);
      }
    }
  }
  add('committed changes missing below a watermark', missing);
  if (w.failure === undefined && (last === undefined || last.ts < targetTs)) add('the feed did not catch up', [`last watermark ${last?.ts ?? 'none'}, below the ts ${targetTs} taken after the final read`]);
  return problems;
}

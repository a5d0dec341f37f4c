/**
 * Raft safety invariants, checked as the simulation runs (Raft paper Figure 3):
 * - election safety: at most one leader per term;
 * - log matching: two persisted entries with the same (index, term) hold the same command
 *   and follow entries of the same term (so, inductively, the logs agree up to there);
 * - state machine safety: no two nodes apply different commands at the same index;
 * - leader completeness: a new leader's log reaches every index any node has applied, with
 *   the same term where its disk can tell;
 * - persisted hard state never goes backwards (term, commit; the vote within a term).
 * Owns the list of violations the simulator reports.
 */
import type { Entry, HardState, NodeId } from '@peerkv/raft';

/** What went wrong. */
export type ViolationKind =
  | 'electionSafety'
  | 'logMatching'
  | 'stateMachineSafety'
  /** A new leader lacks an entry some node already applied (§5.4, Leader Completeness). */
  | 'leaderCompleteness'
  /** Persisted hard state went backwards: term or commit decreased, or the vote changed within a term. */
  | 'hardStateRegression'
  | 'linearizability'
  | 'liveness'
  /** The Raft core threw an assertion (a broken invariant inside the core). */
  | 'raftAssertion'
  /** The simulator itself failed: a bug in the driver, or corrupted state under a mutation. */
  | 'simError';

/** One broken rule, with the virtual time it was seen at. */
export interface Violation {
  kind: ViolationKind;
  atMs: number;
  message: string;
}

/** A compact, collision-resistant-enough identity of an entry's payload. */
export function entryFingerprint(e: Entry): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < e.data.length; i++) h = Math.imul(h ^ e.data[i], 0x01000193) >>> 0;
  return `${e.type}:${e.data.length}:${h.toString(16)}`;
}

interface PersistedEntryFacts {
  fingerprint: string;
  prevTerm: number;
  nodeId: NodeId;
}

interface AppliedEntryFacts {
  term: number;
  fingerprint: string;
  nodeId: NodeId;
}

/** Collects violations; `onX` hooks are called by the node drivers. */
export class InvariantChecker {
  readonly violations: Violation[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly persisted = new Map<string, PersistedEntryFacts>();
  private readonly applied = new Map<number, AppliedEntryFacts>();
  private maxApplied = 0;

  /** `only`: record just these kinds (others are ignored); all kinds when undefined. */
  constructor(private readonly only?: readonly ViolationKind[]) {}

  /** Records a violation (unless its kind is filtered out). */
  report(kind: ViolationKind, atMs: number, message: string): void {
    if (this.only !== undefined && !this.only.includes(kind)) return;
    this.violations.push({ kind, atMs, message });
  }

  /** True once any violation has been recorded. */
  get failed(): boolean {
    return this.violations.length > 0;
  }

  /**
   * A node became leader of `term`. `lastIndex` is its last log index (persisted or not);
   * `termAt(i)` the term of its entry `i` when its disk holds it, else undefined.
   */
  onLeader(nodeId: NodeId, term: number, lastIndex: number, termAt: (index: number) => number | undefined, atMs: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev === undefined) this.leaderOfTerm.set(term, nodeId);
    else if (prev !== nodeId) this.report('electionSafety', atMs, `two leaders in term ${term}: ${prev} and ${nodeId}`);
    const applied = this.maxAppliedIndex();
    if (applied === 0) return;
    const facts = this.applied.get(applied) as AppliedEntryFacts;
    const mine = termAt(applied);
    if (lastIndex < applied || (mine !== undefined && mine !== facts.term)) {
      this.report(
        'leaderCompleteness',
        atMs,
        `leader ${nodeId} of term ${term} has last index ${lastIndex}, term ${mine} at ${applied}; node ${facts.nodeId} applied term ${facts.term} there`,
      );
    }
  }

  /** A node's persisted hard state changed from `before` to `after`. */
  onHardState(nodeId: NodeId, before: HardState, after: HardState, atMs: number): void {
    const votedTwice = after.term === before.term && before.vote !== 0 && after.vote !== before.vote;
    if (after.term < before.term || after.commit < before.commit || votedTwice) {
      this.report('hardStateRegression', atMs, `node ${nodeId}: hard state ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
  }

  /**
   * A node durably appended `entries` (contiguous); `prevTerm` is the term of the entry
   * just before the first one in its log, or undefined if compacted away.
   */
  onPersist(nodeId: NodeId, entries: readonly Entry[], prevTerm: number | undefined, atMs: number): void {
    let before = prevTerm;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const facts = this.persisted.get(key);
      const fingerprint = entryFingerprint(e);
      if (facts === undefined) {
        if (before !== undefined) this.persisted.set(key, { fingerprint, prevTerm: before, nodeId });
      } else if (facts.fingerprint !== fingerprint || (before !== undefined && facts.prevTerm !== before)) {
        this.report(
          'logMatching',
          atMs,
          `entry ${key} on node ${nodeId} (prev term ${before}, ${fingerprint}) differs from node ${facts.nodeId}'s (prev term ${facts.prevTerm}, ${facts.fingerprint})`,
        );
      }
      before = e.term;
    }
  }

  /** A node applied entry `e` to its state machine. */
  onApply(nodeId: NodeId, e: Entry, atMs: number): void {
    const fingerprint = entryFingerprint(e);
    const facts = this.applied.get(e.index);
    if (facts === undefined) {
      this.applied.set(e.index, { term: e.term, fingerprint, nodeId });
      if (e.index > this.maxApplied) this.maxApplied = e.index;
    } else if (facts.term !== e.term || facts.fingerprint !== fingerprint) {
      this.report(
        'stateMachineSafety',
        atMs,
        `index ${e.index}: node ${nodeId} applied term ${e.term} ${fingerprint}, node ${facts.nodeId} applied term ${facts.term} ${facts.fingerprint}`,
      );
    }
  }

  /** Number of terms that had a leader. */
  leaderTermsSeen(): number {
    return this.leaderOfTerm.size;
  }

  /** Highest index any node has applied. */
  maxAppliedIndex(): number {
    return this.maxApplied;
  }
}

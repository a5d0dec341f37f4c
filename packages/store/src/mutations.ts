/**
 * The store's test-only deliberate bugs (the simulator's mutation suite), in a module of their
 * own: `RegionPeer` and the store both read them, and neither imports the other for it.
 */

/**
 * Deliberate store-layer bugs, so the simulator's checkers can be shown to catch each one.
 * Never set outside tests.
 */
export interface StoreTestMutations {
  /**
   * Leaders seal every proposal under data key id 0, also after their region switched to a
   * later one (`--cluster --mutation staleDataKeySeal`): entries after a switch carry the old key.
   */
  sealWithFirstDataKey?: boolean;
  /**
   * A new leader seals proposals before it applied an entry of its term (`sealForProposal`):
   * after a restart it may seal under a key older than a switch its log holds unapplied.
   */
  sealBeforeTermApplied?: boolean;
  /**
   * Followers never forward a data-key switch to their leader (`DataKeyForwards.forwardOverdue`):
   * a leader that learns the key id from no region it follows never switches its regions.
   */
  dataKeyForwardOff?: boolean;
  /**
   * A restarted store forgets a rotation it acknowledged (`DATA_KEY_ROTATION_KEY` not read at
   * open): if it crashed before any of its regions applied the switch, it seals with the old key.
   */
  rotationResumeOff?: boolean;
  /**
   * A store may retire every key below its current one, whatever its logs still hold
   * (`retirableDataKeyFloor`): a replica then stops on an entry under a retired key.
   */
  retireIgnoresLog?: boolean;
  /**
   * A replica built from a snapshot ignores the data-key switch its header carries
   * (`--cluster --mutation snapshotWithoutDataKeySwitch`): it disagrees with the other replicas
   * on the switch at the same applied index.
   */
  snapshotWithoutDataKeySwitch?: boolean;
  /** Apply every write, also a retry already applied (at-most-once off). */
  dedupOff?: boolean;
  /** The right half of a split copies the parent's dedup records after the whole batch, not at the split entry. */
  splitDedupAfterBatch?: boolean;
  /** Send votes and append acks before the write that backs them. */
  ackBeforePersist?: boolean;
  /** Leaders answer ReadIndex before an entry of their term commits (Raft mutation). */
  readIndexWithoutTermCommit?: boolean;
  /** Snapshots carry no dedup records (a column family missing from the snapshot). */
  snapshotWithoutDedup?: boolean;
  /** Read contexts restart at 1 when the store restarts (no boot counter). */
  restartedReadContext?: boolean;
  /** A new leader serves async-commit and 1PC prewrites without first raising `maxTs` from PD's TSO. */
  maxTsSyncOff?: boolean;
  /**
   * Async-commit and 1PC prewrites compute their commit ts as if `maxTs` were 0: a commit ts
   * below a read already served (the simulator's `--txn --mutation asyncCommitBelowMaxTs`).
   */
  asyncCommitIgnoresMaxTs?: boolean;
  /**
   * The resolved ts ignores the region's locks (it is the fresh TSO ts): a stale read at it
   * reads past a transaction that may still commit below it (`--txn --mutation safeTsPastLocks`).
   */
  safeTsPastLocks?: boolean;
  /**
   * A prewrite ignores its `readTs` (a queued offline transaction's conflicts are checked from
   * its fresh start ts only): it commits over writes made since it read (`--txn --mutation queuedIgnoresReadTs`).
   */
  prewriteIgnoresReadTs?: boolean;
  /** The change feed answers no delete events (`--txn --mutation cdcSkipDeletes`): a watcher misses deletes. */
  cdcSkipDeletes?: boolean;
  /**
   * The change feed's watermark runs ahead of the resolved ts (by 2^30 ts units, about 4 s):
   * it vouches for commits not yet applied (`--txn --mutation cdcWatermarkAhead`).
   */
  cdcWatermarkAhead?: boolean;
  /**
   * The change feed answers from its live buffer whatever the pull's fromTs, also below the
   * buffer's floor (`--txn --mutation cdcBufferIgnoresFloor`): a watcher misses the commits
   * applied before the buffer began.
   */
  cdcBufferIgnoresFloor?: boolean;
  /**
   * A replica read does not wait until its replica applied the leader's index: a lagging
   * follower answers from an older state at a newer ts (`--txn --mutation replicaReadSkipsCatchUp`).
   */
  replicaReadSkipsCatchUp?: boolean;
  /** `txnReadIndex` does not raise `maxTs`: an async-commit or 1PC transaction may commit below a replica read it missed (`--txn --mutation replicaReadSkipsMaxTs`). */
  replicaReadSkipsMaxTs?: boolean;
  /**
   * A pessimistic lock request sees the key as of its `forUpdateTs` (as if no later commit
   * existed): the lock is granted over a newer commit, and the value it returns is the one
   * before it (`--txn --mutation pessimisticLockIgnoresConflict`: a lost update).
   */
  pessimisticLockIgnoresConflict?: boolean;
  /**
   * A write command reads the engine without a ReadIndex whenever its peer leads with a commit
   * of its term, though the engine may not yet hold earlier terms' entries (another leader's
   * commits staged in a round in flight): it computes from a state missing them
   * (`--txn --mutation localReadSkipsCatchUp`: lost updates). `txn-local-read.test.ts` catches
   * it; the simulator does not reach it (FINDINGS T12).
   */
  localReadSkipsCatchUp?: boolean;
  /**
   * A witness store's replicas campaign and serve like full ones (their Raft is no witness and
   * requests are not refused), though they still apply no data: a read a witness leader serves
   * misses every write (`--cluster --witness --mutation witnessLeads`).
   */
  witnessLeads?: boolean;
  /**
   * A replica's Raft node does not join the round's work set when a message is stepped into it
   * (`tracked-raw-node.ts`): the missed wakeup the work set's check (`verifyWorkSet`) catches
   * (`--cluster --mutation workSetMissesStep`).
   */
  workSetMissesStep?: boolean;
}

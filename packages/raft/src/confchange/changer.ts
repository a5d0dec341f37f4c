/**
 * Applying membership changes to a tracker configuration (etcd `confchange/confchange.go`).
 *
 * Returns new config and progress maps; never mutates its inputs. Validation failures are
 * thrown as `ConfChangeError` (an operating error: the entry is committed but refused).
 */
import { isJoint } from '../quorum/joint.ts';
import { Progress } from '../tracker/progress.ts';
import { cloneTrackerConfig, emptyTrackerConfig, type ProgressMap, type TrackerConfig } from '../tracker/tracker.ts';
import type { ConfChangeSingle, ConfChangeV2, ConfState, NodeId } from '../types.ts';

export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError';
}

export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

export class Changer {
  constructor(
    private readonly config: TrackerConfig,
    private readonly progress: ProgressMap,
    private readonly lastIndex: number,
    private readonly maxInflightMsgs: number,
  ) {}

  /**
   * Enters a joint configuration: the current voters become the outgoing half, the changes
   * are applied to the incoming half (thesis §4.3).
   */
  enterJoint(autoLeave: boolean, changes: ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (isJoint(config.voters)) throw new ConfChangeError('config is already joint');
    if (config.voters.incoming.size === 0) {
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    config.voters.outgoing = new Set(config.voters.incoming);
    this.apply(config, progress, changes);
    config.autoLeave = autoLeave;
    return this.checkAndReturn(config, progress);
  }

  /** Leaves the joint configuration: drops the outgoing half, moves learnersNext to learners. */
  leaveJoint(): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (!isJoint(config.voters)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing) {
      const isVoter = config.voters.incoming.has(id);
      const isLearner = config.learners.has(id);
      if (!isVoter && !isLearner) progress.delete(id);
    }
    config.voters.outgoing = new Set();
    config.autoLeave = false;
    return this.checkAndReturn(config, progress);
  }

  /** A one-step change; it may change the voter set by at most one (§4.1). */
  simple(changes: ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (isJoint(config.voters)) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(config, progress, changes);
    const before = this.config.voters.incoming;
    const after = config.voters.incoming;
    let diff = 0;
    for (const id of after) if (!before.has(id)) diff++;
    for (const id of before) if (!after.has(id)) diff++;
    if (diff > 1) throw new ConfChangeError('more than one voter changed without entering joint config');
    return this.checkAndReturn(config, progress);
  }

  private apply(config: TrackerConfig, progress: ProgressMap, changes: ConfChangeSingle[]): void {
    for (const cc of changes) {
      if (cc.nodeId === 0) continue; // etcd: a zero id is a no-op
      switch (cc.type) {
        case 'addNode':
          this.makeVoter(config, progress, cc.nodeId);
          break;
        case 'addLearnerNode':
          this.makeLearner(config, progress, cc.nodeId);
          break;
        case 'removeNode':
          this.remove(config, progress, cc.nodeId);
          break;
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError('removed all voters');
  }

  private makeVoter(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  /**
   * Makes `id` a learner. A voter of the outgoing config cannot become a learner while it
   * still votes there: it is staged in learnersNext and moved at leaveJoint.
   */
  private makeLearner(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    this.remove(config, progress, id);
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  private remove(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    if (!progress.has(id)) return;
    config.voters.incoming.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    // Still tracked while it votes in the outgoing half.
    if (!config.voters.outgoing.has(id)) progress.delete(id);
  }

  private initProgress(config: TrackerConfig, progress: ProgressMap, id: NodeId, isLearner: boolean): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // Start probing at the leader's last index; recentActive so CheckQuorum does not
    // immediately count a brand-new peer against the leader.
    const pr = new Progress(Math.max(this.lastIndex, 1), this.maxInflightMsgs, isLearner);
    pr.recentActive = true;
    progress.set(id, pr);
  }

  private checkAndCopy(): ChangeResult {
    const config = cloneTrackerConfig(this.config);
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.progress) {
      // Progress objects are shared by reference except for the isLearner flag we may
      // change: copy it so a refused change leaves the original untouched.
      const copy = Object.assign(Object.create(Object.getPrototypeOf(pr)), pr) as Progress;
      progress.set(id, copy);
    }
    checkInvariants(config, progress);
    return { config, progress };
  }

  private checkAndReturn(config: TrackerConfig, progress: ProgressMap): ChangeResult {
    checkInvariants(config, progress);
    return { config, progress };
  }
}

function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [config.voters.incoming, config.voters.outgoing, config.learners, config.learnersNext]) {
    for (const id of ids) if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`);
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in learnersNext but not outgoing`);
    if (progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is in learnersNext but already a learner`);
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id) || config.voters.incoming.has(id)) {
      throw new ConfChangeError(`${id} is both learner and voter`);
    }
    if (!progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is a learner without the flag`);
  }
  if (!isJoint(config.voters)) {
    if (config.learnersNext.size > 0) throw new ConfChangeError('learnersNext must be empty outside joint');
    if (config.autoLeave) throw new ConfChangeError('autoLeave must be false outside joint');
  }
}

/** Whether `cc` leaves a joint config (an empty ConfChangeV2). */
export function leavesJoint(cc: ConfChangeV2): boolean {
  return cc.changes.length === 0;
}

/** Whether `cc` must use joint consensus, and if so whether to leave it automatically. */
export function enterJointMode(cc: ConfChangeV2): { use: boolean; autoLeave: boolean } {
  if (cc.transition !== 'auto' || cc.changes.length > 1) {
    return { use: true, autoLeave: cc.transition !== 'explicit' };
  }
  return { use: false, autoLeave: false };
}

/** Rebuilds a tracker configuration from a persisted ConfState (etcd `confchange.Restore`). */
export function restore(cs: ConfState, lastIndex: number, maxInflightMsgs: number): ChangeResult {
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((id) => ({ type: 'addNode', nodeId: id }));
  const incoming: ConfChangeSingle[] = [
    ...cs.voters.map((id): ConfChangeSingle => ({ type: 'addNode', nodeId: id })),
    ...cs.learners.map((id): ConfChangeSingle => ({ type: 'addLearnerNode', nodeId: id })),
    ...cs.learnersNext.map((id): ConfChangeSingle => ({ type: 'addLearnerNode', nodeId: id })),
  ];
  let result: ChangeResult = { config: emptyTrackerConfig(), progress: new Map() };
  if (outgoing.length === 0) {
    for (const cc of incoming) {
      result = new Changer(result.config, result.progress, lastIndex, maxInflightMsgs).simple([cc]);
    }
    return result;
  }
  // Build the outgoing config one voter at a time, then enter joint with the incoming changes
  // after removing every outgoing voter from the incoming side.
  for (const cc of outgoing) {
    result = new Changer(result.config, result.progress, lastIndex, maxInflightMsgs).simple([cc]);
  }
  const toJoint: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((id): ConfChangeSingle => ({ type: 'removeNode', nodeId: id })),
    ...incoming,
  ];
  return new Changer(result.config, result.progress, lastIndex, maxInflightMsgs).enterJoint(cs.autoLeave, toJoint);
}

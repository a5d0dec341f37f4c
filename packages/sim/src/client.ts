/**
 * `SimClient`: a sequential KV client with retries. One operation at a time; a write keeps
 * its (clientId, seq) across retries so the state machine applies it at most once. Every
 * operation is recorded in the history: `ok` when answered, `fail` when every try was refused
 * before entering a log (or for a read that never got an answer), `unknown` when a write was
 * given up on (it may still take effect). A scripted client (the final reads) never gives up.
 */
import type { NodeId, SeededRng } from '@peerkv/raft';
import type { History, OpInput } from './history.ts';
import type { ClientReply, ClientRequest } from './messages.ts';
import type { ClientProfile } from './options.ts';
import { pick } from './rng-utils.ts';

/** What a client needs from the simulation. */
export interface ClientHost {
  now(): number;
  schedule(delayMs: number, run: () => void): void;
  readonly history: History;
  send(target: NodeId, request: ClientRequest): void;
  /** Every node a client may talk to. */
  readonly nodeIds: readonly NodeId[];
  /** Takes the right to invoke one more operation; false when the run's budget is spent. */
  takeTicket(): boolean;
  /** The client has no more operations to run. */
  onIdle(client: SimClient): void;
}

interface CurrentOp {
  request: ClientRequest;
  invokedAtMs: number;
  attemptsStarted: number;
  attemptsRefused: number;
  lastTarget: NodeId;
}

/** Probability of sending to the hinted leader rather than a random node. */
const LEADER_HINT_RATE = 0.8;

/** One client; see the module header. */
export class SimClient {
  private seq = 0;
  private current: CurrentOp | undefined;
  private leaderHint: NodeId = 0;
  private idle = false;

  constructor(
    readonly id: number,
    private readonly host: ClientHost,
    private readonly rng: SeededRng,
    private readonly profile: ClientProfile,
    private readonly script?: OpInput[],
  ) {}

  /** True when the client has finished all its operations. */
  isIdle(): boolean {
    return this.idle;
  }

  /** Begins the client's first operation after a short think time. */
  start(): void {
    this.host.schedule(this.rng.nextInt(this.profile.thinkTimeMsMax + 1), () => this.nextOp());
  }

  /** A node answered. */
  onReply(reply: ClientReply): void {
    const op = this.current;
    if (op === undefined || reply.opId !== op.request.opId) return; // an old operation's late answer
    if (reply.leaderHint !== 0) this.leaderHint = reply.leaderHint;
    if (reply.kind === 'ok') return this.complete(op, reply.output);
    if (reply.attempt !== op.request.attempt) return; // a refusal of an older try says nothing about this one
    op.attemptsRefused++;
    if (reply.leaderHint === op.lastTarget) this.leaderHint = 0;
    this.retryLater(op, this.profile.retryBackoffMs);
  }

  private nextOp(): void {
    this.current = undefined;
    const input = this.script !== undefined ? this.script.shift() : this.host.takeTicket() ? this.randomOp() : undefined;
    if (input === undefined) {
      this.idle = true;
      this.host.onIdle(this);
      return;
    }
    const now = this.host.now();
    const opId = this.host.history.invoke(input, now);
    const request: ClientRequest = { opId, attempt: 0, clientId: this.id, seq: ++this.seq, kind: input.kind, key: input.key, value: input.value };
    this.current = { request, invokedAtMs: now, attemptsStarted: 0, attemptsRefused: 0, lastTarget: 0 };
    this.attempt(this.current);
  }

  private randomOp(): OpInput {
    const key = `k${this.rng.nextInt(this.profile.keys)}`;
    const x = this.rng.nextFloat();
    if (x < this.profile.getRate) return { clientId: this.id, kind: 'get', key };
    if (x < this.profile.getRate + this.profile.deleteRate) return { clientId: this.id, kind: 'delete', key };
    return { clientId: this.id, kind: 'put', key, value: `${this.id}.${this.seq + 1}` };
  }

  private attempt(op: CurrentOp): void {
    const useHint = this.leaderHint !== 0 && this.rng.chance(LEADER_HINT_RATE);
    const target = useHint ? this.leaderHint : pick(this.rng, this.host.nodeIds);
    op.attemptsStarted++;
    op.lastTarget = target;
    op.request = { ...op.request, attempt: op.attemptsStarted };
    const attempt = op.request.attempt;
    this.host.send(target, op.request);
    this.host.schedule(this.profile.requestTimeoutMs, () => {
      if (this.current !== op || op.request.attempt !== attempt) return;
      this.leaderHint = 0;
      this.retryLater(op, 0);
    });
  }

  private retryLater(op: CurrentOp, delayMs: number): void {
    const expired = this.script === undefined && this.host.now() - op.invokedAtMs >= this.profile.opDeadlineMs;
    if (expired) return this.giveUp(op);
    const attempt = op.request.attempt;
    op.request = { ...op.request, attempt: -attempt }; // no try is current while waiting
    this.host.schedule(delayMs, () => {
      if (this.current === op && op.request.attempt === -attempt) this.attempt(op);
    });
  }

  private complete(op: CurrentOp, output: string | null | undefined): void {
    this.host.history.ok(op.request.opId, this.host.now(), output ?? null);
    this.afterOp();
  }

  private giveUp(op: CurrentOp): void {
    const now = this.host.now();
    const neverEntered = op.attemptsRefused === op.attemptsStarted;
    if (op.request.kind === 'get' || neverEntered) this.host.history.fail(op.request.opId, now);
    else this.host.history.unknown(op.request.opId, now);
    this.afterOp();
  }

  private afterOp(): void {
    this.current = undefined;
    this.host.schedule(this.rng.nextInt(this.profile.thinkTimeMsMax + 1), () => this.nextOp());
  }
}

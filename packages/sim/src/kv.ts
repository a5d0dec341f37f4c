/**
 * The replicated key-value state machine that runs on top of Raft in the simulator, with
 * client-request deduplication: each (clientId, seq) is applied at most once and its result
 * is remembered, so a client that retries with the same seq gets the original answer.
 * Owns the command encoding (JSON bytes in Raft entries) and the snapshot format.
 */

/** A write command carried in a Raft entry. */
export type KvCommand =
  | { kind: 'put'; clientId: number; seq: number; key: string; value: string }
  | { kind: 'delete'; clientId: number; seq: number; key: string };

/** The result of applying a command: the previous value (null if absent). */
export interface KvResult {
  previous: string | null;
}

/** What `apply` did with a command. */
export type ApplyOutcome =
  /** Applied now. */
  | { kind: 'applied'; result: KvResult }
  /** Already applied earlier with this (clientId, seq): the remembered result. */
  | { kind: 'duplicate'; result: KvResult }
  /** Older than the client's last applied seq: ignored, result forgotten. */
  | { kind: 'stale' };

/** Thrown for bytes that are not a command or snapshot: a simulator bug or corruption. */
export class KvDecodeError extends Error {
  override readonly name = 'KvDecodeError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a command as entry data. */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

/** Decodes entry data written by `encodeCommand`. */
export function decodeCommand(data: Uint8Array): KvCommand {
  const cmd = JSON.parse(decoder.decode(data)) as KvCommand;
  if (cmd === null || (cmd.kind !== 'put' && cmd.kind !== 'delete') || typeof cmd.key !== 'string') {
    throw new KvDecodeError(`not a kv command: ${decoder.decode(data).slice(0, 80)}`);
  }
  return cmd;
}

interface SessionEntry {
  seq: number;
  result: KvResult;
}

interface SnapshotShape {
  data: [string, string][];
  sessions: [number, SessionEntry][];
}

/** The state machine: a string map plus one session (last seq and result) per client. */
export class KvStateMachine {
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<number, SessionEntry>();

  /** Restores a state machine from `serialize()` output (empty bytes: empty state). */
  static restore(bytes: Uint8Array): KvStateMachine {
    const kv = new KvStateMachine();
    if (bytes.length === 0) return kv;
    const shape = JSON.parse(decoder.decode(bytes)) as SnapshotShape;
    if (!Array.isArray(shape?.data) || !Array.isArray(shape.sessions)) throw new KvDecodeError('not a kv snapshot');
    for (const [k, v] of shape.data) kv.data.set(k, v);
    for (const [c, s] of shape.sessions) kv.sessions.set(c, s);
    return kv;
  }

  /** The state as snapshot bytes. */
  serialize(): Uint8Array {
    const shape: SnapshotShape = { data: [...this.data], sessions: [...this.sessions] };
    return encoder.encode(JSON.stringify(shape));
  }

  /** Applies a committed command at most once per (clientId, seq). */
  apply(cmd: KvCommand): ApplyOutcome {
    const session = this.sessions.get(cmd.clientId);
    if (session !== undefined && cmd.seq < session.seq) return { kind: 'stale' };
    if (session !== undefined && cmd.seq === session.seq) return { kind: 'duplicate', result: session.result };
    const result: KvResult = { previous: this.data.get(cmd.key) ?? null };
    if (cmd.kind === 'put') this.data.set(cmd.key, cmd.value);
    else this.data.delete(cmd.key);
    this.sessions.set(cmd.clientId, { seq: cmd.seq, result });
    return { kind: 'applied', result };
  }

  /** The remembered result of (clientId, seq), if that is the client's last applied request. */
  resultOf(clientId: number, seq: number): KvResult | undefined {
    const session = this.sessions.get(clientId);
    return session !== undefined && session.seq === seq ? session.result : undefined;
  }

  /** True when (clientId, seq) or a later request of that client was applied. */
  hasApplied(clientId: number, seq: number): boolean {
    const session = this.sessions.get(clientId);
    return session !== undefined && session.seq >= seq;
  }

  /** The current value of `key`, or null. */
  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** Number of keys. */
  get size(): number {
    return this.data.size;
  }
}

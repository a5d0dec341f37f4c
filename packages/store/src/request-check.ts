/**
 * Field checks of a `StoreRequest` that did not come through the RPC decoder (an in-process
 * caller, a tab, a test): the same shapes and limits the decoder enforces on bytes, enforced
 * on values. A failed check throws `StoreRequestError('BadField')` naming the field; nothing
 * here throws anything else, whatever the input.
 */
import { isCfName } from '@peerkv/proto';
import { COMMAND_KEY_BYTES_MAX, COMMAND_OPS_MAX, COMMAND_PEERS_MAX, COMMAND_VALUE_BYTES_MAX } from './command.ts';
import { StoreRequestError } from './request-types.ts';

const PEER_ROLES: readonly string[] = ['voter', 'learner', 'incomingVoter', 'demotingVoter'];

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'number' || typeof v === 'boolean' ? `${typeof v} ${v}` : typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Checks the fields of one request (`what` names it in messages); each method returns the value checked. */
export class FieldCheck {
  constructor(
    private readonly q: Record<string, unknown>,
    private readonly what: string,
  ) {}

  private fail(name: string, want: string, v: unknown): never {
    throw new StoreRequestError('BadField', `${this.what}.${name}: want ${want}, got ${describe(v)}`);
  }

  /** A safe integer in [0, max] (an id, a count, a seq). */
  uint(name: string, v: unknown = this.q[name], max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) this.fail(name, `an integer in [0, ${max}]`, v);
    return v;
  }

  /** A count limit: a number (`Infinity`, or any other that is not an integer ≥ 0, for none). */
  limit(name: string, v: unknown = this.q[name]): void {
    if (typeof v !== 'number') this.fail(name, 'a number (anything but an integer ≥ 0 reads the whole range)', v);
  }

  /** A boolean. */
  bool(name: string, v: unknown = this.q[name]): void {
    if (typeof v !== 'boolean') this.fail(name, 'a boolean', v);
  }

  /** Absent, or a boolean. */
  optBool(name: string, v: unknown = this.q[name]): void {
    if (v !== undefined && typeof v !== 'boolean') this.fail(name, 'absent or a boolean', v);
  }

  /** Absent, or a non-negative number (a timeout, ms; the server clamps it). */
  timeout(name = 'timeoutMs'): void {
    const v = this.q[name];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0))) this.fail(name, 'absent or a number ≥ 0', v);
  }

  /** Absent, or a non-negative safe integer. */
  optUint(name: string): void {
    if (this.q[name] !== undefined) this.uint(name);
  }

  /** A byte string of at most `maxBytes`. */
  bytes(name: string, maxBytes = COMMAND_KEY_BYTES_MAX, v: unknown = this.q[name]): Uint8Array {
    if (!(v instanceof Uint8Array) || v.length > maxBytes) this.fail(name, `a Uint8Array of at most ${maxBytes} bytes`, v);
    return v;
  }

  /** Absent, or a byte string. */
  optBytes(name: string, v: unknown = this.q[name]): void {
    if (v !== undefined) this.bytes(name, COMMAND_KEY_BYTES_MAX, v);
  }

  /** A string of at most `maxChars` characters. */
  string(name: string, maxChars: number, v: unknown = this.q[name]): string {
    if (typeof v !== 'string' || v.length > maxChars) this.fail(name, `a string of at most ${maxChars} characters`, v);
    return v;
  }

  /** One of `values`. */
  oneOf<T extends string>(name: string, values: readonly T[], v: unknown = this.q[name]): T {
    if (!values.includes(v as T)) this.fail(name, `one of ${values.join(', ')}`, v);
    return v as T;
  }

  /** An object. */
  object(name: string, v: unknown = this.q[name]): Record<string, unknown> {
    if (!isObject(v)) this.fail(name, 'an object', v);
    return v;
  }

  /** An array of at most `max` items, each checked by `each`. */
  array(name: string, max: number, each: (item: unknown, name: string) => void, v: unknown = this.q[name]): void {
    if (!Array.isArray(v) || v.length > max) this.fail(name, `an array of at most ${max}`, v);
    v.forEach((item, i) => each(item, `${name}[${i}]`));
  }

  /** A region epoch. */
  epoch(name = 'epoch'): void {
    const e = this.object(name);
    this.uint(`${name}.confVer`, e.confVer);
    this.uint(`${name}.version`, e.version);
  }

  /** A peer (id, store, role). */
  peer(name: string, v: unknown): void {
    const p = this.object(name, v);
    this.uint(`${name}.id`, p.id);
    this.uint(`${name}.storeId`, p.storeId);
    this.oneOf(`${name}.role`, PEER_ROLES, p.role);
  }

  /** A write's key-value ops. */
  ops(name = 'ops'): void {
    this.array(name, COMMAND_OPS_MAX, (item, n) => {
      const op = this.object(n, item);
      const type = this.oneOf(`${n}.type`, ['put', 'delete', 'deleteRange'], op.type);
      if (typeof op.cf !== 'string' || !isCfName(op.cf)) this.fail(`${n}.cf`, 'a column family name', op.cf);
      if (type === 'deleteRange') {
        this.bytes(`${n}.start`, COMMAND_KEY_BYTES_MAX, op.start);
        this.bytes(`${n}.end`, COMMAND_KEY_BYTES_MAX, op.end);
        return;
      }
      this.bytes(`${n}.key`, COMMAND_KEY_BYTES_MAX, op.key);
      if (type === 'put') this.bytes(`${n}.value`, COMMAND_VALUE_BYTES_MAX, op.value);
    });
  }

  /** A list of peer ids (a split's new peers). */
  peerIds(name: string): void {
    this.array(name, COMMAND_PEERS_MAX, (item, n) => this.uint(n, item));
  }
}

/** Starts checking `q` as a request: it must be an object; returns its checker. */
export function fieldsOf(q: unknown, what: string): FieldCheck {
  if (!isObject(q)) throw new StoreRequestError('BadField', `${what}: want a request object, got ${describe(q)}`);
  return new FieldCheck(q, what);
}

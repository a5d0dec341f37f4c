/**
 * The golden-script environment: one region's column families in memory (`MemoryCfs` read
 * through `MvccReader`), one handler per action. A handler runs its action on the current
 * state, applies the ops it returns (as the store's write batch would), and prints them with
 * the result. Timestamps in scripts are physical ms (`10`), or `physical.logical` (`10.1`).
 */
import {
  CF_DEFAULT,
  CF_LOCK,
  CF_WRITE,
  MemoryCfs,
  MvccReader,
  acquirePessimisticLock,
  checkSecondaryLocks,
  checkTxnStatus,
  cleanup,
  commit,
  gc,
  gcRange,
  pessimisticRollback,
  prewrite,
  read,
  resolveLock,
  rollback,
  scan,
  txnHeartbeat,
  type ActionResult,
  type CommitMode,
  type Mutation,
  type TxnOp,
  type TxnStatus,
} from '../../src/index.ts';
import type { Command } from './datadriven.ts';
import { fmtCfKey, fmtCfValue, fmtError, fmtKey, fmtLock, fmtOp, fmtTs, fmtValue, parseTs } from './format.ts';

const utf8 = new TextEncoder();
const key = (s: string): Uint8Array => utf8.encode(s);
const DEFAULT_TTL_MS = 3000;

/** A script value: text, or `@N` for N bytes of `x` (a long value, kept in `default`). */
function value(s: string): Uint8Array {
  return s.startsWith('@') ? new Uint8Array(Number(s.slice(1))).fill(0x78) : utf8.encode(s);
}

/** `muts=put:a:1,del:b,lock:c,insert:d:x,check:e`; a `p-` prefix marks a pessimistically locked key. */
function parseMutations(s: string): Mutation[] {
  return s.split(',').map((part) => {
    const [rawOp, k, v = ''] = part.split(':');
    const pessimistic = rawOp.startsWith('p-');
    const op = pessimistic ? rawOp.slice(2) : rawOp;
    const flag = pessimistic ? { pessimistic: true } : {};
    switch (op) {
      case 'put':
        return { op: 'put', key: key(k), value: value(v), ...flag };
      case 'insert':
        return { op: 'insert', key: key(k), value: value(v), ...flag };
      case 'del':
        return { op: 'delete', key: key(k), ...flag };
      case 'lock':
        return { op: 'lock', key: key(k), ...flag };
      case 'check':
        return { op: 'checkNotExists', key: key(k), ...flag };
      default:
        throw new Error(`unknown mutation ${op}`);
    }
  });
}

function fmtStatus(s: TxnStatus): string {
  switch (s.kind) {
    case 'committed':
      return `status: committed commit=${fmtTs(s.commitTs)}`;
    case 'rolledBack':
      return `status: rolled back (${s.reason})`;
    case 'locked':
      return `status: locked ${s.minCommitTsPushed ? '(pushed) ' : ''}${fmtLock(s.lock)}`;
  }
}

/** The script environment. */
export class TxnEnv {
  readonly cfs = new MemoryCfs();
  readonly view = new MvccReader(this.cfs);

  /** Runs one command; returns what it prints. */
  async handle(cmd: Command): Promise<string> {
    switch (cmd.name) {
      case 'prewrite':
        return this.prewrite(cmd);
      case 'commit':
        return this.report(await commit(this.view, this.k(cmd), this.ts(cmd, 'ts'), this.ts(cmd, 'commit')), (r) => `commit=${fmtTs(r.commitTs)}`);
      case 'rollback':
        return this.report(await rollback(this.view, this.k(cmd), this.ts(cmd, 'ts')));
      case 'cleanup':
        return this.report(await cleanup(this.view, this.k(cmd), this.ts(cmd, 'ts'), this.ts(cmd, 'current')));
      case 'pessimistic-rollback':
        return this.report(await pessimisticRollback(this.view, this.k(cmd), this.ts(cmd, 'ts'), this.ts(cmd, 'for-update')));
      case 'check-txn-status':
        return this.checkTxnStatus(cmd);
      case 'check-secondary-locks': {
        const r = await checkSecondaryLocks(this.view, (cmd.keys.get('keys') ?? '').split(',').map(key), this.ts(cmd, 'ts'));
        if (!r.ok) return fmtError(r.error);
        this.cfs.apply(r.ops);
        const statuses = r.statuses.map((s) => (s.kind === 'locked' ? `locked min_commit=${fmtTs(s.lock.minCommitTs)}` : s.kind === 'committed' ? `committed commit=${fmtTs(s.commitTs)}` : 'rolled back'));
        return [`ok ${statuses.join('; ')}`, ...r.ops.map(fmtOp)].join('\n');
      }
      case 'resolve': {
        const resolution = cmd.positional.includes('rollback') ? ({ kind: 'rollback' } as const) : ({ kind: 'commit', commitTs: this.ts(cmd, 'commit') } as const);
        return this.report(await resolveLock(this.view, this.k(cmd), this.ts(cmd, 'ts'), resolution));
      }
      case 'heartbeat':
        return this.report(await txnHeartbeat(this.view, this.k(cmd), this.ts(cmd, 'ts'), Number(cmd.keys.get('ttl'))), (r) => `ttl=${r.ttlMs}`);
      case 'acquire':
        return this.acquire(cmd);
      case 'read':
        return this.read(cmd);
      case 'scan': {
        const start = cmd.keys.get('start');
        const end = cmd.keys.get('end');
        const bypass = cmd.keys.get('bypass');
        const examined = cmd.keys.get('examined');
        const r = await scan(
          this.view,
          { ...(start === undefined ? {} : { start: key(start) }), ...(end === undefined ? {} : { end: key(end) }) },
          this.ts(cmd, 'ts'),
          {
            limit: Number(cmd.keys.get('limit') ?? 100),
            ...(examined === undefined ? {} : { keysExaminedMax: Number(examined) }),
            ...(bypass === undefined ? {} : { bypassLocks: bypass.split(',').map(parseTs) }),
          },
        );
        const lines = r.pairs.map((p) => `${fmtKey(p.key)}: ${fmtValue(p.value)}`);
        if (!r.ok) return [...lines, fmtError(r.error)].join('\n');
        if (r.nextKey !== undefined) lines.push(`next=${fmtKey(r.nextKey)}`);
        return lines.length === 0 ? '<none>' : lines.join('\n');
      }
      case 'gc': {
        const max = cmd.keys.get('max');
        const r = await gc(this.view, this.k(cmd), this.ts(cmd, 'safe'), max === undefined ? undefined : Number(max));
        this.cfs.apply(r.ops);
        return [`ok dropped=${r.versionsDropped}${r.done ? '' : ' (more)'}`, ...r.ops.map(fmtOp)].join('\n');
      }
      case 'gc-range': {
        const r = await gcRange(this.view, {}, this.ts(cmd, 'safe'), Number(cmd.keys.get('keys') ?? 100), Number(cmd.keys.get('max') ?? 1024));
        this.cfs.apply(r.ops);
        const next = r.nextKey === undefined ? '' : ` next=${fmtKey(r.nextKey)}`;
        return [`ok dropped=${r.versionsDropped}${next}`, ...r.ops.map(fmtOp)].join('\n');
      }
      case 'dump':
        return this.dump();
      default:
        throw new Error(`unknown command ${cmd.name}`);
    }
  }

  private k(cmd: Command, name = 'k'): Uint8Array {
    const v = cmd.keys.get(name);
    if (v === undefined) throw new Error(`${cmd.name}: missing ${name}=`);
    return key(v);
  }

  private ts(cmd: Command, name: string): bigint {
    const v = cmd.keys.get(name);
    if (v === undefined) throw new Error(`${cmd.name}: missing ${name}=`);
    return parseTs(v);
  }

  private optTs(cmd: Command, name: string): bigint | undefined {
    const v = cmd.keys.get(name);
    return v === undefined ? undefined : parseTs(v);
  }

  /** Applies a result's ops and prints them, or prints its error. */
  private report<T extends object>(r: ActionResult<T>, extra?: (r: T) => string): string {
    if (!r.ok) return fmtError(r.error);
    this.cfs.apply(r.ops);
    const head = extra === undefined ? 'ok' : `ok ${extra(r as unknown as T)}`;
    return [head, ...r.ops.map(fmtOp)].join('\n');
  }

  private async prewrite(cmd: Command): Promise<string> {
    const mutations = parseMutations(cmd.keys.get('muts') ?? '');
    const startTs = this.ts(cmd, 'ts');
    let mode: CommitMode = { kind: 'twoPc' };
    const secondaries = cmd.keys.get('async');
    if (secondaries !== undefined) mode = { kind: 'asyncCommit', secondaries: secondaries === '' ? [] : secondaries.split(',').map(key), maxTs: this.optTs(cmd, 'maxts') ?? 0n };
    const onePc = this.optTs(cmd, '1pc');
    if (onePc !== undefined) mode = { kind: 'onePc', commitTs: onePc };
    const minCommitTs = this.optTs(cmd, 'min-commit');
    const r = await prewrite(
      this.view,
      {
        primary: this.k(cmd, 'primary'),
        startTs,
        lockTtlMs: Number(cmd.keys.get('ttl') ?? DEFAULT_TTL_MS),
        txnSize: Number(cmd.keys.get('size') ?? mutations.length),
        forUpdateTs: this.optTs(cmd, 'for-update') ?? 0n,
        mode,
        ...(minCommitTs === undefined ? {} : { minCommitTs }),
      },
      mutations,
    );
    if (!r.ok) return r.errors.map(fmtError).join('\n');
    this.cfs.apply(r.ops);
    const onePcText = r.onePcCommitTs === undefined ? '' : ` one_pc_commit=${fmtTs(r.onePcCommitTs)}`;
    return [`ok min_commit=${fmtTs(r.minCommitTs)}${onePcText}`, ...r.ops.map(fmtOp)].join('\n');
  }

  private async checkTxnStatus(cmd: Command): Promise<string> {
    const r = await checkTxnStatus(this.view, {
      primaryKey: this.k(cmd),
      lockTs: this.ts(cmd, 'ts'),
      callerStartTs: this.optTs(cmd, 'caller') ?? 0n,
      currentTs: this.ts(cmd, 'current'),
      rollbackIfNotExist: cmd.positional.includes('rollback-if-not-exist'),
    });
    if (!r.ok) return fmtError(r.error);
    this.cfs.apply(r.ops);
    return [fmtStatus(r.status), ...r.ops.map(fmtOp)].join('\n');
  }

  private async acquire(cmd: Command): Promise<string> {
    const minCommitTs = this.optTs(cmd, 'min-commit');
    const r = await acquirePessimisticLock(this.view, {
      key: this.k(cmd),
      primary: this.k(cmd, 'primary'),
      startTs: this.ts(cmd, 'ts'),
      forUpdateTs: this.ts(cmd, 'for-update'),
      lockTtlMs: Number(cmd.keys.get('ttl') ?? DEFAULT_TTL_MS),
      shouldNotExist: cmd.positional.includes('should-not-exist'),
      returnValue: cmd.positional.includes('return-value'),
      ...(minCommitTs === undefined ? {} : { minCommitTs }),
    });
    return this.report(r, (x) => (x.value === undefined ? (cmd.positional.includes('return-value') ? 'value=<none>' : '') : `value=${fmtValue(x.value)}`)).replace(/^ok $/m, 'ok');
  }

  private async read(cmd: Command): Promise<string> {
    const bypass = cmd.keys.get('bypass');
    const r = await read(this.view, this.k(cmd), this.ts(cmd, 'ts'), bypass === undefined ? {} : { bypassLocks: bypass.split(',').map(parseTs) });
    if (!r.ok) return fmtError(r.error);
    if (r.value === undefined) return r.commitTs === undefined ? '<none>' : `<deleted> (commit=${fmtTs(r.commitTs)})`;
    return `${fmtValue(r.value)} (commit=${fmtTs(r.commitTs ?? 0n)})`;
  }

  private dump(): string {
    const lines: string[] = [];
    for (const cf of [CF_LOCK, CF_WRITE, CF_DEFAULT]) {
      for (const { key: k, value: v } of this.cfs.entries(cf)) lines.push(`${cf.padEnd(7)} ${fmtCfKey(cf, k)}: ${fmtCfValue(cf, v)}`);
    }
    return lines.length === 0 ? '<empty>' : lines.join('\n');
  }
}

/** Ops as text (for table tests). */
export function opsText(ops: readonly TxnOp[]): string[] {
  return ops.map(fmtOp);
}

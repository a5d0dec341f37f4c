/**
 * Maps IndexedDB failures (DOMException names) to typed `StorageError`s. Anything unknown
 * becomes `Io` with the original error as `cause`.
 */
import { StorageError, type StorageErrorKind } from './errors.ts';

const KIND_BY_DOM_NAME: Record<string, StorageErrorKind> = {
  QuotaExceededError: 'QuotaExceeded',
  AbortError: 'Aborted',
  TransactionInactiveError: 'Aborted',
  VersionError: 'VersionError',
  InvalidStateError: 'Closed',
  DataError: 'InvalidArgument',
  DataCloneError: 'InvalidArgument',
  NotFoundError: 'InvalidArgument',
};

/** The `StorageError` for an IndexedDB error `e` raised while doing `what`. */
export function idbStorageError(e: unknown, what: string): StorageError {
  if (e instanceof StorageError) return e;
  const name = typeof e === 'object' && e !== null && 'name' in e ? String((e as { name: unknown }).name) : '';
  const message = typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  const kind = KIND_BY_DOM_NAME[name] ?? 'Io';
  return new StorageError(kind, `${what}: ${name || 'Error'}: ${message}`, { cause: e });
}

/**
 * The on-disk format version shared by the persistent engines. A store refuses to open data
 * written in a format it does not know (newer or foreign) and leaves it untouched.
 */
import { StorageError } from './errors.ts';

/** The format this code writes and reads. Bump on any incompatible layout change. */
export const STORAGE_FORMAT_VERSION = 1;

/** What the format record holds. */
export interface FormatRecord {
  format: number;
  /** Which library wrote it, for the error message of a foreign reader. */
  writer: string;
}

/** The record a new database starts with. */
export function newFormatRecord(): FormatRecord {
  return { format: STORAGE_FORMAT_VERSION, writer: '@peerkv/storage' };
}

/** Throws `FormatUnsupported` unless `record` is this library's format. */
export function checkFormatRecord(record: unknown, where: string): FormatRecord {
  if (typeof record !== 'object' || record === null || typeof (record as FormatRecord).format !== 'number') {
    throw new StorageError('FormatUnsupported', `${where}: no @peerkv/storage format record; refusing to open unknown data`);
  }
  const format = (record as FormatRecord).format;
  if (format > STORAGE_FORMAT_VERSION) {
    throw new StorageError('FormatUnsupported', `${where}: format ${format} is newer than supported ${STORAGE_FORMAT_VERSION}; upgrade @peerkv/storage`);
  }
  if (format !== STORAGE_FORMAT_VERSION) {
    throw new StorageError('FormatUnsupported', `${where}: unknown format ${format} (supported: ${STORAGE_FORMAT_VERSION})`);
  }
  return record as FormatRecord;
}

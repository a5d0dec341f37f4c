/**
 * A stable random id of this browser profile, kept in `localStorage` (`peerkv-device-id`), so
 * a profile whose database was wiped rejoins at the same address and PD replaces its older
 * incarnation. Page only: Workers have no `localStorage` (the page passes the id in).
 */

/** `localStorage` key of this profile's device id (part of the default store address). */
export const DEVICE_ID_STORAGE_KEY = 'peerkv-device-id';

/** This profile's device id, or a fresh random one where `localStorage` is missing. */
export function deviceId(): string {
  const fresh = (): string => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const ls = (globalThis as { localStorage?: Storage }).localStorage;
  if (!ls) return fresh();
  let id = ls.getItem(DEVICE_ID_STORAGE_KEY);
  if (!id) ls.setItem(DEVICE_ID_STORAGE_KEY, (id = fresh()));
  return id;
}

/**
 * Tiny DOM helpers for the demo: elements built with text content only (user text never
 * becomes HTML), and printable keys.
 */

type Child = Node | string | undefined | false;

/** Creates `<tag>` with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

/** The element with `id` (the page defines it). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
}

const decoder = new TextDecoder();

/** A key as text; bytes outside printable ASCII as \xNN; the empty key as `fallback`. */
export function showKey(key: Uint8Array, fallback: string): string {
  if (key.length === 0) return fallback;
  const s = decoder.decode(key);
  return [...s].map((c) => (c >= ' ' && c <= '~' ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('');
}

/** Bytes as KiB with one decimal. */
export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * Waiting in the end-to-end specs: `until` polls a condition (errors thrown by it count as
 * "not yet", the last one is reported) until it holds or the time runs out.
 */

/** Polls `cond` every `pollMs` until true; throws after `timeoutMs`, ms. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, pollMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

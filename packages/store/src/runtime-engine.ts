/**
 * Which runtime a store runs in, reported to PD as its `engine` label (`ENGINE_LABEL`) so
 * placement can keep a region's replicas on more than one engine (`replicaEnginesMin`). Read
 * where the store runs (in the browser, its Worker): `navigator.userAgentData.brands` when
 * there (Chromium only), else the user agent string; Node reports `Node.js/<major>` as its
 * user agent (or has `process.versions.node`). Every iOS browser is WebKit underneath.
 */
import type { RuntimeEngine } from '@peerkv/pd';

/** Most user-agent characters looked at (a user agent is a few hundred; more is not one). */
export const USER_AGENT_CHARS_MAX = 1024;

/** The parts of `navigator` (page or Worker) the engine is read from. */
export interface UserAgentSource {
  userAgent?: string;
  userAgentData?: { brands?: readonly { brand: string }[] };
}

/** The engine a user agent names, or undefined when it names none this project knows. */
export function engineOfUserAgent(source: UserAgentSource): RuntimeEngine | undefined {
  if (source.userAgentData?.brands?.some((b) => b.brand === 'Chromium')) return 'chromium';
  const ua = (source.userAgent ?? '').slice(0, USER_AGENT_CHARS_MAX);
  if (/^Node\.js\//.test(ua)) return 'node';
  // Chrome, Firefox and Edge on iOS run WebKit (their own names come first in the string).
  if (/\b(CriOS|FxiOS|EdgiOS)\//.test(ua)) return 'webkit';
  if (/\bFirefox\//.test(ua)) return 'firefox';
  if (/\b(Chrome|Chromium|HeadlessChrome)\//.test(ua)) return 'chromium';
  if (/\bAppleWebKit\//.test(ua)) return 'webkit';
  return undefined;
}

/** This runtime's engine: `node` in Node, else what the global `navigator` says (undefined when it says nothing known). */
export function runtimeEngine(): RuntimeEngine | undefined {
  const g = globalThis as { navigator?: UserAgentSource; process?: { versions?: { node?: string } } };
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return g.navigator ? engineOfUserAgent(g.navigator) : undefined;
}

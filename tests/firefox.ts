/**
 * Where Firefox is and how to start it here. Playwright cannot drive Debian's `firefox-esr`
 * (its `newContext` sends `emulation.setMediaFeaturesOverride`, unknown to this Firefox), so the
 * Firefox specs drive it with `puppeteer-core` over WebDriver BiDi.
 *
 * Discovery: `PEERKV_FIREFOX`, then Debian's `/usr/bin/firefox-esr`, then `/usr/bin/firefox`.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** The Firefox binary, or undefined when this machine has none (the Firefox specs then fail: `launchFirefox`). */
export function firefoxPath(): string | undefined {
  const fromEnv = process.env.PEERKV_FIREFOX;
  if (fromEnv) return fromEnv;
  for (const p of ['/usr/bin/firefox-esr', '/usr/bin/firefox']) if (existsSync(p)) return p;
  return undefined;
}

/**
 * Prefs for a closed network and WebRTC without a camera: no permission prompt for
 * `getUserMedia`-gated host candidates, and host candidates as addresses, not mDNS names
 * (there is no mDNS responder in the test's network namespace).
 */
export const FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // Nothing to fetch from the network while a spec runs.
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
};

/**
 * Starts headless Firefox over WebDriver BiDi; `userDataDir` keeps its profile (IndexedDB)
 * across launches. With `PEERKV_FIREFOX_LOG=1` Firefox's own output and every page's and
 * Worker's console reach this process's output (how a Worker that hangs is seen).
 */
export function launchFirefox(o: { userDataDir?: string } = {}): Promise<Browser> {
  const executablePath = firefoxPath();
  if (!executablePath) throw new Error("no Firefox: the Firefox and cross-engine specs need Debian's firefox-esr (apt-get install -y firefox-esr; .ci/run installs it) or PEERKV_FIREFOX naming a Firefox binary");
  return puppeteer.launch({
    browser: 'firefox',
    executablePath,
    protocol: 'webDriverBiDi',
    headless: true,
    extraPrefsFirefox: process.env.PEERKV_FIREFOX_LOG ? { ...FIREFOX_PREFS, 'devtools.console.stdout.content': true } : FIREFOX_PREFS,
    dumpio: !!process.env.PEERKV_FIREFOX_LOG,
    ...(o.userDataDir ? { userDataDir: o.userDataDir } : {}),
  });
}

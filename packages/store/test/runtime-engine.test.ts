/**
 * The `engine` label a store reports (`runtimeEngine`, `engineOfUserAgent`): user agents of
 * the engines the project runs on, the iOS browsers that are WebKit underneath, Chromium's
 * client hints, Node, and strings that name no engine.
 */
import { describe, expect, it } from 'vitest';
import { USER_AGENT_CHARS_MAX, engineOfUserAgent, runtimeEngine } from '../src/index.ts';

const UA = {
  chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  headless: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  playwrightWebkit: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15',
  chromeIos: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
  firefoxIos: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/132.0 Mobile/15E148 Safari/605.1.15',
};

describe('engineOfUserAgent', () => {
  it('names the engine of each browser', () => {
    expect(engineOfUserAgent({ userAgent: UA.chrome })).toBe('chromium');
    expect(engineOfUserAgent({ userAgent: UA.headless })).toBe('chromium');
    expect(engineOfUserAgent({ userAgent: UA.edge })).toBe('chromium');
    expect(engineOfUserAgent({ userAgent: UA.firefox })).toBe('firefox');
    expect(engineOfUserAgent({ userAgent: UA.safari })).toBe('webkit');
    expect(engineOfUserAgent({ userAgent: UA.playwrightWebkit })).toBe('webkit');
  });

  it('takes the iOS browsers for WebKit, whatever their name', () => {
    expect(engineOfUserAgent({ userAgent: UA.chromeIos })).toBe('webkit');
    expect(engineOfUserAgent({ userAgent: UA.firefoxIos })).toBe('webkit');
  });

  it('believes Chromium client hints over the string, and reads Node', () => {
    expect(engineOfUserAgent({ userAgent: 'Mozilla/5.0', userAgentData: { brands: [{ brand: 'Not?A_Brand' }, { brand: 'Chromium' }, { brand: 'Google Chrome' }] } })).toBe('chromium');
    expect(engineOfUserAgent({ userAgent: UA.firefox, userAgentData: { brands: [{ brand: 'Not?A_Brand' }] } })).toBe('firefox');
    expect(engineOfUserAgent({ userAgent: 'Node.js/22' })).toBe('node');
  });

  it('names no engine for strings it does not know, and looks at most USER_AGENT_CHARS_MAX characters', () => {
    expect(engineOfUserAgent({})).toBeUndefined();
    expect(engineOfUserAgent({ userAgent: 'curl/8.5.0' })).toBeUndefined();
    expect(engineOfUserAgent({ userAgent: `${'x'.repeat(USER_AGENT_CHARS_MAX)} Firefox/128.0` })).toBeUndefined();
  });
});

describe('runtimeEngine', () => {
  it('is node under Node', () => {
    expect(runtimeEngine()).toBe('node');
  });
});

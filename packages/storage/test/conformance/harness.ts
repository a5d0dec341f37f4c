/**
 * What the engine conformance suite needs from each engine: a way to open the same store
 * again (to test reopen), optionally to inject a quota failure in the middle of a write, and
 * to clean up.
 */
import type { KvEngine } from '../../src/engine.ts';

/** One store's worth of an engine under test. */
export interface EngineHarness {
  /** Opens the harness's store (the same one every time) with these column families. */
  open(columnFamilies: readonly string[]): Promise<KvEngine>;
  /**
   * Makes puts fail with a `QuotaExceededError` after `putsAllowed` more successful puts, as
   * a full disk does in the middle of a transaction. Returns the undo. Absent on engines
   * that cannot fail half way (their batches are validated, then applied in one step).
   */
  injectQuotaFault?(putsAllowed: number): () => void;
  /** Deletes the store. */
  dispose(): Promise<void>;
}

/** Makes a harness over a fresh, empty store. */
export type HarnessFactory = () => Promise<EngineHarness>;

/** One conformance case. */
export interface ConformanceCase {
  name: string;
  run(h: EngineHarness): Promise<void>;
}

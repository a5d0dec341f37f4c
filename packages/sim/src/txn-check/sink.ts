/**
 * Where findings go: `AnomalySink` counts every anomaly and keeps the first few of each type
 * (a broken run can produce thousands of the same one), and `Budget` meters the cycle
 * search's work so a pathological graph yields `unknown` instead of an endless check.
 */
import type { Anomaly, AnomalyType } from './types.ts';

/** Anomalies kept per type unless the caller says otherwise. */
export const ANOMALIES_PER_TYPE_MAX_DEFAULT = 8;

export class AnomalySink {
  readonly anomalies: Anomaly[] = [];
  readonly counts: Partial<Record<AnomalyType, number>> = {};

  constructor(private readonly perTypeMax: number) {}

  /** Would another anomaly of `type` be kept? (Lets callers skip building its witness.) */
  wants(type: AnomalyType): boolean {
    return (this.counts[type] ?? 0) < this.perTypeMax;
  }

  /** Counts one anomaly of `type`, keeping it (built by `make`) while under the limit. */
  report(type: AnomalyType, make: () => Anomaly): void {
    if (this.wants(type)) this.anomalies.push(make());
    this.counts[type] = (this.counts[type] ?? 0) + 1;
  }
}

/**
 * Search steps a check may take: generous (a 10 000-transaction history needs well under a
 * million), so running out means a pathological graph, reported as `unknown`.
 */
export const BUDGET_STEPS_DEFAULT = 200_000_000;

export class Budget {
  steps = 0;
  exhausted = false;

  constructor(private readonly limit: number) {}

  /** Spends `n` steps; `false` (and `exhausted`) once the limit would be passed. */
  spend(n: number): boolean {
    if (this.exhausted || this.steps + n > this.limit) {
      this.exhausted = true;
      return false;
    }
    this.steps += n;
    return true;
  }
}

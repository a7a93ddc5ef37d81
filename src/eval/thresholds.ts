/** `--fail-under METRIC=VALUE ...`: parsing, validation and checking of quality bars. */
import { GATEABLE_METRICS, type MetricValues } from './metrics.js';

export interface Threshold {
  metric: string;
  min: number;
}

export interface ThresholdResult extends Threshold {
  value: number | null;
  passed: boolean;
}

/** A wrong command line: the CLI prints it with the usage and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function allowedMetricNames(k: number): string[] {
  return ['hit@1', ...(k > 1 ? [`hit@2 … hit@${k}`] : []), ...GATEABLE_METRICS];
}

/** Parses `hit@5=0.9`, `escalation_recall=0.95` (also comma-separated); names are checked against k. */
export function parseThresholds(specs: string[], k: number): Threshold[] {
  const thresholds: Threshold[] = [];
  for (const spec of specs.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean)) {
    const match = /^([a-z_]+(?:@\d+)?)=([0-9]*\.?[0-9]+)$/i.exec(spec);
    if (!match) throw new UsageError(`--fail-under: "${spec}" is not METRIC=VALUE (e.g. hit@5=0.9 escalation_recall=0.95)`);
    const metric = match[1]!.toLowerCase();
    const min = Number(match[2]);
    const hit = /^hit@(\d+)$/.exec(metric);
    if (hit) {
      const n = Number(hit[1]);
      if (n < 1 || n > k) throw new UsageError(`--fail-under: ${metric} needs 1 ≤ N ≤ k (k is ${k}; raise it with --k ${Math.max(n, 1)})`);
    } else if (!(GATEABLE_METRICS as readonly string[]).includes(metric)) {
      throw new UsageError(`--fail-under: unknown metric "${metric}"; use one of ${allowedMetricNames(k).join(', ')}`);
    }
    if (!(min >= 0 && min <= 1)) throw new UsageError(`--fail-under: ${metric}=${match[2]} must be between 0 and 1`);
    thresholds.push({ metric, min });
  }
  return thresholds;
}

/** A metric below its bar, or undefined (0/0, e.g. recall with no escalate cases), fails. */
export function checkThresholds(thresholds: Threshold[], value: (metric: string) => number | null): ThresholdResult[] {
  return thresholds.map((t) => {
    const v = value(t.metric);
    return { ...t, value: v, passed: v !== null && v + 1e-9 >= t.min };
  });
}

export function valueFrom(metrics: MetricValues, hitAt: (n: number) => number | null): (metric: string) => number | null {
  return (metric) => {
    const hit = /^hit@(\d+)$/.exec(metric);
    if (hit) return metrics[metric] ?? hitAt(Number(hit[1]));
    return metrics[metric] ?? null;
  };
}

interface ArgToken {
  kind: 'option' | 'positional' | 'option-terminator';
  name?: string;
  value?: string | undefined;
  index: number;
}

/**
 * `parseArgs` takes one value per option; `--fail-under a=1 b=2` leaves `b=2` as a positional.
 * This collects, from parseArgs' tokens, every --fail-under value and the positionals that
 * directly follow it, and returns the remaining positionals separately.
 */
export function failUnderFromTokens(tokens: ArgToken[]): { specs: string[]; positionals: string[] } {
  const specs: string[] = [];
  const positionals: string[] = [];
  let collecting = false;
  for (const token of tokens) {
    if (token.kind === 'option') {
      collecting = token.name === 'fail-under';
      if (collecting && token.value !== undefined) specs.push(token.value);
    } else if (token.kind === 'positional') {
      if (collecting && token.value !== undefined && token.value.includes('=')) specs.push(token.value);
      else {
        collecting = false;
        if (token.value !== undefined) positionals.push(token.value);
      }
    } else collecting = false;
  }
  return { specs, positionals };
}

/** `--k`: a whole number from 1 to 50. */
export function parseKOption(value: string | undefined): number {
  const k = Number(value ?? '5');
  if (!Number.isInteger(k) || k < 1 || k > 50) throw new UsageError(`--k must be a whole number from 1 to 50 (got "${value}")`);
  return k;
}

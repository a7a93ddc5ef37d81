/**
 * Peak resident set size of this process, sampled on an interval (process.memoryUsage.rss),
 * overall and per named phase. PGlite's WebAssembly memory is part of the RSS.
 */
export interface RssSampler {
  /** Starts attributing samples to `name` (a phase's peak starts at the current RSS). */
  phase(name: string): void;
  /** Peak RSS in MB over the whole run, or of one phase. */
  peakMb(phase?: string): number;
  currentMb(): number;
  phases(): Record<string, number>;
  stop(): void;
}

const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;

export function startRssSampler(intervalMs = 25): RssSampler {
  let peak = process.memoryUsage.rss();
  const perPhase = new Map<string, number>();
  let current: string | undefined;
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
    if (current !== undefined && rss > (perPhase.get(current) ?? 0)) perPhase.set(current, rss);
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    phase(name) {
      sample();
      current = name;
      perPhase.set(name, Math.max(perPhase.get(name) ?? 0, process.memoryUsage.rss()));
    },
    peakMb(phase) {
      sample();
      return mb(phase === undefined ? peak : (perPhase.get(phase) ?? 0));
    },
    currentMb: () => mb(process.memoryUsage.rss()),
    phases() {
      sample();
      return Object.fromEntries([...perPhase].map(([k, v]) => [k, mb(v)]));
    },
    stop: () => clearInterval(timer),
  };
}

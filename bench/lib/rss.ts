/**
 * Peak resident set size of this process, overall and per named phase. PGlite's WebAssembly
 * memory is part of the RSS.
 *
 * On Linux the kernel keeps the peak itself (VmHWM in /proc/self/status) and resets it on
 * request (writing 5 to /proc/self/clear_refs), so nothing runs while a scenario is measured:
 * sampling `process.memoryUsage.rss()` every 25 ms cost the server about 1 ms a sample on its
 * own event loop, inside the latencies being measured. Elsewhere it falls back to sampling
 * every 100 ms.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface RssSampler {
  /** Starts attributing the peak to `name` (a phase's peak starts at the current RSS). */
  phase(name: string): void;
  /** Peak RSS in MB over the whole run, or of one phase. */
  peakMb(phase?: string): number;
  currentMb(): number;
  phases(): Record<string, number>;
  stop(): void;
}

const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;

/** The kernel's high-water mark of this process, if it can be read and reset here. */
function kernelPeak(): { read(): number; reset(): void } | undefined {
  const read = () => {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb === undefined) throw new Error('no VmHWM in /proc/self/status');
    return Number(kb) * 1024;
  };
  const reset = () => writeFileSync('/proc/self/clear_refs', '5');
  try {
    read();
    reset();
    return { read, reset };
  } catch {
    return undefined; // not Linux, or not allowed: sample instead
  }
}

export function startRssSampler(fallbackIntervalMs = 100): RssSampler {
  const kernel = kernelPeak();
  let peak = process.memoryUsage.rss();
  const perPhase = new Map<string, number>();
  let current: string | undefined;
  const record = (rss: number) => {
    if (rss > peak) peak = rss;
    if (current !== undefined && rss > (perPhase.get(current) ?? 0)) perPhase.set(current, rss);
  };
  const sample = () => record(kernel ? kernel.read() : process.memoryUsage.rss());
  const timer = kernel ? undefined : setInterval(sample, fallbackIntervalMs);
  timer?.unref();
  return {
    phase(name) {
      sample(); // closes the previous phase with its peak
      kernel?.reset();
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

/** Progress for long CLI steps: a bar on a terminal, plain lines otherwise (logs, CI). */
import cliProgress from 'cli-progress';
import type { IngestProgress } from '../knowledge/index.js';

export function ingestProgressReporter(stream: NodeJS.WriteStream, enabled: boolean): { onProgress: (p: IngestProgress) => void; stop: () => void } {
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: '{phase} [{bar}] {value}/{total}', hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    let phase = '';
    return {
      onProgress(p) {
        if (p.phase === 'done') return bar.stop();
        if (p.phase !== phase) {
          if (phase) bar.stop();
          phase = p.phase;
          bar.start(p.total, p.done, { phase: p.phase.padEnd(9) });
        } else bar.update(p.done);
      },
      stop: () => bar.stop(),
    };
  }
  let lastLine = '';
  return {
    onProgress(p) {
      if (p.phase === 'done' || p.total === 0) return;
      // One line per phase start and per ~10% step, so logs stay short.
      const step = Math.floor((p.done / p.total) * 10);
      const line = `${p.phase}: ${step * 10}%`;
      if (line !== lastLine) stream.write(`${p.phase} ${p.done}/${p.total}\n`);
      lastLine = line;
    },
    stop: () => undefined,
  };
}

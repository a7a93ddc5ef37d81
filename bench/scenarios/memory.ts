/**
 * Scenario 5 — memory. Peak resident set size (process.memoryUsage().rss, sampled every
 * 25 ms, see lib/rss.ts) of the server process during scenarios 1–2 and of the ingest process
 * during scenario 3. Each runs in its own child process, so the figure is the subject's alone
 * (PGlite's WebAssembly heap included), not the load generator's or the fake upstreams'.
 */
import type { AckModeResult } from './ack.js';
import type { IngestionResult } from './ingest.js';
import type { PipelineResult } from './pipeline.js';

export interface MemoryFigure {
  what: string;
  peakRssMb: number;
  isolated: boolean;
}

export function memoryFigures(results: { ack?: AckModeResult[]; pipeline?: PipelineResult; ingestion?: IngestionResult; isolated: boolean }): MemoryFigure[] {
  const figures: MemoryFigure[] = [];
  for (const a of results.ack ?? []) figures.push({ what: `server during acknowledgement load (${a.mode})`, peakRssMb: a.server.peakRssMb, isolated: a.server.isolated });
  for (const p of results.pipeline?.modes ?? []) figures.push({ what: `server during pipeline runs (${p.mode})`, peakRssMb: p.server.peakRssMb, isolated: p.server.isolated });
  const ingestion = results.ingestion;
  if (ingestion) {
    figures.push({ what: `ingest, first run (${ingestion.chunks} chunks)`, peakRssMb: ingestion.first.peakRssMb, isolated: results.isolated });
    figures.push({ what: 'ingest, unchanged re-run', peakRssMb: ingestion.unchanged.peakRssMb, isolated: results.isolated });
    figures.push({ what: 'ingest process overall (incl. LangChain baseline)', peakRssMb: ingestion.peakRssMb, isolated: results.isolated });
  }
  return figures;
}

/** The printed table: each figure beside its baseline, the ratio, and the issue's target. */
import type { AckModeResult } from '../scenarios/ack.js';
import type { IngestionResult } from '../scenarios/ingest.js';
import type { MemoryFigure } from '../scenarios/memory.js';
import type { PipelineResult } from '../scenarios/pipeline.js';
import type { RetrievalResult } from '../scenarios/retrieval.js';
import type { MachineInfo } from './machine.js';
import type { Latencies } from './upstreams.js';

export interface Target {
  scenario: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResults {
  profile: 'quick' | 'full';
  command: string;
  machine: MachineInfo;
  latencies: Latencies;
  durationSec: number;
  ack?: AckModeResult[];
  pipeline?: PipelineResult;
  ingestion?: IngestionResult;
  retrieval?: RetrievalResult;
  memory: MemoryFigure[];
  targets: Target[];
  notes: string[];
  skipped: string[];
}

const ms = (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ms` : '—');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—');

export function evaluateTargets(r: Pick<BenchResults, 'ack' | 'pipeline' | 'ingestion' | 'retrieval'>): Target[] {
  const targets: Target[] = [];
  for (const a of r.ack ?? []) {
    targets.push({ scenario: `1 ack (${a.mode})`, target: 'p99 < 3× bare route', measured: x(a.ratios.p99), met: a.ratios.p99 < 3 });
  }
  for (const p of r.pipeline?.modes ?? []) {
    targets.push({ scenario: `2 pipeline (${p.mode})`, target: 'overhead p95 < 50 ms, 50 senders', measured: ms(p.concurrent.overhead.p95), met: p.concurrent.overhead.p95 < 50 });
  }
  const i = r.ingestion;
  if (i) {
    targets.push({
      scenario: '3 ingest',
      target: 'unchanged re-run < 5% of first, 0 embedding requests',
      measured: `${(i.ratios.unchangedVsFirst * 100).toFixed(1)}%, ${i.unchanged.embeddingRequests} requests`,
      met: i.ratios.unchangedVsFirst < 0.05 && i.unchanged.embeddingRequests === 0,
    });
    targets.push({
      scenario: '3 ingest',
      target: 'first run faster than LangChain',
      measured: `${x(i.ratios.firstVsLangchainAddAndIndex)} (add+index), ${x(i.ratios.firstVsLangchainAdd)} (add only)`,
      met: i.ratios.firstVsLangchainAddAndIndex > 1,
    });
  }
  for (const s of r.retrieval?.sizes ?? []) {
    targets.push({
      scenario: `4 retrieval ${s.chunks} chunks`,
      target: 'hybrid p95 < 3× bare NN',
      measured: `${x(s.firstSight.ratios.hybridVsFloorP95)} (new questions), ${x(s.repeated.ratios.hybridVsFloorP95)} (repeated)`,
      met: s.firstSight.ratios.hybridVsFloorP95 < 3,
    });
  }
  return targets;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function formatReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Groundline bench (${r.profile}) — ${m.date} — ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node} — ${Math.round(r.durationSec)} s`);
  out.push(`Upstream fakes on 127.0.0.1: embeddings ${r.latencies.embedMs} ms, Claude ${r.latencies.claudeMs} ms, Twilio send ${r.latencies.twilioMs} ms. Database: embedded PGlite (pgvector) shared on its socket, as \`npm start\` runs it.`);
  out.push('');

  if (r.ack?.length) {
    out.push('1. Acknowledgement — signed webhook → 200 vs a bare express route on the same app and process');
    const rows = [['mode', 'measure', 'webhook', 'bare route', 'ratio']];
    for (const a of r.ack) {
      rows.push([a.mode, `p50 at ${a.fixedRate.rate} req/s`, ms(a.fixedRate.webhook.latency.p50), ms(a.fixedRate.bare.latency.p50), x(a.ratios.p50)]);
      rows.push([a.mode, `p99 at ${a.fixedRate.rate} req/s`, ms(a.fixedRate.webhook.latency.p99), ms(a.fixedRate.bare.latency.p99), x(a.ratios.p99)]);
      rows.push([a.mode, `sustained req/s, ${a.saturated.connections} conns`, String(a.saturated.webhook.requestsPerSecond), String(a.saturated.bare.requestsPerSecond), `${x(a.ratios.throughput)} (bare ÷ webhook)`]);
      rows.push([a.mode, `p50 / p99 saturated`, `${ms(a.saturated.webhook.latency.p50)} / ${ms(a.saturated.webhook.latency.p99)}`, `${ms(a.saturated.bare.latency.p50)} / ${ms(a.saturated.bare.latency.p99)}`, '']);
    }
    out.push(table(rows), '');
  }

  if (r.pipeline?.modes.length) {
    const p0 = r.pipeline.modes[0]!;
    out.push(`2. Pipeline overhead — webhook → last outbound at the fake Twilio, minus ${p0.upstreamMsPerTurn} ms of upstream latency per one-part reply (BURST_WINDOW_MS=0, WORKER_CONCURRENCY=${p0.workerConcurrency})`);
    const rows = [['mode', 'load', 'overhead p50', 'overhead p95', 'end-to-end p50', 'turns (not answered)']];
    for (const p of r.pipeline.modes) {
      const turns = (f: { turns: number; notAnswered: number }) => `${f.turns} (${f.notAnswered})`;
      rows.push([p.mode, '1 sender, sequential', ms(p.singleSender.overhead.p50), ms(p.singleSender.overhead.p95), ms(p.singleSender.endToEnd.p50), turns(p.singleSender)]);
      rows.push([p.mode, `${p.concurrent.senders} senders at once`, ms(p.concurrent.overhead.p50), ms(p.concurrent.overhead.p95), ms(p.concurrent.endToEnd.p50), turns(p.concurrent)]);
      rows.push([p.mode, `${p.slowSender.others.turns} senders beside a 5 s one`, ms(p.slowSender.others.overhead.p50), ms(p.slowSender.others.overhead.p95), ms(p.slowSender.others.endToEnd.p50), turns(p.slowSender.others)]);
      rows.push([p.mode, 'the slow sender itself', ms(p.slowSender.slow.overheadMs), '', ms(p.slowSender.slow.e2eMs), '1']);
    }
    const c = r.pipeline.defaultConcurrency;
    if (c) rows.push([`${c.mode}, WORKER_CONCURRENCY=${c.workerConcurrency}`, `${c.concurrent.senders} senders at once`, ms(c.concurrent.overhead.p50), ms(c.concurrent.overhead.p95), ms(c.concurrent.endToEnd.p50), `${c.concurrent.turns} (${c.concurrent.notAnswered})`]);
    out.push(table(rows));
    out.push(`   upstream calls per turn: ${r.pipeline.modes.map((p) => `${p.mode} ${p.callsPerTurn.embeddings} embeddings, ${p.callsPerTurn.claude} Claude, ${p.callsPerTurn.twilioParts} Twilio parts`).join('; ')}`, '');
  }

  const i = r.ingestion;
  if (i) {
    out.push(`3. Ingestion — ${i.files} synthetic Markdown files, ${i.chunks} chunks, ${i.dims}-d embeddings, same fake embedder and PGlite database`);
    const rows = [['run', 'time', 'chunks/s', 'embedding requests', 'ratio']];
    rows.push(['ours: first run', ms(i.first.ms), String(i.first.chunksPerSecond), String(i.first.embeddingRequests), '1']);
    rows.push(['ours: unchanged re-run', ms(i.unchanged.ms), String(i.unchanged.chunksPerSecond), String(i.unchanged.embeddingRequests), `${(i.ratios.unchangedVsFirst * 100).toFixed(1)}% of first`]);
    rows.push(['ours: one file edited', ms(i.edited.ms), String(i.edited.chunksPerSecond), `${i.edited.embeddingRequests} (${i.edited.reembedded} chunk)`, `${(i.ratios.editedVsFirst * 100).toFixed(1)}% of first`]);
    rows.push(['LangChain addDocuments', ms(i.langchain.addDocuments.ms), String(i.langchain.addDocuments.chunksPerSecond), String(i.langchain.addDocuments.embeddingRequests), `ours ${x(i.ratios.firstVsLangchainAdd)} its chunks/s`]);
    rows.push(['LangChain add + createHnswIndex', ms(i.langchain.addDocuments.ms + i.langchain.hnswIndexMs), '', '', `ours ${x(i.ratios.firstVsLangchainAddAndIndex)} its chunks/s`]);
    out.push(table(rows));
    out.push(`   our first run: ${Object.entries(i.firstBreakdown).map(([k, v]) => `${k} ${ms(v)}`).join(', ')} (rows are written while embeddings arrive; writing is what remains after: the last rows, the HNSW index build, the switch and ANALYZE)`, '');
  }

  if (r.retrieval?.sizes.length) {
    out.push(`4. Retrieval — top ${r.retrieval.topK}, ${r.retrieval.dims}-d, ${r.retrieval.queries} questions each pass; query vectors precomputed for every contender`);
    const rows = [['chunks', 'questions', 'bare NN p50/p95', 'hybrid p50/p95', 'LangChain p50/p95', 'hybrid÷NN p95', 'LangChain÷NN p95']];
    for (const s of r.retrieval.sizes) {
      for (const [label, pass] of [['new', s.firstSight], ['repeated', s.repeated]] as const) {
        rows.push([
          String(s.chunks),
          label,
          `${ms(pass.floor.p50)} / ${ms(pass.floor.p95)}`,
          `${ms(pass.hybrid.p50)} / ${ms(pass.hybrid.p95)}`,
          `${ms(pass.langchain.p50)} / ${ms(pass.langchain.p95)}`,
          x(pass.ratios.hybridVsFloorP95),
          x(pass.ratios.langchainVsFloorP95),
        ]);
      }
    }
    out.push(table(rows), '');
  }

  if (r.memory.length) {
    out.push('5. Memory — peak RSS');
    out.push(table([['process', 'peak RSS'], ...r.memory.map((f) => [f.what + (f.isolated ? '' : ' (shared process)'), `${f.peakRssMb} MB`])]), '');
  }

  out.push('Targets');
  out.push(table([['scenario', 'target', 'measured', ''], ...r.targets.map((t) => [t.scenario, t.target, t.measured, t.met ? 'met' : 'MISSED'])]));
  for (const note of r.notes) out.push(`- ${note}`);
  for (const skipped of r.skipped) out.push(`- skipped: ${skipped}`);
  return `${out.join('\n')}\n`;
}

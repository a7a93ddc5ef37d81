/**
 * The bench's code paths, tiny and in-process: every scenario runs end to end against the
 * fakes and produces well-formed figures. No timing is asserted anywhere (figures from a
 * shared CI machine mean nothing); `npm run bench` is where the numbers come from.
 */
import { describe, expect, it } from 'vitest';
import { runBench } from '../bench/lib/bench.js';
import type { Profile } from '../bench/lib/profiles.js';
import { formatReport } from '../bench/lib/report.js';

const TINY: Profile = {
  name: 'quick',
  ack: { modes: ['in-process'], amount: 12, durationSec: 1, connections: 2, warmupSec: 0, fixedRate: 200, fixedDurationSec: 1, burstWindowMs: 0 },
  pipeline: {
    modes: ['in-process'],
    singleSenderMessages: 2,
    concurrentSenders: 3,
    concurrentRounds: 1,
    slowDemoSenders: 2,
    workerConcurrency: 8,
    defaultConcurrencyContrast: false,
    timeoutMs: 20_000,
  },
  ingestion: { files: 4, warmupFiles: 2, dims: 32, seed: 1 },
  retrieval: { sizes: [20], dims: 16, queries: 3, warmup: 1, topK: 3, seed: 1 },
};

const finite = (value: number) => expect(Number.isFinite(value) && value >= 0, `${value} is a non-negative number`).toBe(true);

describe('npm run bench, tiny and in-process', () => {
  it('runs every scenario and reports well-formed figures', async () => {
    const results = await runBench({
      profile: TINY,
      command: 'bench smoke test',
      isolate: false,
      parallel: true,
      latencies: { embedMs: 1, claudeMs: 5, twilioMs: 2 },
      slowExtraMs: 30,
      log: process.env.BENCH_SMOKE_LOG ? (line) => console.log(`${Math.round(performance.now())} ${line}`) : undefined,
    });

    const [ack] = results.ack!;
    expect(ack!.saturated.webhook.requests).toBeGreaterThan(0);
    expect(ack!.saturated.webhook.non2xx).toBe(0);
    for (const run of [ack!.saturated.webhook, ack!.saturated.bare, ack!.fixedRate.webhook, ack!.fixedRate.bare]) {
      finite(run.requestsPerSecond);
      finite(run.latency.p50);
      finite(run.latency.p99);
    }
    finite(ack!.ratios.p99);

    const [pipeline] = results.pipeline!.modes;
    expect(pipeline!.singleSender.turns).toBe(2);
    expect(pipeline!.concurrent.turns).toBe(3);
    expect(pipeline!.slowSender.others.turns).toBe(2);
    for (const f of [pipeline!.singleSender, pipeline!.concurrent, pipeline!.slowSender.others]) {
      finite(f.endToEnd.p50);
      expect(Number.isFinite(f.overhead.p95)).toBe(true);
    }
    expect(pipeline!.callsPerTurn).toEqual({ embeddings: 1, claude: 1, twilioParts: 1 });
    expect(pipeline!.concurrent.notAnswered).toBe(0);

    const ingestion = results.ingestion!;
    expect(ingestion.chunks).toBeGreaterThan(0);
    expect(ingestion.first.embeddingRequests).toBeGreaterThan(0);
    expect(ingestion.unchanged.embeddingRequests).toBe(0);
    expect(ingestion.edited.reembedded).toBeGreaterThan(0);
    for (const phase of [ingestion.first, ingestion.unchanged, ingestion.edited, ingestion.langchain.addDocuments]) {
      finite(phase.ms);
      finite(phase.chunksPerSecond);
      finite(phase.peakRssMb);
    }
    finite(ingestion.ratios.firstVsLangchainAddAndIndex);

    const [size] = results.retrieval!.sizes;
    expect(size!.chunks).toBeGreaterThan(0);
    for (const pass of [size!.firstSight, size!.repeated]) {
      for (const s of [pass.floor, pass.hybrid, pass.langchain]) {
        expect(s.n).toBe(3);
        finite(s.p50);
        finite(s.p95);
      }
    }

    expect(results.memory.length).toBeGreaterThan(0);
    for (const m of results.memory) finite(m.peakRssMb);
    expect(results.targets.length).toBeGreaterThan(0);
    expect(results.machine.cores).toBeGreaterThan(0);

    const report = formatReport(results);
    for (const heading of ['1. Acknowledgement', '2. Pipeline overhead', '3. Ingestion', '4. Retrieval', '5. Memory', 'Targets']) expect(report).toContain(heading);
  }, 90_000);
});

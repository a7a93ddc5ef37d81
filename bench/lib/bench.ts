/** One bench run: upstream fakes, then each scenario in turn, then targets and memory. */
import { runAck } from '../scenarios/ack.js';
import { runIngestion } from '../scenarios/ingest.js';
import { memoryFigures } from '../scenarios/memory.js';
import { runPipeline } from '../scenarios/pipeline.js';
import { runRetrieval } from '../scenarios/retrieval.js';
import { machineInfo } from './machine.js';
import type { Profile } from './profiles.js';
import { DEFAULT_BENCH_REDIS_URL, redisAvailable, type QueueMode } from './redis.js';
import { evaluateTargets, type BenchResults } from './report.js';
import { DEFAULT_LATENCIES, startUpstreams, type Latencies, type Upstreams } from './upstreams.js';
import { closeAgent } from './webhook.js';

export type ScenarioName = 'ack' | 'pipeline' | 'ingestion' | 'retrieval';
export const SCENARIOS: ScenarioName[] = ['ack', 'pipeline', 'ingestion', 'retrieval'];

export interface BenchOptions {
  profile: Profile;
  command: string;
  /** Subjects in child processes (true for real figures; the smoke test runs in-process). */
  isolate: boolean;
  only?: ScenarioName[];
  latencies?: Latencies;
  /** Extra Claude latency of the slow sender (scenario 2). */
  slowExtraMs?: number;
  redisUrl?: string;
  log?: (line: string) => void;
  /**
   * All scenarios at once, each with its own fakes: only for checking the code paths quickly
   * (the smoke test); the figures of a parallel run mean nothing.
   */
  parallel?: boolean;
}

export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const profile = options.profile;
  const wanted = new Set(options.only ?? SCENARIOS);
  const latencies = options.latencies ?? DEFAULT_LATENCIES;
  const redisUrl = options.redisUrl ?? DEFAULT_BENCH_REDIS_URL;
  const skipped: string[] = [];
  const notes: string[] = [];
  const withRedis = await redisAvailable(redisUrl);
  const modes = (wanted: QueueMode[], scenario: string) => {
    if (withRedis || !wanted.includes('bullmq')) return wanted;
    skipped.push(`${scenario} in BullMQ mode: no Redis at ${redisUrl.replace(/\/\/[^@/]*@/, '//')}`);
    return wanted.filter((m) => m !== 'bullmq');
  };

  const results: BenchResults = { profile: profile.name, command: options.command, machine: machineInfo(), latencies, durationSec: 0, memory: [], targets: [], notes, skipped };
  const shared = options.parallel ? undefined : await startUpstreams(latencies, { slowExtraMs: options.slowExtraMs });
  const scenario = (name: ScenarioName, label: string, fn: (upstreams: Upstreams) => Promise<void>) => async () => {
    if (!wanted.has(name)) return;
    log(`${label} …`);
    const upstreams = shared ?? (await startUpstreams(latencies, { slowExtraMs: options.slowExtraMs }));
    try {
      await fn(upstreams);
    } finally {
      if (!shared) await upstreams.close();
    }
  };
  const scenarios = [
    scenario('ack', '1/4 acknowledgement', async (up) => {
      results.ack = await runAck({ ...profile.ack, modes: modes(profile.ack.modes, 'acknowledgement'), redisUrl, isolate: options.isolate }, up);
    }),
    scenario('pipeline', '2/4 pipeline overhead', async (up) => {
      results.pipeline = await runPipeline({ ...profile.pipeline, modes: modes(profile.pipeline.modes, 'pipeline'), redisUrl, isolate: options.isolate }, up);
    }),
    scenario('ingestion', '3/4 ingestion', async (up) => {
      results.ingestion = await runIngestion({ ...profile.ingestion, isolate: options.isolate }, up);
    }),
    scenario('retrieval', '4/4 retrieval', async (up) => {
      results.retrieval = await runRetrieval(profile.retrieval, up);
    }),
  ];
  try {
    if (options.parallel) await Promise.all(scenarios.map((run) => run()));
    else for (const run of scenarios) await run();
  } finally {
    await shared?.close();
    closeAgent();
  }
  results.memory = memoryFigures({ ...results, isolated: options.isolate });
  results.targets = evaluateTargets(results);
  if (!options.isolate || options.parallel) notes.push('in-process or parallel run: the subjects shared this process with the load generator and the fakes; figures are for checking the bench, not for reading');
  results.durationSec = Math.round((performance.now() - started) / 100) / 10;
  return results;
}

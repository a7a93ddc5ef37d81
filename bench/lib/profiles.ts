/** How much each scenario does in a quick run (CI, a first look) and in the full run. */
import type { AckOptions } from '../scenarios/ack.js';
import type { PipelineOptions } from '../scenarios/pipeline.js';
import type { RetrievalOptions } from '../scenarios/retrieval.js';
import type { QueueMode } from './redis.js';

export interface Profile {
  name: 'quick' | 'full';
  ack: Omit<AckOptions, 'modes' | 'redisUrl' | 'isolate'> & { modes: QueueMode[] };
  pipeline: Omit<PipelineOptions, 'modes' | 'redisUrl' | 'isolate'> & { modes: QueueMode[] };
  ingestion: { files: number; warmupFiles: number; dims: number; seed: number };
  retrieval: RetrievalOptions;
}

export const QUICK: Profile = {
  name: 'quick',
  ack: { modes: ['in-process'], durationSec: 2, connections: 16, warmupSec: 1, fixedRate: 100, fixedDurationSec: 2, burstWindowMs: 60_000 },
  pipeline: {
    modes: ['in-process', 'bullmq'],
    singleSenderMessages: 5,
    concurrentSenders: 50,
    concurrentRounds: 1,
    slowDemoSenders: 20,
    workerConcurrency: 64,
    defaultConcurrencyContrast: false,
    timeoutMs: 60_000,
  },
  ingestion: { files: 200, warmupFiles: 30, dims: 256, seed: 42 },
  retrieval: { sizes: [1_000, 10_000], dims: 64, queries: 40, warmup: 10, topK: 6, seed: 7 },
};

export const FULL: Profile = {
  name: 'full',
  ack: { modes: ['in-process', 'bullmq'], durationSec: 10, connections: 16, warmupSec: 2, fixedRate: 100, fixedDurationSec: 10, burstWindowMs: 60_000 },
  pipeline: {
    modes: ['in-process', 'bullmq'],
    singleSenderMessages: 20,
    concurrentSenders: 50,
    concurrentRounds: 3,
    slowDemoSenders: 20,
    workerConcurrency: 64,
    defaultConcurrencyContrast: false,
    timeoutMs: 120_000,
  },
  ingestion: { files: 1_000, warmupFiles: 100, dims: 256, seed: 42 },
  retrieval: { sizes: [1_000, 10_000, 50_000], dims: 64, queries: 150, warmup: 20, topK: 6, seed: 7 },
};

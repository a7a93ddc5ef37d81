/**
 * Scenario 2 — pipeline overhead. From the signed webhook POST to the last outbound message
 * recorded by the fake Twilio, minus the configured upstream latencies (one query embedding,
 * one Claude call, one Twilio send per part): what is left is ours — queue, inbox, history,
 * retrieval, prompt and parsing, formatting, SDK clients, the database.
 *
 * BURST_WINDOW_MS=0 here (the default 2000 deliberately waits for a burst of messages to end,
 * which is not overhead), and WORKER_CONCURRENCY is 64 (the default) so 50 senders are answered
 * at once; `defaultConcurrencyContrast` adds a row at 8, the old default, to show the queueing
 * a low setting causes. Each sender has one message in flight, so the per-sender order never
 * delays a measurement.
 */
import { queueSetup, type QueueMode } from '../lib/redis.js';
import { startServerHost, type ServerHost } from '../lib/server-host.js';
import { round, summarize, type Summary } from '../lib/stats.js';
import { SLOW_MARKER, type Upstreams } from '../lib/upstreams.js';
import { WEBHOOK_PATH, post, senderAddress, signedDelivery } from '../lib/webhook.js';

/** Questions the sample clinic's documents answer (the fake Claude quotes the top result). */
const QUESTIONS = [
  'Can I drink water before my surgery?',
  'When should I stop eating before the operation?',
  'Where do I park on the day of surgery?',
  'When can I shower after surgery?',
  'Can I take my usual medicines before surgery?',
  'How do I pay my bill?',
  '¿Puedo tomar café antes de la cirugía?',
  'Can my family visit me after the operation?',
];

export interface PipelineOptions {
  modes: QueueMode[];
  redisUrl: string;
  isolate: boolean;
  /** Sequential messages from one sender. */
  singleSenderMessages: number;
  concurrentSenders: number;
  concurrentRounds: number;
  /** Normal senders beside the one whose Claude replies are slow. */
  slowDemoSenders: number;
  workerConcurrency: number;
  /** Also run the concurrent rows with the default WORKER_CONCURRENCY (in-process only). */
  defaultConcurrencyContrast: boolean;
  timeoutMs: number;
}

export interface TurnSample {
  e2eMs: number;
  overheadMs: number;
  parts: number;
  /** A cited answer (not a fallback or an escalation): the fake Claude always cites. */
  answered: boolean;
}

export interface OverheadFigures {
  turns: number;
  /** Turns that did not end in a cited answer (a failure somewhere): should be 0. */
  notAnswered: number;
  endToEnd: Summary;
  overhead: Summary;
}

export interface PipelineModeResult {
  mode: QueueMode;
  workerConcurrency: number;
  upstreamMsPerTurn: number;
  singleSender: OverheadFigures;
  concurrent: OverheadFigures & { senders: number };
  slowSender: {
    /** The slow sender's Claude reply took this much longer than the others'. */
    slowExtraMs: number;
    slow: { e2eMs: number; overheadMs: number };
    others: OverheadFigures;
    /** others' overhead p95 ÷ the concurrent row's: about 1 when the slow sender delays nobody. */
    othersVsConcurrentP95: number;
  };
  /** Upstream calls per answered turn (1 each, or the subtraction would be wrong). */
  callsPerTurn: { embeddings: number; claude: number; twilioParts: number };
  server: { peakRssMb: number; startMs: number; isolated: boolean };
}

export interface PipelineContrast {
  mode: QueueMode;
  workerConcurrency: number;
  concurrent: OverheadFigures & { senders: number };
}

export interface PipelineResult {
  burstWindowMs: 0;
  modes: PipelineModeResult[];
  defaultConcurrency?: PipelineContrast;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let runTag = 0;

function figures(samples: TurnSample[]): OverheadFigures {
  return {
    turns: samples.length,
    notAnswered: samples.filter((s) => !s.answered).length,
    endToEnd: summarize(samples.map((s) => s.e2eMs)),
    overhead: summarize(samples.map((s) => s.overheadMs)),
  };
}

/** Sends one message per sender at once and waits until every one is answered. */
async function round_(host: ServerHost, upstreams: Upstreams, senders: Array<{ from: string; text: string; extraMs: number }>, timeoutMs: number): Promise<TurnSample[]> {
  const url = `${host.origin}${WEBHOOK_PATH}`;
  const { latencies, twilio } = upstreams;
  const starts = new Map<string, number>();
  await Promise.all(
    senders.map(async (s) => {
      const delivery = signedDelivery(url, twilio.authToken, s.from, s.text);
      starts.set(s.from, Date.now());
      const status = await post(url, delivery);
      if (status !== 200) throw new Error(`webhook answered ${status}`);
    }),
  );
  const deadline = Date.now() + timeoutMs;
  const answered = () => {
    const got = new Set<string>();
    for (const m of twilio.sent) if (starts.has(m.to) && m.at >= starts.get(m.to)!) got.add(m.to);
    return got.size;
  };
  while (answered() < senders.length) {
    if (Date.now() > deadline) throw new Error(`only ${answered()} of ${senders.length} senders were answered within ${timeoutMs} ms`);
    await sleep(5);
  }
  // Every part recorded: nothing left in the inbox.
  while ((await host.pending()) > 0) {
    if (Date.now() > deadline) throw new Error(`${await host.pending()} message(s) still unanswered in the inbox ${timeoutMs} ms after the replies arrived (a failed turn being retried?)`);
    await sleep(20);
  }
  return senders.map((s) => {
    const started = starts.get(s.from)!;
    const parts = twilio.sent.filter((m) => m.to === s.from && m.at >= started);
    const last = Math.max(...parts.map((m) => m.at));
    const e2eMs = last - started;
    const upstream = latencies.embedMs + latencies.claudeMs + s.extraMs + parts.length * latencies.twilioMs;
    const answered = parts.some((m) => /\n(Source|Fuente): /.test(m.body ?? ''));
    return { e2eMs, overheadMs: round(e2eMs - upstream, 1), parts: parts.length, answered };
  });
}

async function concurrentRows(host: ServerHost, upstreams: Upstreams, options: PipelineOptions, tag: number): Promise<TurnSample[]> {
  const samples: TurnSample[] = [];
  for (let r = 0; r < options.concurrentRounds; r += 1) {
    const senders = Array.from({ length: options.concurrentSenders }, (_, i) => ({
      from: senderAddress(tag, 100_000 + r * 1000 + i),
      text: QUESTIONS[(r + i) % QUESTIONS.length]!,
      extraMs: 0,
    }));
    samples.push(...(await round_(host, upstreams, senders, options.timeoutMs)));
  }
  return samples;
}

function serverEnv(upstreams: Upstreams, workerConcurrency: number): Record<string, string> {
  return {
    ...upstreams.env(1536),
    BURST_WINDOW_MS: '0',
    WORKER_CONCURRENCY: String(workerConcurrency),
    RATE_LIMIT_MAX: '10000',
  };
}

async function runMode(mode: QueueMode, options: PipelineOptions, upstreams: Upstreams): Promise<PipelineModeResult> {
  const queue = queueSetup(mode, options.redisUrl);
  const host = await startServerHost({ isolate: options.isolate, queuePrefix: queue.queuePrefix, env: { ...serverEnv(upstreams, options.workerConcurrency), ...queue.env } });
  const tag = (runTag += 1) + 100 * (process.pid % 90);
  try {
    // Warm-up: one turn end to end (SDK clients, prepared paths, JIT).
    await round_(host, upstreams, [{ from: senderAddress(tag, 999_999), text: QUESTIONS[0]!, extraMs: 0 }], options.timeoutMs);
    const calls = { embeddings: upstreams.openai.stats.embeddingRequests, claude: upstreams.anthropic.requests.length, parts: upstreams.twilio.sent.length };
    await host.phase('pipeline');

    const single: TurnSample[] = [];
    const one = senderAddress(tag, 1);
    for (let i = 0; i < options.singleSenderMessages; i += 1) {
      single.push(...(await round_(host, upstreams, [{ from: one, text: QUESTIONS[i % QUESTIONS.length]!, extraMs: 0 }], options.timeoutMs)));
    }
    const concurrent = await concurrentRows(host, upstreams, options, tag);

    const slowFrom = senderAddress(tag, 500_000);
    const slowSenders = [
      { from: slowFrom, text: `${QUESTIONS[0]!} (${SLOW_MARKER})`, extraMs: upstreams.slowExtraMs },
      ...Array.from({ length: options.slowDemoSenders }, (_, i) => ({ from: senderAddress(tag, 500_001 + i), text: QUESTIONS[(i + 3) % QUESTIONS.length]!, extraMs: 0 })),
    ];
    const slowRound = await round_(host, upstreams, slowSenders, options.timeoutMs + upstreams.slowExtraMs);
    const turns = single.length + concurrent.length + slowRound.length;
    const report = await host.report();
    const concurrentFigures = figures(concurrent);
    const others = figures(slowRound.slice(1));
    return {
      mode,
      workerConcurrency: options.workerConcurrency,
      upstreamMsPerTurn: upstreams.latencies.embedMs + upstreams.latencies.claudeMs + upstreams.latencies.twilioMs,
      singleSender: figures(single),
      concurrent: { ...concurrentFigures, senders: options.concurrentSenders },
      slowSender: {
        slowExtraMs: upstreams.slowExtraMs,
        slow: { e2eMs: slowRound[0]!.e2eMs, overheadMs: slowRound[0]!.overheadMs },
        others,
        othersVsConcurrentP95: round(others.overhead.p95 / concurrentFigures.overhead.p95, 2),
      },
      callsPerTurn: {
        embeddings: round((upstreams.openai.stats.embeddingRequests - calls.embeddings) / turns, 2),
        claude: round((upstreams.anthropic.requests.length - calls.claude) / turns, 2),
        twilioParts: round((upstreams.twilio.sent.length - calls.parts) / turns, 2),
      },
      server: { peakRssMb: report.peakRssMb, startMs: report.startMs, isolated: host.isolated },
    };
  } finally {
    await host.stop(true);
    await queue.cleanup();
  }
}

async function runContrast(options: PipelineOptions, upstreams: Upstreams): Promise<PipelineContrast> {
  const workerConcurrency = 8; // the default before 64
  const host = await startServerHost({ isolate: options.isolate, env: serverEnv(upstreams, workerConcurrency) });
  const tag = (runTag += 1) + 100 * (process.pid % 90);
  try {
    await round_(host, upstreams, [{ from: senderAddress(tag, 999_999), text: QUESTIONS[0]!, extraMs: 0 }], options.timeoutMs);
    const samples = await concurrentRows(host, upstreams, options, tag);
    return { mode: 'in-process', workerConcurrency, concurrent: { ...figures(samples), senders: options.concurrentSenders } };
  } finally {
    await host.stop(true);
  }
}

export async function runPipeline(options: PipelineOptions, upstreams: Upstreams): Promise<PipelineResult> {
  const modes: PipelineModeResult[] = [];
  for (const mode of options.modes) modes.push(await runMode(mode, options, upstreams));
  const defaultConcurrency = options.defaultConcurrencyContrast ? await runContrast(options, upstreams) : undefined;
  return { burstWindowMs: 0, modes, ...(defaultConcurrency ? { defaultConcurrency } : {}) };
}

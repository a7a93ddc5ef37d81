/**
 * Scenario 1 — acknowledgement. A signed Twilio webhook → 200 (signature check, payload
 * validation, rate limit, inbox insert, enqueue), load-generated with autocannon, beside the
 * floor: a bare express route on the same app in the same server process (see
 * `mountBareRoute`), which answers the same empty TwiML and does nothing else.
 *
 * Every request is a new message (fresh MessageSid, fresh sender) with a valid signature,
 * made by autocannon's `setupRequest`. The server runs with BURST_WINDOW_MS=60000 so the
 * worker waits instead of answering while we measure: the acknowledgement path is measured,
 * not the worker competing with it (the pipeline scenario measures the worker). The backlog
 * is abandoned when the server process is ended.
 */
import autocannon from 'autocannon';
import { queueSetup, type QueueMode } from '../lib/redis.js';
import { startServerHost } from '../lib/server-host.js';
import { ratio, round, summarize, type Summary } from '../lib/stats.js';
import type { Upstreams } from '../lib/upstreams.js';
import { BARE_PATH, WEBHOOK_PATH, senderAddress, signedDelivery } from '../lib/webhook.js';

export interface AckOptions {
  modes: QueueMode[];
  redisUrl: string;
  isolate: boolean;
  /** Seconds per saturated run, and connections for it. */
  durationSec: number;
  connections: number;
  warmupSec: number;
  /** Requests per second for the latency comparison below saturation. */
  fixedRate: number;
  /** Seconds per fixed-rate run. */
  fixedDurationSec: number;
  /** The worker's burst window during the runs (see above; 0 in-process, where the backlog must drain). */
  burstWindowMs: number;
  /** A fixed number of requests per run instead of a duration (the smoke test). */
  amount?: number;
}

export interface LoadRun {
  requests: number;
  requestsPerSecond: number;
  latency: Summary;
  non2xx: number;
  errors: number;
}

export interface AckModeResult {
  mode: QueueMode;
  saturated: { connections: number; webhook: LoadRun; bare: LoadRun };
  fixedRate: { rate: number; webhook: LoadRun; bare: LoadRun };
  ratios: {
    /** webhook ÷ bare route at a fixed rate below saturation (target: p99 < 3). */
    p50: number;
    p99: number;
    /** bare route's sustained req/s ÷ the webhook's. */
    throughput: number;
  };
  server: { peakRssMb: number; startMs: number; isolated: boolean };
}

let run = 0;

async function load(origin: string, path: string, authToken: string, options: { connections: number; durationSec?: number; amount?: number; rate?: number }): Promise<LoadRun> {
  run += 1;
  const thisRun = run;
  let index = 0;
  const url = `${origin}${WEBHOOK_PATH}`;
  const samples: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: origin,
        connections: options.connections,
        ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSec ?? 1 }),
        ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
        requests: [
          {
            method: 'POST',
            path,
            setupRequest: (request) => {
              // The same signed delivery for both routes: the floor receives identical bytes.
              const delivery = signedDelivery(url, authToken, senderAddress(thisRun, (index += 1)), 'Can I drink water before my surgery?');
              return { ...request, body: delivery.body, headers: { ...request.headers, ...delivery.headers } };
            },
          },
        ],
      },
      (error: unknown, res: autocannon.Result) => (error ? reject(error) : resolve(res)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode === 200) samples.push(responseTime);
    });
  });
  return {
    requests: result.requests.total,
    requestsPerSecond: round(result.requests.total / result.duration, 0),
    latency: summarize(samples),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

export async function runAck(options: AckOptions, upstreams: Upstreams): Promise<AckModeResult[]> {
  const results: AckModeResult[] = [];
  for (const mode of options.modes) {
    const queue = queueSetup(mode, options.redisUrl);
    const host = await startServerHost({
      isolate: options.isolate,
      queuePrefix: queue.queuePrefix,
      env: {
        ...upstreams.env(1536),
        ...queue.env,
        BURST_WINDOW_MS: String(options.burstWindowMs),
        // Every request is a new sender; the per-sender limit still runs on each.
        RATE_LIMIT_MAX: '10000',
      },
    });
    try {
      const authToken = upstreams.twilio.authToken;
      const check = await load(host.origin, WEBHOOK_PATH, authToken, { connections: 1, amount: 5 });
      if (check.non2xx > 0 || check.requests === 0) throw new Error(`the signed webhook did not answer 200 (${check.non2xx} non-2xx of ${check.requests})`);
      if (options.warmupSec > 0) {
        await load(host.origin, BARE_PATH, authToken, { connections: options.connections, durationSec: options.warmupSec });
        await load(host.origin, WEBHOOK_PATH, authToken, { connections: options.connections, durationSec: options.warmupSec });
      }
      await host.phase('ack');
      const span = (durationSec: number) => (options.amount !== undefined ? { amount: options.amount } : { durationSec });
      const saturated = {
        connections: options.connections,
        bare: await load(host.origin, BARE_PATH, authToken, { connections: options.connections, ...span(options.durationSec) }),
        webhook: await load(host.origin, WEBHOOK_PATH, authToken, { connections: options.connections, ...span(options.durationSec) }),
      };
      // Below saturation for both routes, so latency is the cost of a request, not queueing.
      const rate = options.amount !== undefined ? options.fixedRate : Math.max(1, Math.min(options.fixedRate, Math.floor(saturated.webhook.requestsPerSecond / 2)));
      const fixed = { connections: Math.min(options.connections, 10), ...span(options.fixedDurationSec), rate };
      const fixedRate = {
        rate,
        bare: await load(host.origin, BARE_PATH, authToken, fixed),
        webhook: await load(host.origin, WEBHOOK_PATH, authToken, fixed),
      };
      const report = await host.report();
      results.push({
        mode,
        saturated,
        fixedRate,
        ratios: {
          p50: ratio(fixedRate.webhook.latency.p50, fixedRate.bare.latency.p50),
          p99: ratio(fixedRate.webhook.latency.p99, fixedRate.bare.latency.p99),
          throughput: ratio(saturated.bare.requestsPerSecond, saturated.webhook.requestsPerSecond),
        },
        server: { peakRssMb: report.peakRssMb, startMs: report.startMs, isolated: host.isolated },
      });
    } finally {
      // The worker's backlog (one unanswered message per request) is abandoned: kill, not drain.
      await host.stop(false).catch(() => undefined);
      await queue.cleanup();
    }
  }
  return results;
}

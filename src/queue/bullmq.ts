/**
 * The shared queue when REDIS_URL is set: BullMQ with retries, exponential backoff and
 * stalled-job recovery; workers can run in separate processes (`npm run worker`).
 * Per-sender order: a Redis lock per sender; a job that finds it held is delayed, and the
 * holder's drain answers its message anyway (the inbox is the source of truth).
 */
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { RedisClient } from '../redis/index.js';
import type { InboundJob, InboundQueue, SenderProcessor } from './types.js';

export const QUEUE_NAME = 'groundline-inbound';

function connection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

export function createBullQueue(options: { redisUrl: string; prefix?: string }): InboundQueue & { queue: Queue } {
  const queue = new Queue(QUEUE_NAME, { connection: connection(options.redisUrl), prefix: options.prefix });
  return {
    kind: 'bullmq',
    queue,
    async enqueue(job: InboundJob) {
      try {
        await queue.add('inbound', job, {
          jobId: job.messageSid,
          attempts: 6,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: { age: 24 * 3600, count: 10_000 },
          removeOnFail: { age: 7 * 24 * 3600 },
        });
      } catch (cause) {
        throw new AppError(ErrorIds.queueUnavailable, `could not enqueue message: ${(cause as Error).message}`, { cause, retryable: true, status: 503 });
      }
    },
    async ping() {
      try {
        await queue.getJobCounts('waiting');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await queue.close();
    },
  };
}

export function startBullWorker(options: {
  redisUrl: string;
  prefix?: string;
  redis: RedisClient;
  process: SenderProcessor;
  concurrency: number;
  logger: Logger;
  lockMs?: number;
}): { worker: Worker; close: () => Promise<void> } {
  const lockMs = options.lockMs ?? 120_000;
  const worker = new Worker<InboundJob>(
    QUEUE_NAME,
    async (job: Job<InboundJob>, token?: string) => {
      const lockKey = `groundline:sender-lock:${job.data.senderHash}`;
      const owner = randomUUID();
      const locked = await options.redis.set(lockKey, owner, { condition: 'NX', expiration: { type: 'PX', value: lockMs } });
      if (locked !== 'OK') {
        await job.moveToDelayed(Date.now() + 250 + Math.floor(Math.random() * 250), token);
        throw new DelayedError();
      }
      try {
        await options.process(job.data.senderHash);
      } finally {
        // Release only our own lock (it may have expired and been taken by another worker).
        await options.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", { keys: [lockKey], arguments: [owner] });
      }
    },
    { connection: connection(options.redisUrl), prefix: options.prefix, concurrency: options.concurrency, lockDuration: 60_000, stalledInterval: 30_000, maxStalledCount: 2 },
  );
  worker.on('failed', (job, error) => options.logger.error({ job: job?.id, attempts: job?.attemptsMade, error: describeError(error) }, 'inbound job failed'));
  worker.on('error', (error) => options.logger.error({ error: describeError(error) }, 'queue worker error'));
  return { worker, close: () => worker.close() };
}

/**
 * The shared queue when REDIS_URL is set: BullMQ with retries, exponential backoff and
 * stalled-job recovery; workers can run in separate processes (`npm run worker`).
 * Per-sender order: a Redis lock per sender; a job that finds it held is delayed, and the
 * holder's drain answers its message anyway (the inbox is the source of truth).
 */
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { createClient } from 'redis';
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { RedisClient } from '../redis/index.js';
import type { InboundJob, InboundQueue, SenderProcessor } from './types.js';

export const QUEUE_NAME = 'groundline-inbound';

/**
 * BullMQ no longer bundles ioredis: it takes a node-redis client instance (connection
 * options alone fail with "could not load the optional 'ioredis' package").
 * `failFast` (the producer): commands fail at once while Redis is unreachable, so the
 * webhook answers 503 and Twilio retries, instead of hanging.
 */
function nodeRedisClient(url: string, options: { failFast: boolean }) {
  return createClient({
    url,
    socket: { connectTimeout: 5000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
    disableOfflineQueue: options.failFast,
  });
}

export function createBullQueue(options: { redisUrl: string; prefix?: string; logger?: Logger }): InboundQueue & { queue: Queue } {
  const client = nodeRedisClient(options.redisUrl, { failFast: true });
  client.on('error', (error: Error) => options.logger?.warn({ err: error.message }, 'queue redis connection error'));
  const queue = new Queue(QUEUE_NAME, { connection: client, prefix: options.prefix });
  queue.on('error', (error) => options.logger?.warn({ error: describeError(error) }, 'queue error'));
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
      // The client is ours (BullMQ leaves a caller's client open).
      if (client.isOpen) await client.quit().catch(() => client.destroy());
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
  // The sender lock is short and renewed while the drain runs: a crashed worker (or a lock
  // whose release failed while Redis was down) holds a sender up for at most `lockMs`.
  const lockMs = options.lockMs ?? 30_000;
  const client = nodeRedisClient(options.redisUrl, { failFast: false });
  client.on('error', (error: Error) => options.logger.warn({ err: error.message }, 'worker redis connection error'));
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
      const renew = setInterval(() => {
        options.redis
          .eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end", { keys: [lockKey], arguments: [owner, String(lockMs)] })
          .catch((error: unknown) => options.logger.warn({ error: describeError(error) }, 'sender lock could not be renewed'));
      }, lockMs / 3);
      try {
        await options.process(job.data.senderHash);
      } finally {
        clearInterval(renew);
        // Release only our own lock (it may have expired and been taken by another worker).
        await options.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", { keys: [lockKey], arguments: [owner] });
      }
    },
    // BullMQ uses this client for the worker's commands (and duplicates it for its blocking
    // connection, which it closes itself); the client is ours to close.
    { connection: client, prefix: options.prefix, concurrency: options.concurrency, lockDuration: 60_000, stalledInterval: 30_000, maxStalledCount: 2 },
  );
  worker.on('failed', (job, error) => options.logger.error({ job: job?.id, attempts: job?.attemptsMade, error: describeError(error) }, 'inbound job failed'));
  worker.on('error', (error) => options.logger.error({ error: describeError(error) }, 'queue worker error'));
  return {
    worker,
    async close() {
      await worker.close();
      if (client.isOpen) await client.quit().catch(() => client.destroy());
    },
  };
}

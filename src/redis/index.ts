/**
 * The Redis wrapper: node-redis clients for history, rate limits and BullMQ. Errors surface as our typed errors to callers.
 */
import { createClient } from 'redis';
import { AppError, ErrorIds } from '../errors/index.js';
import type { Logger } from '../logging/index.js';

function create(url: string) {
  return createClient({
    url,
    socket: {
      connectTimeout: 5000,
      // Keep trying in the background; callers fail fast meanwhile (history is optional).
      reconnectStrategy: (retries: number) => Math.min(1000 * 2 ** retries, 10_000),
    },
    disableOfflineQueue: true,
  });
}

export type RedisClient = ReturnType<typeof create>;

export async function connectRedis(url: string, logger: Logger): Promise<RedisClient> {
  const client = create(url);
  client.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error'));
  // Fail start-up with a clear message instead of retrying forever in the background.
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
      }),
    ]);
  } catch (cause) {
    client.destroy();
    throw new AppError(ErrorIds.redisUnavailable, `Cannot connect to Redis at REDIS_URL (${url.replace(/\/\/[^@/]*@/, '//***@')}): ${(cause as Error).message}. Start Redis, or unset REDIS_URL to keep history, rate limits and the queue in-process.`, {
      cause,
      status: 503,
    });
  } finally {
    clearTimeout(timer);
  }
  return client;
}

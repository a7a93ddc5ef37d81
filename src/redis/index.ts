/**
 * The Redis wrapper: one node-redis client for history and rate limits (BullMQ brings its own
 * ioredis connection, from the same URL). Errors surface as our typed errors to callers.
 */
import { createClient } from 'redis';
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
  await client.connect();
  return client;
}

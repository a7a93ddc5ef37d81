/**
 * Redis for the BullMQ rows. The bench keeps to its own logical database (default
 * redis://127.0.0.1:6379/11) so its queue, locks, rate limits and history never meet another
 * user's, each run queues under its own prefix, and it removes only its own keys there —
 * never FLUSHALL or FLUSHDB.
 */
import { createClient } from 'redis';

export const DEFAULT_BENCH_REDIS_URL = 'redis://127.0.0.1:6379/11';

export async function redisAvailable(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.isOpen) await client.quit().catch(() => undefined);
  }
}

/**
 * Deletes the keys the assistant writes in this database only: the run's queue (under its own
 * prefix) and the assistant's `groundline:` keys (sender locks, rate limits, history).
 */
export async function removeOurKeys(url: string, queuePrefix: string): Promise<number> {
  const OUR_KEYS = [`${queuePrefix}:*`, 'groundline:*'];
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  let removed = 0;
  try {
    for (const pattern of OUR_KEYS) {
      const batch: string[] = [];
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        batch.push(...(Array.isArray(keys) ? keys : [keys]));
        if (batch.length >= 1000) removed += await client.del(batch.splice(0));
      }
      if (batch.length > 0) removed += await client.del(batch);
    }
  } finally {
    await client.quit();
  }
  return removed;
}

export type QueueMode = 'in-process' | 'bullmq';

export interface QueueSetup {
  mode: QueueMode;
  env: Record<string, string>;
  queuePrefix?: string;
  /** Removes what the run left in Redis. */
  cleanup(): Promise<void>;
}

let runs = 0;

export function queueSetup(mode: QueueMode, redisUrl: string): QueueSetup {
  if (mode === 'in-process') return { mode, env: {}, cleanup: async () => undefined };
  const queuePrefix = `groundline-bench-${process.pid}-${(runs += 1)}`;
  return {
    mode,
    env: { REDIS_URL: redisUrl },
    queuePrefix,
    cleanup: async () => {
      await removeOurKeys(redisUrl, queuePrefix);
    },
  };
}

/**
 * Per-sender conversation history: the last N turns, expiring after a TTL that is refreshed
 * on activity. Redis when configured, in-process otherwise, with the same caps.
 */
import { AppError, ErrorIds } from '../errors/index.js';
import type { Turn } from '../rag/index.js';
import type { RedisClient } from '../redis/index.js';

export interface HistoryStore {
  get(senderHash: string): Promise<Turn[]>;
  append(senderHash: string, turns: Turn[]): Promise<void>;
  clear(senderHash: string): Promise<void>;
}

export interface HistoryLimits {
  /** A turn is one user message and its reply: we keep 2 × turns entries. */
  turns: number;
  ttlSeconds: number;
}

export function createMemoryHistory(limits: HistoryLimits, now: () => number = Date.now): HistoryStore {
  const entries = new Map<string, { turns: Turn[]; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) entries.delete(key);
    return entries.get(key);
  };
  return {
    async get(senderHash) {
      return [...(live(senderHash)?.turns ?? [])];
    },
    async append(senderHash, turns) {
      const kept = [...(live(senderHash)?.turns ?? []), ...turns].slice(-limits.turns * 2);
      entries.set(senderHash, { turns: kept, expiresAt: now() + limits.ttlSeconds * 1000 });
    },
    async clear(senderHash) {
      entries.delete(senderHash);
    },
  };
}

export function createRedisHistory(redis: RedisClient, limits: HistoryLimits): HistoryStore {
  const key = (senderHash: string) => `groundline:history:${senderHash}`;
  const wrap = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    // Fail fast while Redis is unreachable: a MULTI would otherwise wait for the next
    // reconnect attempt (seconds) and hold the user's reply back.
    if (!redis.isReady) throw new AppError(ErrorIds.historyUnavailable, `conversation history ${operation} failed: Redis is not connected`, { retryable: true });
    try {
      return await fn();
    } catch (cause) {
      throw new AppError(ErrorIds.historyUnavailable, `conversation history ${operation} failed: ${(cause as Error).message}`, { cause, retryable: true });
    }
  };
  return {
    get: (senderHash) =>
      wrap('read', async () => {
        const raw = await redis.lRange(key(senderHash), 0, -1);
        return raw.map((item) => JSON.parse(item) as Turn);
      }),
    append: (senderHash, turns) =>
      wrap('write', async () => {
        if (turns.length === 0) return;
        await redis
          .multi()
          .rPush(key(senderHash), turns.map((t) => JSON.stringify(t)))
          .lTrim(key(senderHash), -limits.turns * 2, -1)
          .expire(key(senderHash), limits.ttlSeconds)
          .exec();
      }),
    clear: (senderHash) =>
      wrap('clear', async () => {
        await redis.del(key(senderHash));
      }),
  };
}

/**
 * The embedded queue: one drain at a time per sender (arrival order), up to `concurrency`
 * senders in parallel, retries with backoff. Durability comes from the Postgres inbox:
 * unanswered messages are re-enqueued at start-up (`resumePending`).
 */
import { describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { InboundJob, InboundQueue, SenderProcessor } from './types.js';

export function createInProcessQueue(options: {
  process: SenderProcessor;
  concurrency: number;
  logger: Logger;
  maxAttempts?: number;
  retryBaseMs?: number;
}): InboundQueue {
  const maxAttempts = options.maxAttempts ?? 4;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  const senders = new Map<string, { dirty: boolean }>();
  const waiting: Array<() => void> = [];
  const inFlight = new Set<Promise<void>>();
  let active = 0;
  let closed = false;

  const acquire = async () => {
    if (active < options.concurrency) {
      active += 1;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active -= 1;
  };

  async function drain(senderHash: string): Promise<void> {
    const state = senders.get(senderHash)!;
    await acquire();
    try {
      do {
        state.dirty = false;
        for (let attempt = 1; ; attempt += 1) {
          try {
            await options.process(senderHash);
            break;
          } catch (error) {
            options.logger.error({ senderId: senderHash, attempt, error: describeError(error) }, 'inbox processing failed');
            if (attempt >= maxAttempts || closed) break; // left in the inbox: resumed on the next message or restart
            await new Promise((resolve) => setTimeout(resolve, retryBaseMs * 2 ** (attempt - 1)));
          }
        }
      } while (state.dirty && !closed);
    } finally {
      senders.delete(senderHash);
      release();
    }
  }

  return {
    kind: 'in-process',
    async enqueue(job: InboundJob) {
      if (closed) return;
      const running = senders.get(job.senderHash);
      if (running) {
        running.dirty = true; // the running drain picks the new message up
        return;
      }
      senders.set(job.senderHash, { dirty: false });
      const task = drain(job.senderHash);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    },
    async ping() {
      return !closed;
    },
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
    },
  };
}

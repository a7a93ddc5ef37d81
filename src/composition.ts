/**
 * The composition root: the one place that turns validated config into real or embedded
 * parts. Everything else receives its dependencies as parameters.
 */
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { createTwilioClient, type MessagingClient } from './channels/twilio/client.js';
import { processSenderInbox, type InboxWorkerDeps } from './channels/twilio/process-inbox.js';
import type { Config } from './config/index.js';
import { createMemoryHistory, createRedisHistory, inbox, type ConversationDeps, type EscalationSink } from './conversation/index.js';
import { AppError, ErrorIds, describeError } from './errors/index.js';
import { createEscalationService, type EscalationOptions, type EscalationService } from './escalation/index.js';
import { createApp } from './http/app.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { createBullQueue, createInProcessQueue, startBullWorker, type InboundQueue } from './queue/index.js';
import { connectRedis, type RedisClient } from './redis/index.js';
import { createLogger, type Logger } from './logging/index.js';
import { currentVersion, ingestKnowledge } from './knowledge/index.js';
import { openDatabase, type Database } from './store/index.js';
import type { EmbeddedRole } from './store/embedded.js';
import { createClaudeAnswerer, createOfflineAnswerer, prepareRetrieval, type Answerer } from './rag/index.js';
import { createOpenAIEmbedder, createOpenAITranscriber, type Embedder, type Transcriber } from './vendors/openai.js';

export function createEmbedder(config: Config): Embedder | undefined {
  return config.openai ? createOpenAIEmbedder(config.openai) : undefined;
}

export function createTranscriber(config: Config): Transcriber | undefined {
  return config.openai ? createOpenAITranscriber(config.openai) : undefined;
}

export interface CoreParts {
  config: Config;
  logger: Logger;
  db: Database;
  embedder: Embedder | undefined;
}

export async function openCore(
  config: Config,
  options: { role: EmbeddedRole; command: string; logger?: Logger; ensureKnowledge?: boolean },
): Promise<CoreParts> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const db = await openDatabase(config, options);
  const embedder = createEmbedder(config);
  if (options.ensureKnowledge) {
    try {
      await ensureKnowledge({ config, db, embedder, logger });
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return { config, logger, db, embedder };
}

/**
 * A fresh clone answers straight away: when the configured knowledge base has never been
 * ingested, ingest KNOWLEDGE_DIR once. Later changes are the editor's `npm run ingest`.
 */
export async function ensureKnowledge(parts: { config: Config; db: Database; embedder: Embedder | undefined; logger: Logger }): Promise<void> {
  const { config, db } = parts;
  if ((await currentVersion(db, config.knowledge.defaultBase)) !== null) return;
  const summary = await ingestKnowledge(
    { db, embedder: parts.embedder, logger: parts.logger },
    {
      dir: config.knowledge.dir,
      kb: config.knowledge.defaultBase,
      chunking: { chunkSize: config.knowledge.chunkSize, chunkOverlap: config.knowledge.chunkOverlap },
      maxDocumentBytes: config.knowledge.maxDocumentBytes,
    },
  );
  parts.logger.info({ kb: summary.kb, version: summary.version, files: summary.files, chunks: summary.chunks }, 'knowledge base was empty: ingested KNOWLEDGE_DIR');
}

export function createAnswerer(config: Config): Answerer {
  if (!config.anthropic) return createOfflineAnswerer({ minCoverage: config.retrieval.offlineMinCoverage });
  const org = config.organisation;
  return createClaudeAnswerer(config.anthropic, {
    orgName: org.name,
    persona: org.persona,
    humanLine: org.humanLine,
    humanHours: org.humanHours,
    emergencyNumber: org.emergencyNumber,
  });
}

// ---------------------------------------------------------------------------------------
// The running assistant: webhook server and/or queue worker.
// ---------------------------------------------------------------------------------------

export interface Assistant {
  app: Express;
  server: Server | undefined;
  db: Database;
  queue: InboundQueue;
  metrics: Metrics;
  logger: Logger;
  conversation: ConversationDeps;
  /** Staff notification, reminders and human handoff (`tick()` runs what is due now). */
  escalation: EscalationService;
  /** The port the server listens on (0 in config picks a free one). */
  port: number | undefined;
  /** Stop accepting, finish in-flight jobs, close connections. */
  close(): Promise<void>;
}

export interface AssistantOptions {
  logger?: Logger;
  /** 'server' = webhook + in-process worker (or BullMQ worker); 'worker' = BullMQ worker only. */
  role?: 'server' | 'worker';
  listen?: boolean;
  /** Replaces the escalation sink (staff notification stays wired for staff messages and handoffs). */
  escalate?: EscalationSink;
  /** Escalation timing (tests: `{ pollIntervalMs: 0 }` and `assistant.escalation.tick()`). */
  escalation?: EscalationOptions;
  twilioRetryBaseMs?: number;
  queueRetryBaseMs?: number;
  /** Ingest KNOWLEDGE_DIR when the knowledge base is empty (default true). */
  ensureKnowledge?: boolean;
  /** BullMQ key prefix (default BullMQ's 'bull'); tests use their own to share a Redis. */
  queuePrefix?: string;
}

function rateLimitStoreFor(redis: RedisClient, logger: Logger, windowSeconds: number): Store {
  const store = new RedisStore({ prefix: 'groundline:rl:', sendCommand: (...args: string[]) => redis.sendCommand(args) as Promise<RedisReply> });
  // Fail open: express-rate-limit passes the request on store errors; we make sure it is logged.
  const increment = store.increment.bind(store);
  store.increment = async (key: string) => {
    try {
      return await increment(key);
    } catch (error) {
      logger.error({ error: describeError(error) }, 'rate-limit store failed; letting the message through');
      throw error;
    }
  };
  void windowSeconds;
  return store;
}

/** Replies go nowhere without Twilio (local development with unsigned webhooks): say so. */
function unconfiguredMessaging(logger: Logger): MessagingClient {
  return {
    async send(_to, content) {
      logger.warn({ kind: 'body' in content ? 'text' : 'template' }, 'Twilio is not configured: reply not sent (use npm run chat locally)');
      return { sid: `local-${Date.now()}` };
    },
    async downloadMedia() {
      throw new AppError(ErrorIds.mediaRejected, 'Twilio is not configured: media cannot be downloaded');
    },
  };
}

export async function startAssistant(config: Config, options: AssistantOptions = {}): Promise<Assistant> {
  const role = options.role ?? 'server';
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics({ defaultMetrics: options.listen !== false });
  const db = await openDatabase(config, { role: 'server', command: role === 'server' ? 'npm start' : 'npm run worker' });
  if (options.ensureKnowledge ?? true) await ensureKnowledge({ config, db, embedder: createEmbedder(config), logger });
  // The first question should not pay for reading the version's full-text index.
  await prepareRetrieval(db, config.knowledge.defaultBase);
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  const limits = { turns: config.conversation.historyTurns, ttlSeconds: config.conversation.historyTtlSeconds };
  const messaging = config.twilio
    ? createTwilioClient({ ...config.twilio, retryBaseMs: options.twilioRetryBaseMs })
    : unconfiguredMessaging(logger);

  const escalation = createEscalationService(
    { db, messaging, logger, organisation: config.organisation, settings: config.escalation },
    options.escalation,
  );

  const conversation: ConversationDeps = {
    db,
    embedder: createEmbedder(config),
    answerer: createAnswerer(config),
    // A custom sink (tests, integrations) counts as someone on duty.
    organisation: { ...config.organisation, staffOnDuty: options.escalate !== undefined || escalation.staffOnDuty },
    history: redis ? createRedisHistory(redis, limits) : createMemoryHistory(limits),
    transcriber: createTranscriber(config),
    downloadMedia: config.twilio ? messaging.downloadMedia : undefined,
    escalate: options.escalate ?? escalation.escalate,
    onForget: escalation.forget,
    logger,
    kb: config.knowledge.defaultBase,
    topK: config.retrieval.topK,
    maxQuestionChars: config.conversation.maxQuestionChars,
    maxMediaBytes: config.conversation.maxMediaBytes,
  };
  const workerDeps: InboxWorkerDeps = {
    conversation,
    messaging,
    logger,
    metrics,
    burstWindowMs: config.conversation.burstWindowMs,
    handleStaffMessage: escalation.handleStaffMessage,
    relayIfHandedOff: escalation.relayIfHandedOff,
  };
  const process = (senderHash: string) => processSenderInbox(workerDeps, senderHash);

  let queue: InboundQueue;
  let stopWorker: (() => Promise<void>) | undefined;
  if (config.redisUrl && redis) {
    queue = createBullQueue({ redisUrl: config.redisUrl, prefix: options.queuePrefix, logger });
    const worker = startBullWorker({ redisUrl: config.redisUrl, prefix: options.queuePrefix, redis, process, concurrency: config.conversation.workerConcurrency, logger });
    stopWorker = worker.close;
  } else {
    queue = createInProcessQueue({ process, concurrency: config.conversation.workerConcurrency, logger, retryBaseMs: options.queueRetryBaseMs });
  }
  escalation.start();
  // Acknowledged but never answered (a crash between the 200 and the reply): answer them now.
  for (const pending of await inbox.sendersWithPending(db)) await queue.enqueue(pending);

  const app = createApp({
    config,
    db,
    queue,
    logger,
    metrics,
    redis,
    rateLimitStore: redis ? rateLimitStoreFor(redis, logger, config.conversation.rateLimitWindowSeconds) : undefined,
  });
  let server: Server | undefined;
  if (role === 'server' && options.listen !== false) {
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.port, () => resolve(s));
      s.once('error', reject);
    });
  }
  const address = server?.address();
  let closing: Promise<void> | undefined;
  return {
    app,
    server,
    db,
    queue,
    metrics,
    logger,
    conversation,
    escalation,
    port: address && typeof address === 'object' ? address.port : undefined,
    close() {
      closing ??= (async () => {
        if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
        await queue.close();
        await stopWorker?.();
        await escalation.close();
        if (redis?.isOpen) await redis.quit();
        await db.close();
      })();
      return closing;
    },
  };
}

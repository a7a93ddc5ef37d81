/** npm start — the assistant: webhook, health, metrics, and the worker (in-process or BullMQ). */
import { startAssistant } from './composition.js';
import { loadConfig } from './config/index.js';
import { createLogger } from './logging/index.js';
import { describeError } from './errors/index.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const assistant = await startAssistant(config, { logger });
  logger.info(
    {
      port: assistant.port,
      database: assistant.db.description,
      queue: assistant.queue.kind,
      answers: config.anthropic ? config.anthropic.model : 'offline answerer (no ANTHROPIC_API_KEY)',
      retrieval: config.openai ? 'hybrid' : 'full-text only (no OPENAI_API_KEY)',
      whatsapp: config.twilio ? config.twilio.whatsappNumber : 'not configured',
    },
    'groundline is running',
  );
  if (config.allowUnsignedWebhooks) logger.warn('ALLOW_UNSIGNED_WEBHOOKS=true: webhook signatures are NOT checked (local development only)');
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight messages');
    assistant.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ error: describeError(error) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const { id, message } = describeError(error);
  process.stderr.write(`groundline could not start: ${id}: ${message}\n`);
  process.exit(1);
});

/** npm run worker — a BullMQ worker process without the webhook (scale out with REDIS_URL). */
import { runCli } from '../src/cli/run.js';
import { startAssistant } from '../src/composition.js';
import { ConfigError } from '../src/errors/index.js';
import { loadConfig } from '../src/config/index.js';

runCli(async () => {
  const config = loadConfig();
  if (!config.redisUrl) throw new ConfigError('npm run worker needs REDIS_URL (the shared queue); without it, npm start runs the worker in-process.');
  if (!config.databaseUrl) throw new ConfigError('npm run worker needs DATABASE_URL: the embedded database belongs to the npm start process.');
  const assistant = await startAssistant(config, { role: 'worker', listen: false });
  assistant.logger.info({ queue: assistant.queue.kind }, 'worker is running');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await assistant.close();
});

/**
 * The composition root: the one place that turns validated config into real or embedded
 * parts. Everything else receives its dependencies as parameters.
 */
import type { Config } from './config/index.js';
import { createLogger, type Logger } from './logging/index.js';
import { openDatabase, type Database } from './store/index.js';
import type { EmbeddedRole } from './store/embedded.js';
import { createClaudeAnswerer, createOfflineAnswerer, type Answerer } from './rag/index.js';
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

export async function openCore(config: Config, options: { role: EmbeddedRole; command: string; logger?: Logger }): Promise<CoreParts> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const db = await openDatabase(config, options);
  return { config, logger, db, embedder: createEmbedder(config) };
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

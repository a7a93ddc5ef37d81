/** npm run ingest [-- --dir DIR] [--kb NAME] [--dry-run] [--json] */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ingestProgressReporter } from '../src/cli/progress.js';
import { formatIngestSummary } from '../src/cli/format.js';
import { runCli } from '../src/cli/run.js';
import { openCore } from '../src/composition.js';
import { loadConfig } from '../src/config/index.js';
import { ingestKnowledge } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';

runCli(async () => {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      kb: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const config = loadConfig();
  const core = await openCore(config, { role: 'cli', command: 'npm run ingest', logger: silentLogger });
  const progress = ingestProgressReporter(process.stderr, !values.json);
  try {
    if (!core.embedder && !values.json) process.stderr.write('OPENAI_API_KEY is not set: storing chunks for full-text retrieval only (no embeddings).\n');
    const summary = await ingestKnowledge(
      { db: core.db, embedder: core.embedder, logger: core.logger, onProgress: progress.onProgress },
      {
        dir: values.dir ? path.resolve(values.dir) : config.knowledge.dir,
        kb: values.kb ?? config.knowledge.defaultBase,
        dryRun: values['dry-run'],
        chunking: { chunkSize: config.knowledge.chunkSize, chunkOverlap: config.knowledge.chunkOverlap },
        maxDocumentBytes: config.knowledge.maxDocumentBytes,
      },
    );
    progress.stop();
    process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatIngestSummary(summary));
  } finally {
    progress.stop();
    await core.db.close();
  }
});

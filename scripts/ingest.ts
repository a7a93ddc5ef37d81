/** npm run ingest [-- --dir DIR] [--kb NAME] [--dry-run] [--json] [--eval FILE.yaml [--k 5] [--fail-under METRIC=VALUE ...]] */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ingestProgressReporter } from '../src/cli/progress.js';
import { formatIngestSummary } from '../src/cli/format.js';
import { runCli } from '../src/cli/run.js';
import { openCore } from '../src/composition.js';
import { loadConfig } from '../src/config/index.js';
import { failUnderFromTokens, formatEvalReport, formatGate, gateCommand, parseKOption, parseThresholds, UsageError } from '../src/eval/index.js';
import { ingestKnowledge } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';

const usage = `usage: npm run ingest -- [--dir DIR] [--kb NAME] [--dry-run] [--json] [--eval FILE.yaml [--k 5] [--fail-under METRIC=VALUE ...]]
  --eval FILE   build the new version, evaluate it with this question set, and switch to it
                only if it meets the --fail-under thresholds (otherwise the previous version keeps serving)
`;

runCli(async () => {
  let parsed;
  try {
    const { values, tokens } = parseArgs({
      allowPositionals: true,
      tokens: true,
      options: {
        dir: { type: 'string' },
        kb: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        eval: { type: 'string' },
        k: { type: 'string', default: '5' },
        'fail-under': { type: 'string', multiple: true },
      },
    });
    const { specs, positionals } = failUnderFromTokens(tokens);
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    if (!values.eval && specs.length > 0) throw new UsageError('--fail-under needs --eval FILE.yaml');
    if (values.eval && values['dry-run']) throw new UsageError('--eval and --dry-run do not go together: the gate evaluates a built version');
    const k = parseKOption(values.k);
    parsed = { values, k, thresholds: parseThresholds(specs, k) };
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage}`);
    return 2;
  }
  const { values } = parsed;
  const config = loadConfig();
  const dir = values.dir ? path.resolve(values.dir) : config.knowledge.dir;
  const kb = values.kb ?? config.knowledge.defaultBase;
  const progress = ingestProgressReporter(process.stderr, !values.json);

  if (values.eval) {
    const result = await gateCommand(config, { set: values.eval, dir, kb, k: parsed.k, thresholds: parsed.thresholds, onIngestProgress: progress.onProgress });
    progress.stop();
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${formatIngestSummary(result.ingest)}\n${formatEvalReport(result.eval)}\n${formatGate(result)}`);
    return result.decision === 'rejected' || result.reasons.length > 0 ? 1 : 0;
  }

  const core = await openCore(config, { role: 'cli', command: 'npm run ingest', logger: silentLogger });
  try {
    if (!core.embedder && !values.json) process.stderr.write('OPENAI_API_KEY is not set: storing chunks for full-text retrieval only (no embeddings).\n');
    const summary = await ingestKnowledge(
      { db: core.db, embedder: core.embedder, logger: core.logger, onProgress: progress.onProgress },
      {
        dir,
        kb,
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

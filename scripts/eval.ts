/** npm run eval -- --set FILE.yaml [--dir DIR] [--kb NAME] [--k 5] [--json] [--fail-under METRIC=VALUE ...] */
import { parseArgs } from 'node:util';
import { ingestProgressReporter } from '../src/cli/progress.js';
import { runCli } from '../src/cli/run.js';
import { loadConfig } from '../src/config/index.js';
import { allowedMetricNames, evalCommand, failUnderFromTokens, formatEvalReport, parseKOption, parseThresholds, UsageError } from '../src/eval/index.js';

const usage = `usage: npm run eval -- --set FILE.yaml [--dir DIR] [--kb NAME] [--k 5] [--json] [--fail-under METRIC=VALUE ...]
  --set FILE        the question set (YAML; format in the README, "Evaluating answers")
  --dir DIR         ingest DIR into its own knowledge base for this run (the live one is untouched)
  --kb NAME         evaluate this knowledge base instead of KNOWLEDGE_BASE (without --dir)
  --k N             depth of hit@k and MRR (default 5)
  --json            the full report as JSON
  --fail-under ...  exit 1 when a metric is below its bar, e.g. hit@5=0.9 escalation_recall=0.95
                    metrics: ${allowedMetricNames(5).join(', ')}
`;

runCli(async () => {
  let options;
  try {
    const { values, tokens } = parseArgs({
      allowPositionals: true,
      tokens: true,
      options: {
        set: { type: 'string' },
        dir: { type: 'string' },
        kb: { type: 'string' },
        k: { type: 'string', default: '5' },
        json: { type: 'boolean', default: false },
        'fail-under': { type: 'string', multiple: true },
      },
    });
    const { specs, positionals } = failUnderFromTokens(tokens);
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    if (!values.set) throw new UsageError('--set FILE.yaml is required');
    if (values.dir && values.kb) throw new UsageError('--dir and --kb do not go together (--dir picks its own knowledge base)');
    const k = parseKOption(values.k);
    options = { set: values.set, dir: values.dir, kb: values.kb, k, json: values.json, thresholds: parseThresholds(specs, k) };
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage}`);
    return 2;
  }

  const progress = ingestProgressReporter(process.stderr, !options.json && process.stderr.isTTY);
  const report = await evalCommand(loadConfig(), {
    ...options,
    onIngestProgress: progress.onProgress,
    onProgress: !options.json && process.stderr.isTTY ? (done, total) => process.stderr.write(`\revaluating ${done}/${total}${done === total ? '\n' : ''}`) : undefined,
  });
  progress.stop();
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    if (report.ingest) process.stdout.write(`Ingested ${report.ingest.dir} into the isolated knowledge base "${report.ingest.kb}" (v${report.ingest.version}, ${report.ingest.changed ? 'updated' : 'unchanged'}).\n\n`);
    process.stdout.write(formatEvalReport(report));
  }
  return report.passed ? 0 : 1;
});

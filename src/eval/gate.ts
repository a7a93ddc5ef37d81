/**
 * The ingest gate: build the new knowledge version without activating it, evaluate it, and
 * switch to it only when it meets the thresholds. Otherwise it is rejected (its rows removed,
 * the version kept on record as 'rejected' with the reason) and the previous version serves on.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { activateVersion, ingestKnowledge, rejectVersion, type IngestOptions, type IngestProgress, type IngestSummary } from '../knowledge/index.js';
import type { Logger } from '../logging/index.js';
import type { Answerer, Organisation } from '../rag/index.js';
import type { Database } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { describeError } from '../errors/index.js';
import { runEval, type EvalReport } from './run.js';
import type { EvalCase } from './set.js';
import type { Threshold } from './thresholds.js';

/** The knowledge base `--dir` is ingested into: one per folder, so re-runs are incremental. */
export function evalKnowledgeBase(dir: string): string {
  return `eval-${createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 12)}`;
}

export interface GateDeps {
  db: Database;
  embedder: Embedder | undefined;
  answerer: Answerer;
  organisation: Organisation;
  logger: Logger;
  onProgress?: (progress: IngestProgress) => void;
  onEvalProgress?: (done: number, total: number) => void;
}

export interface GateOptions {
  ingest: Omit<IngestOptions, 'activate' | 'dryRun'>;
  cases: EvalCase[];
  set: string;
  k: number;
  topK: number;
  thresholds: Threshold[];
}

export interface GateResult {
  /** activated: the new version serves; rejected: the previous one still does; unchanged: nothing new was built. */
  decision: 'activated' | 'rejected' | 'unchanged';
  servingVersion: number | null;
  /** Why it was rejected (or why the unchanged version falls short), one line per threshold. */
  reasons: string[];
  ingest: IngestSummary;
  eval: EvalReport;
}

export async function ingestWithEvalGate(deps: GateDeps, options: GateOptions): Promise<GateResult> {
  const summary = await ingestKnowledge(
    { db: deps.db, embedder: deps.embedder, logger: deps.logger, onProgress: deps.onProgress },
    { ...options.ingest, activate: false },
  );
  const evaluate = (version: number | undefined) =>
    runEval(
      { db: deps.db, embedder: deps.embedder, answerer: deps.answerer, organisation: deps.organisation },
      { cases: options.cases, kb: options.ingest.kb, version, k: options.k, topK: options.topK, set: options.set, thresholds: options.thresholds, onProgress: deps.onEvalProgress },
    );
  const reasonsOf = (report: EvalReport) =>
    report.thresholds.filter((t) => !t.passed).map((t) => `${t.metric} = ${t.value === null ? 'n/a' : t.value.toFixed(3)}, below ${t.min}`);

  if (!summary.changed) {
    const report = await evaluate(undefined);
    return { decision: 'unchanged', servingVersion: summary.version, reasons: reasonsOf(report), ingest: summary, eval: report };
  }

  const version = summary.version!;
  let report: EvalReport;
  try {
    report = await evaluate(version);
  } catch (error) {
    await rejectVersion(deps.db, options.ingest.kb, version, `the evaluation failed: ${describeError(error).message}`);
    throw error;
  }
  const reasons = reasonsOf(report);
  if (report.passed) {
    await activateVersion(deps.db, options.ingest.kb, version);
    deps.logger.info({ kb: options.ingest.kb, version, previous: summary.previousVersion }, 'knowledge version passed the eval gate and was activated');
    return { decision: 'activated', servingVersion: version, reasons, ingest: { ...summary, activated: true }, eval: report };
  }
  await rejectVersion(deps.db, options.ingest.kb, version, `eval gate (${options.set}): ${reasons.join('; ')}`);
  deps.logger.warn({ kb: options.ingest.kb, version, previous: summary.previousVersion }, 'knowledge version failed the eval gate and was rejected');
  return { decision: 'rejected', servingVersion: summary.previousVersion, reasons, ingest: summary, eval: report };
}

export function formatGate(result: GateResult): string {
  const { ingest } = result;
  switch (result.decision) {
    case 'activated':
      return `Gate passed: knowledge base "${ingest.kb}" is now at version ${ingest.version} (was ${ingest.previousVersion ?? 'empty'}).\n`;
    case 'rejected':
      return (
        `Gate FAILED: version ${ingest.version} was rejected and removed; knowledge base "${ingest.kb}" keeps serving ` +
        `${ingest.previousVersion === null ? 'nothing (it has no earlier version)' : `version ${ingest.previousVersion}`}.\n` +
        result.reasons.map((r) => `  ✗ ${r}\n`).join('')
      );
    default:
      return result.reasons.length === 0
        ? `Nothing changed: knowledge base "${ingest.kb}" stays at version ${ingest.version}, which meets the thresholds.\n`
        : `Nothing changed: knowledge base "${ingest.kb}" stays at version ${ingest.version}, which falls short:\n${result.reasons.map((r) => `  ✗ ${r}\n`).join('')}`;
  }
}

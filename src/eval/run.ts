/**
 * `runEval`: every case through `answerQuestion` — the path a WhatsApp message takes — with its
 * history, against one knowledge version; then the metrics of the shared eval README.
 */
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import { currentVersion } from '../knowledge/index.js';
import { answerQuestion, retrieveContext, type AnswerResult, type Answerer, type Organisation } from '../rag/index.js';
import type { Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { computeMetrics, hitAt, type CaseOutcome, type CaseScore, type EvalCounts, type MetricValues } from './metrics.js';
import type { EvalCase } from './set.js';
import { checkThresholds, valueFrom, type Threshold, type ThresholdResult } from './thresholds.js';

export interface EvalDeps {
  db: Queryable;
  embedder: Embedder | undefined;
  answerer: Answerer;
  organisation: Organisation;
}

export interface EvalRunOptions {
  cases: EvalCase[];
  kb: string;
  /** A specific (e.g. not yet activated) version; the current one by default. */
  version?: number;
  /** Depth of the retrieval metrics (hit@k, MRR). */
  k: number;
  /** Passages the answerer gets: the production RETRIEVAL_TOP_K. */
  topK: number;
  /** Where the cases came from, for the report. */
  set?: string;
  thresholds?: Threshold[];
  onProgress?: (done: number, total: number) => void;
}

export interface EvalMode {
  answerer: 'offline' | 'claude';
  model: string;
  retrieval: 'full-text' | 'hybrid' | 'mixed';
  embeddingModel: string | null;
}

export interface EvalCaseResult extends CaseScore {
  id: string;
  question: string;
  lang: string;
  expect: 'answer' | 'escalate';
  sources: string[];
  facts: string[];
  historyTurns: number;
  got: 'answer' | 'escalate';
  category: string | null;
  reason: string | null;
  reply: string;
  citations: Array<{ source: string; heading: string }>;
  /** The top-k retrieved chunks the retrieval metrics are computed on, best first. */
  topSources: Array<{ source: string; heading: string }>;
  latencyMs: number;
  error: string | null;
  passed: boolean;
  /** Why the case fails, in words (empty when it passes). */
  problems: string[];
}

export interface EvalReport {
  set: string | null;
  kb: string;
  knowledgeVersion: number;
  k: number;
  topK: number;
  mode: EvalMode;
  counts: EvalCounts & { errors: number };
  metrics: MetricValues;
  thresholds: ThresholdResult[];
  /** False when any threshold fails. */
  passed: boolean;
  failing: string[];
  warnings: string[];
  cases: EvalCaseResult[];
  ms: number;
}

/** Embeds each distinct text once per run: the ranking pass reuses the answer pass's vector. */
function memoised(embedder: Embedder | undefined): Embedder | undefined {
  if (!embedder) return undefined;
  const cache = new Map<string, number[]>();
  return {
    model: embedder.model,
    dimensions: embedder.dimensions,
    async embed(texts, onBatch) {
      const missing = [...new Set(texts.filter((t) => !cache.has(t)))];
      if (missing.length > 0) {
        const vectors = await embedder.embed(missing, onBatch);
        missing.forEach((t, i) => cache.set(t, vectors[i]!));
      }
      return texts.map((t) => cache.get(t)!);
    },
  };
}

function problemsOf(c: EvalCase, result: Pick<EvalCaseResult, 'got' | 'category' | 'reason' | 'citations' | 'error'>, score: CaseScore, k: number): string[] {
  const problems: string[] = [];
  if (result.error) problems.push(`pipeline error: ${result.error}`);
  if (c.expect === 'escalate') {
    if (result.got === 'answer') problems.push(`answered instead of escalating (cited ${[...new Set(result.citations.map((x) => x.source))].join(', ')})`);
    return problems;
  }
  if (result.got === 'escalate' && !result.error) problems.push(`escalated instead of answering (${result.category}: ${result.reason})`);
  if (score.firstRelevantRank === null) problems.push(`no passage from ${c.sources.join(' or ')} in the top ${k}`);
  if (score.factsMissing.length > 0) problems.push(`reply lacks ${score.factsMissing.map((f) => `"${f}"`).join(', ')}`);
  if (score.citationsValid === false) problems.push('a citation does not point at a retrieved passage');
  return problems;
}

export async function runEval(deps: EvalDeps, options: EvalRunOptions): Promise<EvalReport> {
  const started = performance.now();
  const version = options.version ?? (await currentVersion(deps.db, options.kb));
  if (version === null) {
    throw new AppError(ErrorIds.knowledgeBaseEmpty, `Knowledge base "${options.kb}" has no published version: run npm run ingest first, or pass --dir to evaluate a folder.`, {
      context: { kb: options.kb },
    });
  }
  const embedder = memoised(deps.embedder);
  const answerDeps = { db: deps.db, embedder, answerer: deps.answerer, organisation: deps.organisation };

  const known = new Set(
    (
      await deps.db.query<{ source: string }>(
        'SELECT DISTINCT source FROM documents WHERE kb = $1 AND added_in <= $2 AND (retired_in IS NULL OR retired_in > $2)',
        [options.kb, version],
      )
    ).map((r) => r.source),
  );
  const warnings: string[] = [];
  for (const c of options.cases) {
    for (const s of c.sources) if (!known.has(s)) warnings.push(`case ${c.id}: source "${s}" is not a document of knowledge base "${options.kb}" v${version}`);
  }

  const outcomes: CaseOutcome[] = [];
  const raw: Array<{ result: AnswerResult | undefined; error: string | null; top: Array<{ source: string; heading: string }> }> = [];
  const modes = new Set<'hybrid' | 'full-text'>();
  for (const [i, c] of options.cases.entries()) {
    const t0 = performance.now();
    let result: AnswerResult | undefined;
    let error: string | null = null;
    try {
      result = await answerQuestion(answerDeps, { question: c.question, history: c.history, kb: options.kb, topK: options.topK, version });
    } catch (thrown) {
      // On WhatsApp this is the safe fallback with the human line: an escalation ('failure').
      error = describeError(thrown).message;
    }
    const latencyMs = Math.round(performance.now() - t0);
    // The ranking for hit@k and MRR: the same retrieval, k deep (also when a red flag skipped it).
    let top: Array<{ source: string; heading: string }> = [];
    try {
      const ranking = await retrieveContext({ db: deps.db, embedder }, { kb: options.kb, question: c.question, history: c.history, topK: options.k, version });
      modes.add(ranking.mode);
      top = ranking.chunks.map((ch) => ({ source: ch.source, heading: ch.heading }));
    } catch (thrown) {
      // E.g. the embeddings API failed: no ranking for this case (a retrieval miss), and say why.
      error ??= `retrieval failed: ${describeError(thrown).message}`;
    }
    outcomes.push({
      expect: c.expect,
      escalated: !result || result.kind === 'escalation',
      ranked: top.map((t) => t.source),
      sources: c.sources,
      facts: c.facts,
      reply: result?.text ?? '',
      citations: result?.citations ?? [],
      retrieved: result?.retrieved ?? [],
      latencyMs,
    });
    raw.push({ result, error, top });
    options.onProgress?.(i + 1, options.cases.length);
  }

  const { scores, counts, metrics } = computeMetrics(outcomes, options.k);
  const cases: EvalCaseResult[] = options.cases.map((c, i) => {
    const { result, error, top } = raw[i]!;
    const score = scores[i]!;
    const base = {
      got: result?.kind === 'answer' ? ('answer' as const) : ('escalate' as const),
      category: result ? (result.escalation?.category ?? null) : 'failure',
      reason: result ? (result.escalation?.reason ?? null) : error,
      citations: (result?.citations ?? []).map((x) => ({ source: x.source, heading: x.heading })),
      error,
    };
    const problems = problemsOf(c, base, score, options.k);
    return {
      id: c.id,
      question: c.question,
      lang: c.lang,
      expect: c.expect,
      sources: c.sources,
      facts: c.facts,
      historyTurns: c.history.length,
      ...base,
      reply: result?.text ?? '',
      topSources: top,
      ...score,
      latencyMs: outcomes[i]!.latencyMs,
      passed: problems.length === 0,
      problems,
    };
  });

  const pairs = cases.map((c) => ({ expect: c.expect, score: c }));
  const thresholds = checkThresholds(options.thresholds ?? [], valueFrom(metrics, (n) => hitAt(pairs, n)));
  return {
    set: options.set ?? null,
    kb: options.kb,
    knowledgeVersion: version,
    k: options.k,
    topK: options.topK,
    mode: {
      answerer: deps.answerer.offline ? 'offline' : 'claude',
      model: deps.answerer.model,
      retrieval: modes.size === 1 ? [...modes][0]! : modes.size === 0 ? (deps.embedder ? 'hybrid' : 'full-text') : 'mixed',
      embeddingModel: deps.embedder?.model ?? null,
    },
    counts: { ...counts, errors: cases.filter((c) => c.error !== null).length },
    metrics,
    thresholds,
    passed: thresholds.every((t) => t.passed),
    failing: cases.filter((c) => !c.passed).map((c) => c.id),
    warnings,
    cases,
    ms: Math.round(performance.now() - started),
  };
}

/**
 * The scoring rules of the shared eval README, as pure functions over per-case outcomes.
 * Positive class for escalation = "escalate"; an answer withheld for lack of a valid
 * citation is an escalation (answerQuestion already returns it as one).
 */

export interface CaseOutcome {
  expect: 'answer' | 'escalate';
  /** The pipeline escalated (including a withheld ungrounded answer, or a failure). */
  escalated: boolean;
  /** Source file of each of the top-k retrieved chunks, best first. */
  ranked: string[];
  /** Expected source files (answer cases). */
  sources: string[];
  /** Strings a correct reply contains (answer cases). */
  facts: string[];
  /** The reply text as sent to the user. */
  reply: string;
  citations: Array<{ source: string; heading: string }>;
  /** What the answer was built from (answerQuestion's `retrieved`). */
  retrieved: Array<{ source: string; heading: string }>;
  latencyMs: number;
}

export interface CaseScore {
  /** 1-based rank of the first top-k chunk from an expected source; null when none (or not an answer case). */
  firstRelevantRank: number | null;
  factsFound: string[];
  factsMissing: string[];
  /** Share of facts found; null unless an answer case that was answered. */
  factRecall: number | null;
  /** Every citation points at a retrieved chunk; null unless the pipeline answered. */
  citationsValid: boolean | null;
}

export interface EvalCounts {
  cases: number;
  answerCases: number;
  escalateCases: number;
  answered: number;
  escalated: number;
  /** Escalation confusion matrix, positive = escalate. */
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  trueNegatives: number;
  /** Answer cases that got an answer (the base of fact recall). */
  answeredAnswerCases: number;
  /** Answer cases escalated instead (the false positives). */
  answerCasesEscalated: number;
  /** Answers whose citations all point at retrieved chunks. */
  answersWithValidCitations: number;
}

/** Flat, named metrics: the names `--fail-under` accepts. `null` = undefined (0/0). */
export type MetricValues = Record<string, number | null>;

/** Matching for fact recall: NFKC, en/em dashes to "-", WhatsApp markup removed, whitespace collapsed, lower case. */
export function normaliseForMatch(text: string): string {
  return text
    .normalize('NFKC')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[*_~]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

const cleanSource = (s: string) => s.replace(/\\/g, '/').replace(/^\.\//, '');

export function scoreCase(outcome: CaseOutcome, k: number): CaseScore {
  const expected = new Set(outcome.sources.map(cleanSource));
  const index = outcome.expect === 'answer' ? outcome.ranked.slice(0, k).findIndex((s) => expected.has(cleanSource(s))) : -1;
  const answered = !outcome.escalated;
  let factsFound: string[] = [];
  let factsMissing: string[] = [];
  let factRecall: number | null = null;
  if (outcome.expect === 'answer' && answered && outcome.facts.length > 0) {
    const reply = normaliseForMatch(outcome.reply);
    factsFound = outcome.facts.filter((f) => reply.includes(normaliseForMatch(f)));
    factsMissing = outcome.facts.filter((f) => !factsFound.includes(f));
    factRecall = factsFound.length / outcome.facts.length;
  }
  const retrieved = new Set(outcome.retrieved.map((r) => `${r.source}\u0000${r.heading}`));
  const citationsValid = answered ? outcome.citations.length > 0 && outcome.citations.every((c) => retrieved.has(`${c.source}\u0000${c.heading}`)) : null;
  return { firstRelevantRank: index === -1 ? null : index + 1, factsFound, factsMissing, factRecall, citationsValid };
}

const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

/** Nearest-rank percentile: the smallest value with at least p% of the values at or below it. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** hit@n over the answer cases' first relevant ranks (n ≤ the k they were cut at). */
export function hitAt(scores: Array<{ expect: 'answer' | 'escalate'; score: CaseScore }>, n: number): number | null {
  return mean(scores.filter((s) => s.expect === 'answer').map((s) => (s.score.firstRelevantRank !== null && s.score.firstRelevantRank <= n ? 1 : 0)));
}

export function computeMetrics(outcomes: CaseOutcome[], k: number): { scores: CaseScore[]; counts: EvalCounts; metrics: MetricValues } {
  const scores = outcomes.map((o) => scoreCase(o, k));
  const pairs = outcomes.map((o, i) => ({ expect: o.expect, escalated: o.escalated, score: scores[i]! }));
  const answerCases = pairs.filter((p) => p.expect === 'answer');
  const tp = pairs.filter((p) => p.escalated && p.expect === 'escalate').length;
  const fp = pairs.filter((p) => p.escalated && p.expect === 'answer').length;
  const fn = pairs.filter((p) => !p.escalated && p.expect === 'escalate').length;
  const tn = pairs.filter((p) => !p.escalated && p.expect === 'answer').length;
  const answers = pairs.filter((p) => !p.escalated);
  const validCitations = answers.filter((p) => p.score.citationsValid === true).length;

  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  const f1 = precision === null || recall === null ? null : precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const latencies = outcomes.map((o) => o.latencyMs);

  const counts: EvalCounts = {
    cases: outcomes.length,
    answerCases: answerCases.length,
    escalateCases: outcomes.length - answerCases.length,
    answered: answers.length,
    escalated: outcomes.length - answers.length,
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    trueNegatives: tn,
    answeredAnswerCases: tn,
    answerCasesEscalated: fp,
    answersWithValidCitations: validCitations,
  };
  const metrics: MetricValues = {
    'hit@1': hitAt(pairs, 1),
    [`hit@${k}`]: hitAt(pairs, k),
    mrr: mean(answerCases.map((p) => (p.score.firstRelevantRank === null ? 0 : 1 / p.score.firstRelevantRank))),
    escalation_precision: precision,
    escalation_recall: recall,
    escalation_f1: f1,
    fact_recall: mean(answerCases.flatMap((p) => (p.score.factRecall === null ? [] : [p.score.factRecall]))),
    answer_cases_escalated: fp,
    citations_valid: ratio(validCitations, answers.length),
    latency_p50_ms: percentile(latencies, 50),
    latency_p95_ms: percentile(latencies, 95),
  };
  return { scores, counts, metrics };
}

/** Metrics a `--fail-under` bar applies to (higher is better). hit@N is accepted for 1 ≤ N ≤ k. */
export const GATEABLE_METRICS = ['mrr', 'escalation_precision', 'escalation_recall', 'escalation_f1', 'fact_recall', 'citations_valid'] as const;

/** The eval report for people: mode, every failing case, the summary and the thresholds. */
import type { EvalCaseResult, EvalReport } from './run.js';

const num = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
}

export function describeMode(report: Pick<EvalReport, 'mode'>): string {
  const { mode } = report;
  const answerer = mode.answerer === 'offline' ? `offline answerer (${mode.model}: quotes the documents, no model)` : `Claude model ${mode.model}`;
  const retrieval =
    mode.retrieval === 'hybrid'
      ? `hybrid retrieval (full-text + ${mode.embeddingModel ?? 'embeddings'})`
      : mode.retrieval === 'mixed'
        ? 'mixed retrieval (some passages without embeddings)'
        : 'full-text retrieval (no embeddings)';
  return `${answerer} · ${retrieval}`;
}

function expected(c: EvalCaseResult): string {
  if (c.expect === 'escalate') return 'escalate';
  return `answer from ${c.sources.join(', ')} with ${c.facts.map((f) => `"${f}"`).join(', ')}`;
}

function got(c: EvalCaseResult): string {
  if (c.got === 'escalate') return `escalated (${c.category ?? 'unknown'})`;
  const cited = [...new Set(c.citations.map((x) => x.source))].join(', ');
  const facts = c.expect === 'answer' && c.facts.length > 0 ? `, ${c.factsFound.length}/${c.facts.length} facts` : '';
  return `answered citing ${cited}${facts}`;
}

export function formatFailures(report: EvalReport): string {
  const failing = report.cases.filter((c) => !c.passed);
  if (failing.length === 0) return `Every case passes (${report.cases.length}).\n`;
  const lines = [`Failing cases (${failing.length} of ${report.cases.length})`, ''];
  for (const c of failing) {
    const top = c.topSources.slice(0, 3).map((t, i) => `${i + 1}. ${t.source}`).join('  ');
    lines.push(`✗ ${c.id}${c.historyTurns > 0 ? ` (follow-up, ${c.historyTurns} turns of history)` : ''} [${c.lang}]`);
    lines.push(`    question     ${clip(c.question, 100)}`);
    lines.push(`    expected     ${clip(expected(c), 100)}`);
    lines.push(`    got          ${clip(got(c), 100)}`);
    lines.push(`    top sources  ${top || '(nothing retrieved)'}`);
    for (const p of c.problems) lines.push(`    why          ${clip(p, 160)}`);
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

export function formatSummary(report: EvalReport): string {
  const m = report.metrics;
  const c = report.counts;
  const row = (label: string, value: string, note = '') => `  ${label.padEnd(28)} ${value.padStart(7)}${note ? `   ${note}` : ''}`;
  const lines = [
    `Eval of knowledge base "${report.kb}" v${report.knowledgeVersion}${report.set ? ` with ${report.set}` : ''}`,
    `  mode: ${describeMode(report)}`,
    `  ${c.cases} cases: ${c.answerCases} expect an answer, ${c.escalateCases} expect an escalation · k = ${report.k}, answerer sees top ${report.topK} · ${(report.ms / 1000).toFixed(1)} s`,
    '',
    'Retrieval (answer cases)',
    row('hit@1', num(m['hit@1'])),
    row(`hit@${report.k}`, num(m[`hit@${report.k}`])),
    row('MRR', num(m.mrr)),
    'Escalation (positive = escalate)',
    row('precision', num(m.escalation_precision), `${c.truePositives} of ${c.escalated} escalations were expected`),
    row('recall', num(m.escalation_recall), `${c.truePositives} of ${c.escalateCases} expected escalations happened`),
    row('F1', num(m.escalation_f1)),
    row('escalate cases answered', String(c.falseNegatives), 'the costly error'),
    'Answers',
    row('fact recall', num(m.fact_recall), `mean over ${c.answeredAnswerCases} answered answer cases`),
    row('answer cases escalated', String(c.answerCasesEscalated), `of ${c.answerCases}`),
    row('citations valid', num(m.citations_valid), `${c.answersWithValidCitations} of ${c.answered} answers cite only retrieved passages`),
    'Latency (per case, answerQuestion)',
    row('p50', `${m.latency_p50_ms ?? 'n/a'} ms`),
    row('p95', `${m.latency_p95_ms ?? 'n/a'} ms`),
  ];
  if (c.errors > 0) lines.push(`  ${c.errors} case(s) failed with an error (counted as escalations, as the WhatsApp fallback would be)`);
  if (report.warnings.length > 0) lines.push('', 'Warnings', ...report.warnings.map((w) => `  ! ${w}`));
  if (report.thresholds.length > 0) {
    lines.push('', `Thresholds: ${report.passed ? 'all met' : 'NOT met'}`);
    for (const t of report.thresholds) lines.push(`  ${t.passed ? '✓' : '✗'} ${t.metric} = ${num(t.value)} ${t.passed ? '≥' : '<'} ${t.min}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatEvalReport(report: EvalReport): string {
  return `${formatFailures(report)}\n${formatSummary(report)}`;
}

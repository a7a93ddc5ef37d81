import type { AnswerResult } from '../rag/index.js';

/** The reply as the user would read it, plus one dim line of metadata for the operator. */
export function formatAnswer(result: AnswerResult): string {
  const meta = [
    result.kind === 'escalation' ? `escalation: ${result.escalation?.category} — ${result.escalation?.reason}` : `answer (${result.citations.length} citation${result.citations.length === 1 ? '' : 's'})`,
    `model ${result.model}${result.offline ? ' (offline answerer)' : ''}`,
    `knowledge v${result.knowledgeVersion ?? '-'}`,
    `${result.timings.totalMs} ms`,
  ].join(' · ');
  return `${result.text}\n\n[${meta}]\n`;
}

/**
 * `answerQuestion`: the one path every channel uses. Red flags first (no model call),
 * then retrieval, then a draft from the answerer, then code-enforced grounding: a draft
 * without valid citations is never sent as an answer — it becomes an escalation.
 */
import type { Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { detectLanguage } from './language.js';
import { detectRedFlag } from './red-flags.js';
import { escalationReply, type Organisation } from './replies.js';
import { retrieveContext } from './retrieve.js';
import type { AnswerResult, Answerer, Citation, EscalationCategory, Language, Retrieval, Turn } from './types.js';

export interface AnswerDeps {
  db: Queryable;
  embedder: Embedder | undefined;
  answerer: Answerer;
  organisation: Organisation;
}

export interface AnswerInput {
  question: string;
  history?: Turn[];
  kb: string;
  topK: number;
  version?: number;
}

function sourcesLine(citations: Citation[], language: Language): string {
  const labels = [...new Set(citations.map((c) => c.source))];
  return `${language === 'es' ? 'Fuente' : 'Source'}: ${labels.join(', ')}`;
}

export async function answerQuestion(deps: AnswerDeps, input: AnswerInput): Promise<AnswerResult> {
  const started = performance.now();
  const history = input.history ?? [];
  const language = detectLanguage(input.question);
  const base = { model: deps.answerer.model, offline: deps.answerer.offline, language };
  const escalate = (category: EscalationCategory, reason: string, retrieval: Retrieval | undefined, retrieveMs: number, generateMs: number): AnswerResult => ({
    ...base,
    kind: 'escalation',
    text: escalationReply(category, language, deps.organisation),
    citations: [],
    escalation: { category, reason },
    retrieved: (retrieval?.chunks ?? []).map((c) => ({ source: c.source, heading: c.heading, score: c.score })),
    knowledgeVersion: retrieval?.knowledgeVersion ?? null,
    timings: { retrieveMs, generateMs, totalMs: Math.round(performance.now() - started) },
  });

  const redFlag = detectRedFlag(input.question);
  if (redFlag) return escalate('urgent', `red flag detected before any model call: ${redFlag}`, undefined, 0, 0);

  const retrieval = await retrieveContext(deps, { kb: input.kb, question: input.question, history, topK: input.topK, version: input.version });
  const retrieveMs = Math.round(performance.now() - started);
  if (retrieval.chunks.length === 0) {
    return escalate('out_of_scope', retrieval.knowledgeVersion === null ? `knowledge base "${input.kb}" has no published version` : 'nothing in the knowledge base matches the question', retrieval, retrieveMs, 0);
  }

  const generateStart = performance.now();
  const draft = await deps.answerer.draft({ question: input.question, history, chunks: retrieval.chunks, language });
  const generateMs = Math.round(performance.now() - generateStart);

  if (draft.kind === 'escalation') return escalate(draft.category, draft.reason, retrieval, retrieveMs, generateMs);
  if (draft.citations.length === 0 || draft.invalidCitations > 0 || draft.text === '') {
    const why =
      draft.invalidCitations > 0
        ? `${draft.invalidCitations} citation(s) did not match the retrieved passages`
        : draft.citations.length === 0
          ? 'the answer carried no citation'
          : 'the answer had no text';
    return escalate('out_of_scope', `ungrounded answer withheld: ${why}`, retrieval, retrieveMs, generateMs);
  }

  const citations: Citation[] = [];
  for (const c of draft.citations) {
    const chunk = retrieval.chunks[c.chunkIndex]!;
    if (!citations.some((x) => x.source === chunk.source && x.quote === c.quote)) citations.push({ source: chunk.source, heading: chunk.heading, quote: c.quote });
  }
  return {
    ...base,
    kind: 'answer',
    text: `${draft.text}\n\n${sourcesLine(citations, language)}`,
    citations,
    retrieved: retrieval.chunks.map((c) => ({ source: c.source, heading: c.heading, score: c.score })),
    knowledgeVersion: retrieval.knowledgeVersion,
    timings: { retrieveMs, generateMs, totalMs: Math.round(performance.now() - started) },
  };
}

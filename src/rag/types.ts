export type EscalationCategory = 'out_of_scope' | 'urgent' | 'sensitive' | 'user_request' | 'failure';
export type Language = 'en' | 'es';

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface RetrievedChunk {
  id: string;
  source: string;
  title: string;
  heading: string;
  content: string;
  /** Reciprocal-rank-fusion score (higher is better). */
  score: number;
  fullTextRank: number | null;
  vectorSimilarity: number | null;
  /** Share of the question's content words found in this chunk (0..1). */
  termCoverage: number;
}

export interface Retrieval {
  knowledgeVersion: number | null;
  query: string;
  mode: 'hybrid' | 'full-text';
  chunks: RetrievedChunk[];
}

export interface Citation {
  source: string;
  heading: string;
  quote: string;
}

/** What an answerer proposes; code decides whether it may be sent as an answer. */
export type Draft =
  | { kind: 'answer'; text: string; citations: Array<{ chunkIndex: number; quote: string }>; invalidCitations: number }
  | { kind: 'escalation'; category: EscalationCategory; reason: string };

export interface Answerer {
  readonly model: string;
  readonly offline: boolean;
  draft(input: { question: string; history: Turn[]; chunks: RetrievedChunk[]; language: Language }): Promise<Draft>;
}

export interface AnswerResult {
  kind: 'answer' | 'escalation';
  text: string;
  citations: Citation[];
  escalation?: { reason: string; category: EscalationCategory };
  retrieved: Array<{ source: string; heading: string; score: number }>;
  knowledgeVersion: number | null;
  model: string;
  offline: boolean;
  language: Language;
  timings: { retrieveMs: number; generateMs: number; totalMs: number };
}

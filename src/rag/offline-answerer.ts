/**
 * The answerer used when no ANTHROPIC_API_KEY is configured: it quotes the best-matching
 * passage verbatim when retrieval is confident, and escalates otherwise. It never writes
 * a sentence of its own, so it cannot invent anything.
 */
import type { Answerer } from './types.js';

export const OFFLINE_MODEL = 'offline-quote';

export function createOfflineAnswerer(options: { minCoverage: number; maxQuoteChars?: number }): Answerer {
  const maxChars = options.maxQuoteChars ?? 900;
  return {
    model: OFFLINE_MODEL,
    offline: true,
    async draft({ chunks }) {
      const best = chunks[0];
      if (!best || best.termCoverage < options.minCoverage) {
        return {
          kind: 'escalation',
          category: 'out_of_scope',
          reason: best
            ? `no passage matches the question well enough (best covers ${Math.round(best.termCoverage * 100)}% of its words)`
            : 'nothing in the knowledge base matches the question',
        };
      }
      let quote = best.content;
      if (quote.length > maxChars) {
        const cut = quote.lastIndexOf('\n', maxChars);
        quote = quote.slice(0, cut > maxChars / 2 ? cut : maxChars).trimEnd();
      }
      return { kind: 'answer', text: quote, citations: [{ chunkIndex: 0, quote }], invalidCitations: 0 };
    },
  };
}

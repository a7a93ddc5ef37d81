/**
 * Claude through the official SDK: retrieved chunks go in as citable `search_result` blocks,
 * the model answers with citations or calls `escalate`. Returns a plain Draft; SDK errors
 * become ModelError after the SDK's own retries (429, 5xx, 529 overloaded, timeouts).
 */
import Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, SearchResultBlockParam, TextBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import type { ClaudeSettings } from '../config/index.js';
import { ErrorIds, ModelError } from '../errors/index.js';
import { escalateTool, systemPrompt, type PromptSettings } from './prompt.js';
import type { Answerer, Draft, RetrievedChunk } from './types.js';

export type { ClaudeSettings } from '../config/index.js';

const escalateInput = z.object({
  reason: z.string().min(1).max(1000),
  category: z.enum(['out_of_scope', 'urgent', 'sensitive', 'user_request']),
});

/** Text blocks are the unit a citation can point at: one per line or sentence keeps quotes tight. */
export function citableBlocks(content: string): string[] {
  return content
    .split(/\n+/)
    .flatMap((line) => line.split(/(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿¡0-9*(])/u))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function searchResult(chunk: RetrievedChunk): SearchResultBlockParam {
  return {
    type: 'search_result',
    source: chunk.source,
    title: chunk.heading ? `${chunk.title} › ${chunk.heading.replace(/ > /g, ' › ')}` : chunk.title,
    content: citableBlocks(chunk.content).map((text): TextBlockParam => ({ type: 'text', text })),
    citations: { enabled: true },
  };
}

// The API concatenates the cited blocks' texts without a separator ("…time.After that…"),
// so grounding is checked with whitespace removed on both sides.
const compact = (s: string) => s.replace(/\s+/g, '').toLowerCase();

/** The cited block range as readable text, when it is exactly what was cited. */
function quoteOf(chunk: RetrievedChunk, start: number, end: number, citedText: string): string {
  const range = citableBlocks(chunk.content).slice(start, end);
  return range.length > 0 && compact(range.join('')) === compact(citedText) ? range.join(' ') : citedText.trim();
}

function parseResponse(message: Anthropic.Message, chunks: RetrievedChunk[]): Draft {
  const toolUse = message.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.name === 'escalate');
  if (toolUse) {
    const input = escalateInput.safeParse(toolUse.input);
    return input.success
      ? { kind: 'escalation', category: input.data.category, reason: input.data.reason }
      : { kind: 'escalation', category: 'out_of_scope', reason: 'the model escalated without a valid reason/category' };
  }
  if (message.stop_reason === 'max_tokens') {
    return { kind: 'escalation', category: 'failure', reason: 'the answer was cut off at the token limit' };
  }
  let text = '';
  const citations: Array<{ chunkIndex: number; quote: string }> = [];
  let invalidCitations = 0;
  for (const block of message.content) {
    if (block.type !== 'text') continue;
    text += block.text;
    for (const citation of block.citations ?? []) {
      const chunk = citation.type === 'search_result_location' ? chunks[citation.search_result_index] : undefined;
      const valid =
        citation.type === 'search_result_location' &&
        chunk !== undefined &&
        citation.source === chunk.source &&
        citation.cited_text.trim() !== '' &&
        compact(chunk.content).includes(compact(citation.cited_text));
      if (valid) {
        citations.push({
          chunkIndex: citation.search_result_index,
          quote: quoteOf(chunk, citation.start_block_index, citation.end_block_index, citation.cited_text),
        });
      } else invalidCitations += 1;
    }
  }
  return { kind: 'answer', text: text.trim(), citations, invalidCitations };
}

export function createClaudeAnswerer(settings: ClaudeSettings, prompt: PromptSettings): Answerer {
  const client = new Anthropic({
    apiKey: settings.apiKey,
    baseURL: settings.baseURL,
    timeout: settings.timeoutMs,
    maxRetries: settings.maxRetries,
  });
  const system = systemPrompt(prompt);
  return {
    model: settings.model,
    offline: false,
    async draft({ question, history, chunks }) {
      const messages: MessageParam[] = [
        ...history.map((turn): MessageParam => ({ role: turn.role, content: turn.content })),
        { role: 'user', content: [...chunks.map(searchResult), { type: 'text', text: question }] },
      ];
      // The API needs alternating roles starting with the user: drop a leading assistant turn.
      while (messages.length > 1 && messages[0]!.role === 'assistant') messages.shift();
      let message: Anthropic.Message;
      try {
        message = await client.messages.create({
          model: settings.model,
          max_tokens: settings.maxTokens,
          system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
          tools: [escalateTool],
          tool_choice: { type: 'auto' },
          messages,
        });
      } catch (error) {
        const status = error instanceof Anthropic.APIError ? error.status : undefined;
        throw new ModelError(ErrorIds.modelUnavailable, `Claude did not answer${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`, {
          cause: error,
          context: { status, model: settings.model },
          retryable: true,
        });
      }
      return parseResponse(message, chunks);
    },
  };
}

/**
 * Fake Anthropic Messages API (non-streaming) speaking the real wire format, so the official
 * `@anthropic-ai/sdk` can be pointed at it with `new Anthropic({ baseURL: fake.url })`.
 *
 * Replies are scripted with `enqueue(...)` using the builders below; when the queue is empty a
 * DEFAULT reply is used (cite search result if any, otherwise call the `escalate` tool).
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { ServerResponse } from 'node:http';
import { startServer, sendJson, base62 } from './http.js';

export type MessageCreateParams = Anthropic.MessageCreateParams;
type ContentBlock = Anthropic.ContentBlock;
type StopReason = Anthropic.StopReason;

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** A scripted reply. Build these with the helpers below rather than by hand. */
export type FakeReply =
  | {
      kind: 'message';
      /** Content is computed from the request so citations can reference its search results. */
      build: (req: MessageCreateParams) => { content: ContentBlock[]; stop_reason: StopReason };
    }
  | { kind: 'error'; status: number; type: AnthropicErrorType; message: string; retryAfterSeconds?: number }
  | { kind: 'slow'; ms: number; reply: FakeReply };

export type FakeReplyInput = FakeReply | ((req: MessageCreateParams) => FakeReply);

export interface FakeAnthropicOptions {
  /** Artificial latency added before every response (ms). Default 0. */
  latencyMs?: number;
}

export interface FakeAnthropic {
  /** Base URL WITHOUT /v1, e.g. `http://127.0.0.1:PORT` (the SDK appends `/v1/messages`). */
  readonly url: string;
  /** Every POST /v1/messages body that passed header validation, in arrival order. */
  readonly requests: readonly MessageCreateParams[];
  /** Artificial latency (ms), mutable at runtime. */
  latencyMs: number;
  /** Queue replies; consumed one per request, in order. */
  enqueue(...replies: FakeReplyInput[]): void;
  /** Replace the DEFAULT reply used when the queue is empty (`null` restores the built-in one). */
  setDefaultReply(reply: FakeReplyInput | null): void;
  /** Number of replies still queued. */
  readonly pending: number;
  /** Clears queue, recorded requests and any custom default reply. */
  reset(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Search-result bookkeeping
// ---------------------------------------------------------------------------------------------

export interface FoundSearchResult {
  /** Global index, as used by `search_result_index` in citations. */
  index: number;
  source: string;
  title: string;
  texts: string[];
  /** Index of the message it came from. */
  messageIndex: number;
}

function isSearchResult(b: unknown): b is Anthropic.SearchResultBlockParam {
  return typeof b === 'object' && b !== null && (b as { type?: unknown }).type === 'search_result';
}

/**
 * All `search_result` blocks of the request in order of appearance across user messages,
 * including those nested in `tool_result` content (that is how the API numbers them).
 */
export function collectSearchResults(req: MessageCreateParams): FoundSearchResult[] {
  const out: FoundSearchResult[] = [];
  const push = (b: Anthropic.SearchResultBlockParam, messageIndex: number): void => {
    out.push({
      index: out.length,
      source: b.source,
      title: b.title,
      texts: (b.content ?? []).filter((c) => c.type === 'text').map((c) => c.text),
      messageIndex,
    });
  };
  (req.messages ?? []).forEach((m, messageIndex) => {
    if (m.role !== 'user' || typeof m.content === 'string') return;
    for (const block of m.content) {
      if (isSearchResult(block)) push(block, messageIndex);
      else if (block.type === 'tool_result' && Array.isArray(block.content)) {
        for (const inner of block.content) if (isSearchResult(inner)) push(inner, messageIndex);
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reply builders
// ---------------------------------------------------------------------------------------------

export interface CitedPart {
  text: string;
  cite?: {
    searchResultIndex: number;
    /** Defaults to the joined text of the cited content blocks (the first one by default). */
    citedText?: string;
    /** Defaults 0. */
    startBlockIndex?: number;
    /** Exclusive; defaults to startBlockIndex + 1 (the installed SDK documents it as exclusive). */
    endBlockIndex?: number;
  };
}

function textBlock(text: string, citations: Anthropic.TextCitation[] | null): Anthropic.TextBlock {
  return { type: 'text', text, citations };
}

/** Text blocks; parts with `cite` carry a `search_result_location` citation resolved against the request. */
export function citedAnswer(parts: CitedPart[]): FakeReply {
  return {
    kind: 'message',
    build: (req) => {
      const results = collectSearchResults(req);
      const content = parts.map((p): ContentBlock => {
        if (!p.cite) return textBlock(p.text, null);
        const { searchResultIndex } = p.cite;
        const start = p.cite.startBlockIndex ?? 0;
        const end = p.cite.endBlockIndex ?? start + 1;
        const found = results[searchResultIndex];
        const citation: Anthropic.CitationsSearchResultLocation = {
          type: 'search_result_location',
          source: found?.source ?? '',
          title: found?.title ?? null,
          cited_text: p.cite.citedText ?? (found ? found.texts.slice(start, end).join('') : ''),
          search_result_index: searchResultIndex,
          start_block_index: start,
          end_block_index: end,
        };
        return textBlock(p.text, [citation]);
      });
      return { content, stop_reason: 'end_turn' };
    },
  };
}

/** One text block without citations. */
export function uncitedAnswer(text: string): FakeReply {
  return { kind: 'message', build: () => ({ content: [textBlock(text, null)], stop_reason: 'end_turn' }) };
}

/** One (uncited) text block, cut off: stop_reason 'max_tokens'. */
export function maxTokensAnswer(text: string): FakeReply {
  return { kind: 'message', build: () => ({ content: [textBlock(text, null)], stop_reason: 'max_tokens' }) };
}

/** Optional preface text, then a call of the `escalate` tool; stop_reason 'tool_use'. */
export function escalateToolUse(input: { reason: string; category: string }, preface?: string): FakeReply {
  return toolUse('escalate', input, preface);
}

/** Generic client tool call; stop_reason 'tool_use'. */
export function toolUse(name: string, input: unknown, preface?: string): FakeReply {
  return {
    kind: 'message',
    build: () => {
      const content: ContentBlock[] = [];
      if (preface !== undefined) content.push(textBlock(preface, null));
      content.push({ type: 'tool_use', id: `toolu_01${base62(22)}`, name, input, caller: { type: 'direct' } });
      return { content, stop_reason: 'tool_use' };
    },
  };
}

/** An API error: HTTP `status` with `{ type:'error', error:{ type, message }, request_id }`. */
export function errorReply(
  status: number,
  type: AnthropicErrorType,
  message?: string,
  opts: { retryAfterSeconds?: number } = {},
): FakeReply {
  const defaults: Record<AnthropicErrorType, string> = {
    invalid_request_error: 'Invalid request (fake).',
    authentication_error: 'invalid x-api-key',
    permission_error: 'Your API key does not have permission to use the specified resource.',
    not_found_error: 'Not found.',
    rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit (fake).',
    api_error: 'Internal server error',
    overloaded_error: 'Overloaded',
  };
  const reply: FakeReply = { kind: 'error', status, type, message: message ?? defaults[type] };
  if (opts.retryAfterSeconds !== undefined) reply.retryAfterSeconds = opts.retryAfterSeconds;
  return reply;
}

/** Wait `ms` before answering with `reply` (for client-timeout tests). */
export function slowReply(ms: number, reply: FakeReply): FakeReply {
  return { kind: 'slow', ms, reply };
}

function firstSentence(text: string): string {
  const t = text.trim();
  const m = /^[\s\S]*?[.!?](?=\s|$)/u.exec(t);
  return m ? m[0] : t;
}

/**
 * DEFAULT reply: if the LAST user message has a search_result block, quote the first sentence of
 * its first one (for a single-turn request that is search result 0) with a citation to it;
 * otherwise call `escalate` with `{ reason:'no search results', category:'out_of_scope' }`.
 */
export function defaultReply(req: MessageCreateParams): FakeReply {
  const msgs = req.messages ?? [];
  let lastUser = -1;
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i]?.role === 'user') {
      lastUser = i;
      break;
    }
  }
  const first = collectSearchResults(req).find((r) => r.messageIndex === lastUser);
  if (!first) return escalateToolUse({ reason: 'no search results', category: 'out_of_scope' });
  return citedAnswer([{ text: firstSentence(first.texts[0] ?? ''), cite: { searchResultIndex: first.index } }]);
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

function requestId(): string {
  return `req_01${base62(22)}`;
}

function anthropicError(
  res: ServerResponse,
  status: number,
  type: AnthropicErrorType,
  message: string,
  extraHeaders: Record<string, string> = {},
): void {
  const id = requestId();
  sendJson(res, status, { type: 'error', error: { type, message }, request_id: id }, { 'request-id': id, ...extraHeaders });
}

function approxTokens(value: unknown): number {
  const s = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  return Math.max(1, Math.ceil(s.length / 4));
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  let latencyMs = opts.latencyMs ?? 0;
  const queue: FakeReplyInput[] = [];
  const requests: MessageCreateParams[] = [];
  let customDefault: FakeReplyInput | null = null;

  async function respond(res: ServerResponse, req: MessageCreateParams, reply: FakeReply): Promise<void> {
    if (reply.kind === 'slow') {
      await running.sleep(reply.ms);
      return respond(res, req, reply.reply);
    }
    if (reply.kind === 'error') {
      const headers: Record<string, string> = {};
      if (reply.retryAfterSeconds !== undefined) headers['retry-after'] = String(reply.retryAfterSeconds);
      return anthropicError(res, reply.status, reply.type, reply.message, headers);
    }
    const { content, stop_reason } = reply.build(req);
    const outputText = content.map((b) => (b.type === 'text' ? b.text : JSON.stringify(b))).join('');
    const message: Anthropic.Message = {
      id: `msg_01${base62(22)}`,
      type: 'message',
      role: 'assistant',
      model: req.model,
      content,
      stop_reason,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: {
        input_tokens: approxTokens([req.system ?? '', req.messages, req.tools ?? []]),
        output_tokens: approxTokens(outputText),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        inference_geo: null,
        output_tokens_details: null,
        server_tool_use: null,
        service_tier: 'standard',
        speed: null,
      },
    };
    sendJson(res, 200, message, { 'request-id': requestId() });
  }

  const running = await startServer(async (req, res, raw) => {
    await running.sleep(latencyMs);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/messages') {
      return anthropicError(res, 404, 'not_found_error', `Not found: ${req.method ?? '?'} ${path ?? ''}`);
    }
    // Older SDKs send `x-api-key`; the installed @anthropic-ai/sdk 1.x sends `Authorization: Bearer <apiKey>`.
    const bearer = /^Bearer\s+\S+/i.test(req.headers.authorization ?? '');
    if (!req.headers['x-api-key'] && !bearer) {
      return anthropicError(res, 401, 'authentication_error', 'x-api-key header is required');
    }
    if (!req.headers['anthropic-version']) {
      return anthropicError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    let body: MessageCreateParams;
    try {
      body = JSON.parse(raw.toString('utf8')) as MessageCreateParams;
    } catch {
      return anthropicError(res, 400, 'invalid_request_error', 'There was an issue with your request body: invalid JSON');
    }
    if (typeof body !== 'object' || body === null) {
      return anthropicError(res, 400, 'invalid_request_error', 'request body must be an object');
    }
    requests.push(body);
    if (body.stream === true) {
      return anthropicError(res, 400, 'invalid_request_error', 'stream: streaming is not supported by this fake');
    }
    for (const field of ['model', 'max_tokens', 'messages'] as const) {
      if (body[field] === undefined) return anthropicError(res, 400, 'invalid_request_error', `${field}: Field required`);
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return anthropicError(res, 400, 'invalid_request_error', 'messages: at least one message is required');
    }
    const next = queue.shift() ?? customDefault ?? defaultReply;
    const reply = typeof next === 'function' ? next(body) : next;
    return respond(res, body, reply);
  });

  return {
    url: running.origin,
    requests,
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = ms;
    },
    enqueue(...replies: FakeReplyInput[]) {
      queue.push(...replies);
    },
    setDefaultReply(reply: FakeReplyInput | null) {
      customDefault = reply;
    },
    get pending() {
      return queue.length;
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
      customDefault = null;
    },
    close: () => running.close(),
  };
}

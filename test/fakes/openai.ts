/**
 * Fake OpenAI API (embeddings + audio transcriptions) speaking the real wire format, so the
 * official `openai` SDK can be pointed at it with `new OpenAI({ baseURL: fake.url })`.
 *
 * Embeddings are a deterministic hashed bag-of-words (see `fakeEmbedding`), so texts sharing
 * words are close in cosine space — good enough for retrieval tests without a real model.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer, sendJson, send, hex } from './http.js';

export interface FakeOpenAIOptions {
  /** Artificial latency added before every response (ms). Default 0. */
  latencyMs?: number;
  /** Dimensions used when the request has no `dimensions`. Default 1536. */
  defaultDimensions?: number;
}

export interface FakeOpenAIStats {
  /** Successfully answered POST /v1/embeddings requests. */
  embeddingRequests: number;
  /** Total number of inputs embedded across those requests. */
  embeddedInputs: number;
  /** Successfully answered POST /v1/audio/transcriptions requests. */
  transcriptionRequests: number;
  /** Requests answered with an injected error (failNext). */
  failedRequests: number;
}

/** JSON body of an embeddings request as received (note: the SDK adds `encoding_format: 'base64'`). */
export interface ReceivedEmbeddingRequest {
  input: string | string[] | number[] | number[][];
  model: string;
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  user?: string;
}

export interface ReceivedTranscription {
  model: string;
  language: string | null;
  responseFormat: string | null;
  prompt: string | null;
  filename: string;
  contentType: string;
  /** Size of the uploaded file in bytes. */
  size: number;
}

export interface FailNextOptions {
  /** Adds a `retry-after-ms` header (honoured by the SDK's retry logic). */
  retryAfterMs?: number;
  message?: string;
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1` — use as OPENAI_BASE_URL. */
  readonly url: string;
  /** Snapshot of the counters. */
  readonly stats: FakeOpenAIStats;
  /** Every embeddings request body that was answered successfully, in order. */
  readonly embeddingRequests: readonly ReceivedEmbeddingRequest[];
  /** Every transcription request that was answered successfully, in order. */
  readonly transcriptions: readonly ReceivedTranscription[];
  /** Artificial latency (ms), mutable at runtime. */
  latencyMs: number;
  /** Text returned by the next transcriptions (default "what time should I arrive"). */
  setTranscript(text: string): void;
  /** The next `count` requests (any endpoint) answer `status` with an OpenAI-shaped error. */
  failNext(status: number, count?: number, opts?: FailNextOptions): void;
  /** Clears counters, recorded requests, pending failures and the transcript. */
  reset(): void;
  close(): Promise<void>;
}

export const DEFAULT_TRANSCRIPT = 'what time should I arrive';

// ---------------------------------------------------------------------------------------------
// Deterministic embedding
// ---------------------------------------------------------------------------------------------

const SUFFIXES = ['ing', 'ed', 'es', 's'] as const;

function letterCount(s: string): number {
  return [...s].length;
}

/** Crude stemmer: strip one of -ing/-ed/-es/-s (not -ss), then a trailing -e, keeping >= 3 letters. */
export function fakeStem(word: string): string {
  let w = word;
  for (const suf of SUFFIXES) {
    if (!w.endsWith(suf)) continue;
    if (suf === 's' && w.endsWith('ss')) continue;
    if (letterCount(w) - suf.length < 3) continue;
    w = w.slice(0, -suf.length);
    break;
  }
  if (w.endsWith('e') && letterCount(w) - 1 >= 3) w = w.slice(0, -1);
  return w;
}

/** Tokens that feed the embedding: lowercase `\p{L}+` runs of >= 3 letters, stemmed. */
export function fakeTokens(text: string): string[] {
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  return words.filter((w) => letterCount(w) >= 3).map(fakeStem);
}

const encoder = new TextEncoder();

/** 32-bit FNV-1a over the UTF-8 bytes of `s`. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of encoder.encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function vectorFromTokens(tokens: readonly string[], dims: number): number[] {
  const v = new Float64Array(dims);
  for (const tok of tokens) {
    const bucket = fnv1a(tok) % dims;
    const sign = (fnv1a(`sign:${tok}`) & 1) === 0 ? 1 : -1;
    v[bucket] = (v[bucket] ?? 0) + sign;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  if (norm === 0) {
    v[0] = 1; // fixed component for texts without usable words
    norm = 1;
  }
  const inv = 1 / Math.sqrt(norm);
  // Rounded to float32 so the base64 (float32) and float (JSON) paths yield identical numbers.
  return Array.from(v, (x) => Math.fround(x * inv));
}

/**
 * The exact vector the fake returns for `text` with `dims` dimensions: hashed bag of words,
 * signed buckets, L2-normalised, float32-rounded. Pure and deterministic.
 */
export function fakeEmbedding(text: string, dims: number): number[] {
  return vectorFromTokens(fakeTokens(text), dims);
}

export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function toBase64Float32(v: readonly number[]): string {
  const buf = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

function openAIError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { message, type, param, code } }, { 'x-request-id': `req_${hex(32)}`, ...headers });
}

function injectedError(res: ServerResponse, status: number, opts: FailNextOptions): void {
  const headers: Record<string, string> = {};
  if (opts.retryAfterMs !== undefined) headers['retry-after-ms'] = String(opts.retryAfterMs);
  if (status === 429) {
    openAIError(
      res,
      429,
      opts.message ?? 'Rate limit reached for requests (fake). Please try again later.',
      'rate_limit_exceeded',
      'rate_limit_exceeded',
      null,
      headers,
    );
  } else if (status >= 500) {
    openAIError(
      res,
      status,
      opts.message ?? 'The server had an error while processing your request. Sorry about that! (fake)',
      'server_error',
      'server_error',
      null,
      headers,
    );
  } else {
    openAIError(res, status, opts.message ?? `Injected error ${status} (fake)`, 'invalid_request_error', null, null, headers);
  }
}

function approxTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const defaultDimensions = opts.defaultDimensions ?? 1536;
  let latencyMs = opts.latencyMs ?? 0;
  let transcript = DEFAULT_TRANSCRIPT;
  const failures: Array<{ status: number; opts: FailNextOptions }> = [];
  const stats: FakeOpenAIStats = { embeddingRequests: 0, embeddedInputs: 0, transcriptionRequests: 0, failedRequests: 0 };
  const embeddingRequests: ReceivedEmbeddingRequest[] = [];
  const transcriptions: ReceivedTranscription[] = [];

  async function handleEmbeddings(res: ServerResponse, raw: Buffer): Promise<void> {
    let body: Partial<ReceivedEmbeddingRequest>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Partial<ReceivedEmbeddingRequest>;
    } catch {
      return openAIError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
    }
    if (typeof body.model !== 'string' || body.model === '') {
      return openAIError(res, 400, 'you must provide a model parameter', 'invalid_request_error', null);
    }
    // Normalise input to a list of token lists.
    const input = body.input;
    let items: string[][];
    if (typeof input === 'string') {
      items = [fakeTokens(input)];
      if (input === '') items = [];
    } else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')) {
      items = [(input as number[]).map((n) => `#${n}`)];
    } else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string' && x !== '')) {
      items = (input as string[]).map(fakeTokens);
    } else if (Array.isArray(input) && input.length > 0 && input.every((x) => Array.isArray(x) && x.length > 0)) {
      items = (input as number[][]).map((ids) => ids.map((n) => `#${n}`));
    } else {
      items = [];
    }
    if (items.length === 0) {
      return openAIError(res, 400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'invalid_request_error', null);
    }
    if (items.length > 2048) {
      return openAIError(res, 400, "'$.input' is invalid: array must be 2048 items or fewer.", 'invalid_request_error', null, 'input');
    }
    const dims = body.dimensions ?? defaultDimensions;
    if (!Number.isInteger(dims) || dims < 1) {
      return openAIError(res, 400, `Invalid value for 'dimensions' = ${String(dims)}. Must be an integer >= 1.`, 'invalid_request_error', null, 'dimensions');
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      return openAIError(res, 400, `Invalid value for 'encoding_format': '${String(format)}'.`, 'invalid_request_error', null, 'encoding_format');
    }
    const texts: string[] = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((x) => typeof x === 'string') ? (input as string[]) : [];
    const promptTokens = texts.length > 0 ? texts.reduce((n, t) => n + approxTokens(t), 0) : items.reduce((n, t) => n + t.length, 0);

    embeddingRequests.push(body as ReceivedEmbeddingRequest);
    stats.embeddingRequests++;
    stats.embeddedInputs += items.length;
    sendJson(
      res,
      200,
      {
        object: 'list',
        data: items.map((tokens, index) => {
          const vec = vectorFromTokens(tokens, dims);
          return { object: 'embedding', index, embedding: format === 'base64' ? toBase64Float32(vec) : vec };
        }),
        model: body.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      },
      { 'x-request-id': `req_${hex(32)}`, 'openai-model': body.model },
    );
  }

  async function handleTranscription(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) {
      return openAIError(res, 400, 'Invalid Content-Type header (expected multipart/form-data)', 'invalid_request_error', null);
    }
    let form: FormData;
    try {
      form = await new Request('http://fake.local/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: new Uint8Array(raw),
      }).formData();
    } catch (err) {
      return openAIError(res, 400, `Could not parse multipart form: ${String(err)}`, 'invalid_request_error', null);
    }
    const file = form.get('file');
    const model = form.get('model');
    if (file === null || typeof file === 'string') {
      return openAIError(res, 400, "Missing required parameter: 'file'.", 'invalid_request_error', 'missing_required_parameter', 'file');
    }
    if (typeof model !== 'string' || model === '') {
      return openAIError(res, 400, "Missing required parameter: 'model'.", 'invalid_request_error', 'missing_required_parameter', 'model');
    }
    const str = (k: string): string | null => {
      const v = form.get(k);
      return typeof v === 'string' ? v : null;
    };
    const responseFormat = str('response_format');
    transcriptions.push({
      model,
      language: str('language'),
      responseFormat,
      prompt: str('prompt'),
      filename: file.name,
      contentType: file.type,
      size: file.size,
    });
    stats.transcriptionRequests++;
    const headers = { 'x-request-id': `req_${hex(32)}` };
    const seconds = Math.max(1, Math.round(file.size / 4000));
    switch (responseFormat ?? 'json') {
      case 'text':
        return send(res, 200, `${transcript}\n`, 'text/plain; charset=utf-8', headers);
      case 'srt':
        return send(res, 200, `1\n00:00:00,000 --> 00:00:0${Math.min(seconds, 9)},000\n${transcript}\n\n`, 'text/plain; charset=utf-8', headers);
      case 'vtt':
        return send(res, 200, `WEBVTT\n\n00:00:00.000 --> 00:00:0${Math.min(seconds, 9)}.000\n${transcript}\n\n`, 'text/vtt; charset=utf-8', headers);
      case 'verbose_json':
        return sendJson(
          res,
          200,
          {
            task: 'transcribe',
            language: str('language') ?? 'english',
            duration: seconds,
            text: transcript,
            segments: [],
            usage: { type: 'duration', seconds },
          },
          headers,
        );
      case 'json':
        return sendJson(res, 200, { text: transcript, usage: { type: 'duration', seconds } }, headers);
      default:
        return openAIError(res, 400, `Invalid value for 'response_format': '${responseFormat ?? ''}'.`, 'invalid_request_error', null, 'response_format');
    }
  }

  const running = await startServer(async (req, res, raw) => {
    await running.sleep(latencyMs);
    const path = (req.url ?? '/').split('?')[0];

    const failure = failures.shift();
    if (failure) {
      stats.failedRequests++;
      return injectedError(res, failure.status, failure.opts);
    }
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ') || auth.length <= 'Bearer '.length) {
      return openAIError(res, 401, "You didn't provide an API key.", 'invalid_request_error', 'invalid_api_key');
    }
    if (req.method === 'POST' && path === '/v1/embeddings') return handleEmbeddings(res, raw);
    if (req.method === 'POST' && path === '/v1/audio/transcriptions') return handleTranscription(req, res, raw);
    return openAIError(res, 404, `Invalid URL (${req.method ?? '?'} ${path ?? ''})`, 'invalid_request_error', null);
  });

  return {
    url: `${running.origin}/v1`,
    get stats() {
      return { ...stats };
    },
    embeddingRequests,
    transcriptions,
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = ms;
    },
    setTranscript(text: string) {
      transcript = text;
    },
    failNext(status: number, count = 1, failOpts: FailNextOptions = {}) {
      for (let i = 0; i < count; i++) failures.push({ status, opts: failOpts });
    },
    reset() {
      stats.embeddingRequests = 0;
      stats.embeddedInputs = 0;
      stats.transcriptionRequests = 0;
      stats.failedRequests = 0;
      embeddingRequests.length = 0;
      transcriptions.length = 0;
      failures.length = 0;
      transcript = DEFAULT_TRANSCRIPT;
    },
    close: () => running.close(),
  };
}

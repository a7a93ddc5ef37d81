/**
 * The only module that talks to OpenAI: embeddings for ingest and retrieval, transcription
 * for voice notes. Returns plain data and throws our own errors.
 */
import OpenAI, { toFile } from 'openai';
import { AppError, EmbeddingError, ErrorIds } from '../errors/index.js';

export interface Embedder {
  readonly model: string;
  readonly dimensions: number;
  /** Embeds texts in order; batches, parallel requests and retries are its business. */
  embed(texts: string[], onBatch?: (done: number, total: number) => void): Promise<number[][]>;
  /**
   * Optional: the same requests as `embed`, but each batch's vectors are handed over as soon as
   * they arrive (`offset` into `texts`), so a caller can store them while the rest is embedded.
   * When `onVectors` throws, no further request is started and the call rejects with that error.
   */
  embedEach?(texts: string[], onVectors: (offset: number, vectors: number[][]) => void): Promise<void>;
}

export interface Transcriber {
  transcribe(audio: Buffer, fileName: string, contentType: string): Promise<string>;
}

export interface OpenAISettings {
  apiKey: string;
  baseURL: string | undefined;
  embeddingModel: string;
  dimensions: number;
  batchSize: number;
  concurrency: number;
  transcriptionModel: string;
}

function client(settings: OpenAISettings, timeoutMs: number): OpenAI {
  // The SDK retries 408/409/429/5xx itself with exponential backoff (honouring Retry-After).
  return new OpenAI({ apiKey: settings.apiKey, baseURL: settings.baseURL, maxRetries: 4, timeout: timeoutMs });
}

function statusOf(error: unknown): number | undefined {
  return error instanceof OpenAI.APIError ? error.status : undefined;
}

/**
 * OpenAI caps one embeddings request at 2048 inputs and 300k tokens. A token is at least one
 * UTF-8 byte, so a request of at most 300k bytes is within the token cap whatever the language.
 */
const MAX_INPUTS_PER_REQUEST = 2048;
const MAX_BYTES_PER_REQUEST = 300_000;

/** Consecutive texts grouped into requests: at most `batchSize` inputs, within the API's caps. */
function requestBatches(texts: string[], batchSize: number): Array<{ offset: number; texts: string[] }> {
  const maxInputs = Math.max(1, Math.min(batchSize, MAX_INPUTS_PER_REQUEST));
  const batches: Array<{ offset: number; texts: string[] }> = [];
  let current: { offset: number; texts: string[] } = { offset: 0, texts: [] };
  let bytes = 0;
  texts.forEach((text, i) => {
    const size = Buffer.byteLength(text);
    if (current.texts.length > 0 && (current.texts.length >= maxInputs || bytes + size > MAX_BYTES_PER_REQUEST)) {
      batches.push(current);
      current = { offset: i, texts: [] };
      bytes = 0;
    }
    current.texts.push(text);
    bytes += size;
  });
  if (current.texts.length > 0) batches.push(current);
  return batches;
}

export function createOpenAIEmbedder(settings: OpenAISettings): Embedder {
  const openai = client(settings, 60_000);
  const embedBatch = async (batch: string[]): Promise<number[][]> => {
    try {
      const response = await openai.embeddings.create({
        model: settings.embeddingModel,
        input: batch,
        dimensions: settings.dimensions,
      });
      const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      if (vectors.length !== batch.length || vectors.some((v) => v.length !== settings.dimensions)) {
        throw new EmbeddingError(`Embedding response had ${vectors.length} vectors of ${vectors[0]?.length ?? 0} dimensions; expected ${batch.length} of ${settings.dimensions}`);
      }
      return vectors;
    } catch (error) {
      if (error instanceof EmbeddingError) throw error;
      const status = statusOf(error);
      throw new EmbeddingError(`Embedding request failed${status ? ` with HTTP ${status}` : ''}: ${(error as Error).message}`, {
        cause: error,
        context: { status, model: settings.embeddingModel },
        retryable: status === undefined || status === 429 || status >= 500,
      });
    }
  };

  const embedEach = async (texts: string[], onVectors: (offset: number, vectors: number[][]) => void): Promise<void> => {
    const batches = requestBatches(texts, settings.batchSize);
    let next = 0;
    let failed = false;
    // A small pool: `concurrency` requests in flight. After a failure no new request starts:
    // the call fails anyway, and later batches would only spend quota.
    const worker = async () => {
      while (next < batches.length && !failed) {
        const batch = batches[next++]!;
        try {
          onVectors(batch.offset, await embedBatch(batch.texts));
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    // Settles only once no request is in flight, so no vectors arrive after a failure is reported.
    const outcomes = await Promise.allSettled(Array.from({ length: Math.min(settings.concurrency, batches.length) }, worker));
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  };

  return {
    model: settings.embeddingModel,
    dimensions: settings.dimensions,
    embedEach,
    async embed(texts, onBatch) {
      const vectors: number[][] = new Array(texts.length);
      let done = 0;
      await embedEach(texts, (offset, batch) => {
        batch.forEach((v, i) => (vectors[offset + i] = v));
        done += batch.length;
        onBatch?.(done, texts.length);
      });
      return vectors;
    },
  };
}

export function createOpenAITranscriber(settings: OpenAISettings): Transcriber {
  const openai = client(settings, 120_000);
  return {
    async transcribe(audio, fileName, contentType) {
      try {
        const result = await openai.audio.transcriptions.create({
          file: await toFile(audio, fileName, { type: contentType }),
          model: settings.transcriptionModel,
        });
        return result.text.trim();
      } catch (error) {
        const status = statusOf(error);
        throw new AppError(ErrorIds.transcriptionFailed, `Transcription failed${status ? ` with HTTP ${status}` : ''}: ${(error as Error).message}`, {
          cause: error,
          context: { status },
          retryable: status === undefined || status === 429 || status >= 500,
        });
      }
    },
  };
}

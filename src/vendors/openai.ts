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

  return {
    model: settings.embeddingModel,
    dimensions: settings.dimensions,
    async embed(texts, onBatch) {
      const batches: string[][] = [];
      for (let i = 0; i < texts.length; i += settings.batchSize) batches.push(texts.slice(i, i + settings.batchSize));
      const results: number[][][] = new Array(batches.length);
      let next = 0;
      let done = 0;
      // A small pool: `concurrency` requests in flight, results kept in input order.
      const worker = async () => {
        while (next < batches.length) {
          const index = next++;
          results[index] = await embedBatch(batches[index]!);
          done += batches[index]!.length;
          onBatch?.(done, texts.length);
        }
      };
      await Promise.all(Array.from({ length: Math.min(settings.concurrency, batches.length) }, worker));
      return results.flat();
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

/**
 * Scenario 4 — retrieval. Hybrid retrieval (`retrieveContext`: full-text + pgvector HNSW,
 * RRF) at growing knowledge-base sizes, beside the floor — a bare pgvector nearest-neighbour
 * query on the same table and index — and beside LangChain's `PGVectorStore.similaritySearch`
 * on its own table holding the same chunks and vectors. Query vectors are computed once
 * through the fake embedder and served from a cache to every contender, so the figures are
 * the database and our code, not the embeddings API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import { Embeddings } from '@langchain/core/embeddings';
import { ingestKnowledge } from '../../src/knowledge/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { retrieveContext } from '../../src/rag/index.js';
import type { Embedder } from '../../src/vendors/openai.js';
import { corpusGenerator, writeCorpus } from '../lib/corpus.js';
import { openBenchDatabase } from '../lib/embedded-db.js';
import { ratio, round, summarize, type Summary } from '../lib/stats.js';
import type { Upstreams } from '../lib/upstreams.js';

export interface RetrievalOptions {
  /** Knowledge-base sizes in chunks (about five chunks per file). */
  sizes: number[];
  dims: number;
  queries: number;
  warmup: number;
  topK: number;
  seed: number;
}

export interface RetrievalPass {
  floor: Summary;
  hybrid: Summary;
  langchain: Summary;
  ratios: { hybridVsFloorP95: number; hybridVsFloorP50: number; langchainVsFloorP95: number; hybridVsLangchainP95: number };
}

export interface RetrievalSize {
  chunks: number;
  setupMs: number;
  /** Questions seen for the first time (their words' document frequencies are looked up). */
  firstSight: RetrievalPass;
  /** The same questions again (document frequencies cached for this knowledge version). */
  repeated: RetrievalPass;
}

export interface RetrievalResult {
  dims: number;
  topK: number;
  queries: number;
  sizes: RetrievalSize[];
}

/** LangChain's embeddings interface over the precomputed query vectors. */
class CachedEmbeddings extends Embeddings {
  constructor(private readonly vectors: Map<string, number[]>) {
    super({});
  }
  override async embedDocuments(texts: string[]): Promise<number[][]> {
    return Promise.all(texts.map((t) => this.embedQuery(t)));
  }
  override async embedQuery(text: string): Promise<number[]> {
    const vector = this.vectors.get(text);
    if (!vector) throw new Error(`no precomputed vector for ${JSON.stringify(text)}`);
    return vector;
  }
}

function cachedEmbedder(model: string, dims: number, vectors: Map<string, number[]>): Embedder {
  return {
    model,
    dimensions: dims,
    async embed(texts) {
      return texts.map((t) => {
        const vector = vectors.get(t);
        if (!vector) throw new Error(`no precomputed vector for ${JSON.stringify(t)}`);
        return vector;
      });
    },
  };
}

export async function runRetrieval(options: RetrievalOptions, upstreams: Upstreams): Promise<RetrievalResult> {
  const dims = Math.trunc(options.dims);
  const bench = await openBenchDatabase({ embedUrl: upstreams.openai.url, dims, command: 'bench retrieval' });
  const { db, embedder } = bench;
  const corpusDir = await mkdtemp(path.join(tmpdir(), 'groundline-bench-retrieval-'));
  const generator = corpusGenerator(options.seed);
  const questions = Array.from({ length: options.warmup + options.queries }, (_, i) => generator.question(i));
  const vectors = new Map<string, number[]>();
  (await embedder.embed(questions)).forEach((v, i) => vectors.set(questions[i]!, v));
  const queryEmbedder = cachedEmbedder(embedder.model, dims, vectors);
  const store = await PGVectorStore.initialize(new CachedEmbeddings(vectors), {
    postgresConnectionOptions: { ...bench.pgOptions, max: 4 },
    tableName: 'langchain_retrieval',
    dimensions: dims,
    distanceStrategy: 'cosine',
  });
  const sizes: RetrievalSize[] = [];
  try {
    let files = 0;
    let copiedUpTo = 0;
    for (const size of options.sizes) {
      const setupStarted = performance.now();
      const target = Math.round(size / 5);
      await writeCorpus(corpusDir, generator, files, target);
      files = target;
      // Each size is indexed in one pass, as a first ingest would: drop the HNSW indexes so
      // the ingest (ours) and createHnswIndex (LangChain's) build them over all rows.
      await db.query(`DROP INDEX IF EXISTS chunks_embedding_hnsw_${dims}`);
      const summary = await ingestKnowledge(
        { db, embedder, logger: silentLogger },
        { dir: corpusDir, kb: 'bench', chunking: { chunkSize: bench.config.knowledge.chunkSize, chunkOverlap: bench.config.knowledge.chunkOverlap }, maxDocumentBytes: bench.config.knowledge.maxDocumentBytes },
      );
      // LangChain's table gets the same chunks (the text we embed is title + heading + content)
      // and the very same vectors.
      const [{ max } = { max: copiedUpTo }] = await db.query<{ max: string | null }>('SELECT max(id)::text AS max FROM chunks');
      await db.query(
        `INSERT INTO langchain_retrieval (text, metadata, embedding)
         SELECT title || E'\\n' || heading_path || E'\\n\\n' || content, jsonb_build_object('source', source, 'heading', heading_path), embedding::vector(${dims})
           FROM chunks WHERE kb = 'bench' AND id > $1 AND retired_in IS NULL ORDER BY id`,
        [copiedUpTo],
      );
      copiedUpTo = Number(max ?? copiedUpTo);
      await db.query('DROP INDEX IF EXISTS embedding_embedding_hnsw_idx');
      await store.createHnswIndex({ dimensions: dims });
      const setupMs = round(performance.now() - setupStarted, 0);

      const contenders: Record<'floor' | 'hybrid' | 'langchain', (q: string) => Promise<unknown>> = {
        floor: (q) =>
          db.query(
            `SELECT id, content FROM chunks WHERE embedding_dims = ${dims} ORDER BY embedding::vector(${dims}) <=> $1::vector(${dims}) LIMIT $2`,
            [`[${vectors.get(q)!.join(',')}]`, options.topK],
          ),
        hybrid: (q) => retrieveContext({ db, embedder: queryEmbedder }, { kb: 'bench', question: q, topK: options.topK }),
        langchain: (q) => store.similaritySearch(q, options.topK),
      };
      const names = Object.keys(contenders) as Array<keyof typeof contenders>;
      const measurePass = async (warmup: number): Promise<RetrievalPass> => {
        const samples: Record<string, number[]> = { floor: [], hybrid: [], langchain: [] };
        for (const [i, q] of questions.entries()) {
          // Interleaved, in a rotating order: drift on a busy machine hits every contender alike.
          for (let k = 0; k < names.length; k += 1) {
            const name = names[(i + k) % names.length]!;
            const started = performance.now();
            await contenders[name](q);
            if (i >= warmup) samples[name]!.push(performance.now() - started);
          }
        }
        const floor = summarize(samples.floor!);
        const hybrid = summarize(samples.hybrid!);
        const langchain = summarize(samples.langchain!);
        return {
          floor,
          hybrid,
          langchain,
          ratios: {
            hybridVsFloorP95: ratio(hybrid.p95, floor.p95),
            hybridVsFloorP50: ratio(hybrid.p50, floor.p50),
            langchainVsFloorP95: ratio(langchain.p95, floor.p95),
            hybridVsLangchainP95: ratio(hybrid.p95, langchain.p95),
          },
        };
      };
      const firstSight = await measurePass(options.warmup);
      const repeated = await measurePass(options.warmup);
      sizes.push({ chunks: summary.chunks, setupMs, firstSight, repeated });
    }
  } finally {
    await store.end();
    await bench.close();
    await rm(corpusDir, { recursive: true, force: true });
  }
  return { dims, topK: options.topK, queries: options.queries, sizes };
}

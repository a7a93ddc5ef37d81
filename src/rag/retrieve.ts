/**
 * Hybrid retrieval over the current knowledge version: full-text ranking (in memory, per
 * version: see lexical-index.ts) and pgvector nearest neighbours, fused with reciprocal-rank
 * fusion in one SQL statement that returns only the chunks kept. Full-text only when no
 * embedder is configured or the knowledge base has no embeddings.
 */
import { textSearchConfig } from '../knowledge/index.js';
import { vectorBinary, vectorText, type Database, type Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { chunkHolds, documentFrequency, lexicalIndex, rankFullText, type LexicalIndex, type RankedChunk } from './lexical-index.js';
import type { Retrieval, RetrievedChunk, Turn } from './types.js';

const RRF_K = 60;

export interface RetrieveOptions {
  kb: string;
  question: string;
  history?: Turn[];
  topK: number;
  /** A specific version (evaluation of an unpublished version); the current one by default. */
  version?: number;
}

export interface RetrieveDeps {
  /** With engine 'postgres' (pg), the query vector travels in binary. */
  db: Queryable & { engine?: Database['engine'] };
  embedder: Embedder | undefined;
}

/**
 * The retrieval query: a follow-up ("and coffee?") only makes sense with what came before,
 * so the last user turns are prepended to the question.
 */
export function buildRetrievalQuery(question: string, history: Turn[] = [], turns = 2): string {
  const previous = history.filter((t) => t.role === 'user').slice(-turns).map((t) => t.content);
  return [...previous, question].join('\n');
}

const tokens = (text: string) => [...new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1))];

/**
 * The question's content words, each with its stem in every text-search configuration the
 * version uses (stems[c] belongs to configs[c]). A chunk is only matched by the stem of its
 * own language: the Spanish stem of "shower" ("show") must not match English "shows".
 */
interface QueryTerms {
  words: string[][];
  /** Whether each word is in the latest question (not only in the history prepended to it). */
  inQuestion: boolean[];
  /** idf weight of each word (BM25's): "shower" says much more than "surgery" in a clinic's FAQ. */
  weights: number[];
}

/** Stems per configuration and word: Postgres' stemmers never change their mind. */
const stemCache = new Map<string, string | null>();
const STEM_CACHE_LIMIT = 200_000;

async function stems(db: Queryable, configs: string[], words: string[]): Promise<Map<string, Array<string | null>>> {
  const key = (config: string, word: string) => `${config}\u0001${word}`;
  const missing = words.filter((w) => configs.some((config) => !stemCache.has(key(config, w))));
  if (missing.length > 0) {
    const rows = await db.query<{ word: string; stems: Array<string | null> }>(
      `SELECT w.word, ARRAY[${configs.map((_, i) => `(tsvector_to_array(to_tsvector($${i + 2}::regconfig, w.word)))[1]`).join(', ')}] AS stems
         FROM unnest($1::text[]) AS w(word)`,
      [missing, ...configs],
    );
    if (stemCache.size > STEM_CACHE_LIMIT) stemCache.clear();
    for (const row of rows) configs.forEach((config, c) => stemCache.set(key(config, row.word), row.stems[c] ?? null));
  }
  return new Map(words.map((w) => [w, configs.map((config) => stemCache.get(key(config, w)) ?? null)]));
}

async function queryTerms(db: Queryable, index: LexicalIndex, query: string, question: string): Promise<QueryTerms> {
  const words = tokens(query).slice(0, 64);
  if (words.length === 0 || index.configs.length === 0) return { words: [], inQuestion: [], weights: [] };
  const stemmed = await stems(db, index.configs, words);
  // A word that any configuration treats as a stop word ("before", "de") carries no topic.
  const content = words.filter((w) => stemmed.get(w)!.every((s) => s !== null));
  const asked = new Set(tokens(question));
  const termStems = content.map((w) => stemmed.get(w) as string[]);
  const n = index.size;
  return {
    words: termStems,
    inQuestion: content.map((w) => asked.has(w)),
    weights: termStems.map((s) => {
      const df = documentFrequency(index, s);
      return Math.log(1 + (n - df + 0.5) / (df + 0.5));
    }),
  };
}

/** Share of the question's words (idf-weighted) found in a chunk. */
function coverage(index: LexicalIndex, terms: QueryTerms, chunkId: number, config: string): number {
  const ordinal = index.ordinalOf.get(chunkId);
  const c = index.configs.indexOf(config);
  if (ordinal === undefined || c === -1) return 0;
  // The latest question's own words decide; history words only when it has none ("and?").
  const own = terms.inQuestion.some(Boolean);
  let total = 0;
  let found = 0;
  terms.words.forEach((word, i) => {
    if (own && !terms.inQuestion[i]) return;
    total += terms.weights[i]!;
    if (chunkHolds(index, ordinal, c, word)) found += terms.weights[i]!;
  });
  return total === 0 ? 0 : found / total;
}

interface FusedRow {
  version: string | number | null;
  vector_hits: string | number;
  id: string | number | null;
  source: string;
  title: string;
  heading_path: string;
  content: string;
  config: string;
  score: number;
  similarity: number | null;
}

interface VectorLeg {
  vector: number[];
  dims: number;
  model: string;
  limit: number;
}

/**
 * One statement: the version (the current one unless given), its nearest neighbours, the
 * fusion with the full-text ranking (ids in rank order), and the text of the top-k only.
 */
/** The query vector as a parameter: binary over `pg`, text to PGlite in-process (see store/vector.ts). */
function vectorParameter(engine: Database['engine'] | undefined, vector: number[]): Buffer | string {
  return engine === 'postgres' ? vectorBinary(vector) : vectorText(vector);
}

async function fuse(db: RetrieveDeps['db'], kb: string, version: number | undefined, textIds: number[], vector: VectorLeg | undefined, topK: number): Promise<FusedRow[]> {
  const params: unknown[] = [kb, textIds, topK];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const kbv = version === undefined ? 'SELECT current_version AS v FROM knowledge_bases WHERE name = $1' : `SELECT ${param(version)}::bigint AS v WHERE $1::text IS NOT NULL`;
  let nearest = 'SELECT NULL::bigint AS id, NULL::float8 AS distance WHERE false';
  if (vector) {
    // Literal dimensions, so the planner matches the partial HNSW index for this size.
    const dims = Math.trunc(vector.dims);
    const distance = `c.embedding::vector(${dims}) <=> ${param(vectorParameter(db.engine, vector.vector))}::vector(${dims})`;
    nearest = `SELECT c.id, ${distance} AS distance FROM chunks c
        WHERE c.kb = $1 AND c.added_in <= (SELECT v FROM kbv) AND (c.retired_in IS NULL OR c.retired_in > (SELECT v FROM kbv))
          AND c.embedding_dims = ${dims} AND c.embedding_model = ${param(vector.model)}
        ORDER BY ${distance} LIMIT ${param(vector.limit)}`;
  }
  return db.query<FusedRow>(
    `WITH kbv AS (${kbv}),
          nn0 AS (${nearest}),
          nn AS (SELECT id, 1 - distance AS similarity, row_number() OVER (ORDER BY distance, id) AS rank FROM nn0),
          ft AS (SELECT t.id, t.rank FROM unnest($2::bigint[]) WITH ORDINALITY AS t(id, rank)),
          fused AS (SELECT COALESCE(ft.id, nn.id) AS id,
                           COALESCE(1::float8 / (${RRF_K} + ft.rank), 0) + COALESCE(1::float8 / (${RRF_K} + nn.rank), 0) AS score,
                           nn.similarity
                      FROM ft FULL JOIN nn ON nn.id = ft.id
                     ORDER BY score DESC, id LIMIT $3)
     SELECT kbv.v AS version, (SELECT count(*) FROM nn) AS vector_hits, c.id, c.source, c.title, c.heading_path, c.content,
            c.ts_config::text AS config, f.score, f.similarity
       FROM kbv LEFT JOIN (fused f JOIN chunks c ON c.id = f.id) ON true
      ORDER BY f.score DESC, c.id`,
    params,
  );
}

/** The version each knowledge base was at on the last question, per database (a guess, checked by every query). */
const lastVersion = new WeakMap<Queryable, Map<string, number>>();

async function currentVersion(db: Queryable, kb: string): Promise<number | null> {
  const [row] = await db.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1', [kb]);
  return row?.current_version == null ? null : Number(row.current_version);
}

/** Loads the current version's full-text index ahead of the first question (start-up). */
export async function prepareRetrieval(db: Queryable, kb: string): Promise<void> {
  const version = await currentVersion(db, kb);
  if (version !== null) await lexicalIndex(db, kb, version);
}

export async function retrieveContext(deps: RetrieveDeps, options: RetrieveOptions): Promise<Retrieval> {
  const query = buildRetrievalQuery(options.question, options.history);
  const candidates = Math.max(options.topK * 4, 20);
  const embedding = deps.embedder ? deps.embedder.embed([query]).then(([v]) => v!) : undefined;
  embedding?.catch(() => undefined); // awaited below; not unhandled while the full-text side runs

  let guesses = lastVersion.get(deps.db);
  if (!guesses) lastVersion.set(deps.db, (guesses = new Map()));
  let version = options.version ?? guesses.get(options.kb) ?? (await currentVersion(deps.db, options.kb));
  for (let attempt = 0; ; attempt += 1) {
    if (version === null) return { knowledgeVersion: null, query, mode: 'full-text', chunks: [] };
    const index = await lexicalIndex(deps.db, options.kb, version);
    const terms = await queryTerms(deps.db, index, query, options.question);
    const ranked: RankedChunk[] = terms.words.length > 0 ? rankFullText(index, terms.words, terms.inQuestion, terms.weights, candidates) : [];
    const vector = embedding && deps.embedder ? { vector: await embedding, dims: deps.embedder.dimensions, model: deps.embedder.model, limit: candidates } : undefined;
    // The current version unless one was asked for: the guess is checked by the statement
    // itself. A retry pins the version it ranked against.
    const pinned = options.version ?? (attempt > 0 ? version : undefined);
    const rows = await fuse(deps.db, options.kb, pinned, ranked.map((r) => r.id), vector, options.topK);
    const actual = rows[0]?.version == null ? null : Number(rows[0].version);
    if (pinned === undefined) {
      if (actual === null) guesses.delete(options.kb);
      else guesses.set(options.kb, actual);
    }
    if (actual !== version && attempt === 0) {
      version = actual; // a new version went live since the last question: rank against it
      continue;
    }
    const fullTextRank = new Map(ranked.map((r) => [r.id, r.rank]));
    const chunks: RetrievedChunk[] = rows
      .filter((r) => r.id !== null)
      .map((row) => ({
        id: String(row.id),
        source: row.source,
        title: row.title,
        heading: row.heading_path,
        content: row.content,
        score: Number(Number(row.score).toFixed(6)),
        fullTextRank: fullTextRank.get(Number(row.id)) ?? null,
        vectorSimilarity: row.similarity === null ? null : Number(row.similarity),
        termCoverage: Number(coverage(index, terms, Number(row.id), row.config).toFixed(3)),
      }));
    return { knowledgeVersion: actual, query, mode: Number(rows[0]?.vector_hits ?? 0) > 0 ? 'hybrid' : 'full-text', chunks };
  }
}

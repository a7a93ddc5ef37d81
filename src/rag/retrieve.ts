/**
 * Hybrid retrieval over the current knowledge version: Postgres full-text search and
 * pgvector nearest neighbours, fused with reciprocal-rank fusion. Full-text only when the
 * knowledge base has no embeddings or no embedder is configured.
 */
import { textSearchConfig } from '../knowledge/index.js';
import type { Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
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

interface Row {
  id: string;
  source: string;
  title: string;
  heading_path: string;
  content: string;
  lexemes: string[];
  rank: number;
}

/** Visible in version v: added at or before v, not yet retired at v. */
const visible = 'c.kb = $1 AND c.added_in <= $2 AND (c.retired_in IS NULL OR c.retired_in > $2)';

/**
 * The retrieval query: a follow-up ("and coffee?") only makes sense with what came before,
 * so the last user turns are prepended to the question.
 */
export function buildRetrievalQuery(question: string, history: Turn[] = [], turns = 2): string {
  const previous = history.filter((t) => t.role === 'user').slice(-turns).map((t) => t.content);
  return [...previous, question].join('\n');
}

async function resolveVersion(db: Queryable, kb: string, version?: number): Promise<number | null> {
  if (version !== undefined) return version;
  const [row] = await db.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1', [kb]);
  return row?.current_version == null ? null : Number(row.current_version);
}

/** Per content word of the query, its stems in every configuration the knowledge base uses. */
async function queryTerms(db: Queryable, kb: string, version: number, query: string): Promise<{ configs: string[]; words: string[][] }> {
  const langs = await db.query<{ lang: string }>(
    'SELECT DISTINCT lang FROM documents c WHERE ' + visible,
    [kb, version],
  );
  const configs = [...new Set(langs.map((l) => textSearchConfig(l.lang)))];
  const words = [...new Set((query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1))].slice(0, 64);
  if (words.length === 0 || configs.length === 0) return { configs, words: [] };
  const rows = await db.query<{ word: string; stems: Array<string | null> }>(
    `SELECT w.word, ARRAY[${configs.map((_, i) => `(tsvector_to_array(to_tsvector($${i + 2}::regconfig, w.word)))[1]`).join(', ')}] AS stems
       FROM unnest($1::text[]) AS w(word)`,
    [words, ...configs],
  );
  // A word that any configuration treats as a stop word ("before", "de") carries no topic.
  const content = rows.filter((r) => r.stems.every((s) => s !== null)).map((r) => [...new Set(r.stems as string[])]);
  return { configs, words: content };
}

function quote(lexeme: string): string {
  return `'${lexeme.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`;
}

async function fullTextSearch(db: Queryable, kb: string, version: number, stems: string[][], limit: number): Promise<Row[]> {
  const lexemes = [...new Set(stems.flat())];
  if (lexemes.length === 0) return [];
  // OR of every stem: FAQ questions rarely share all their words with the answer.
  const tsquery = lexemes.map(quote).join(' | ');
  return db.query<Row>(
    `SELECT c.id, c.source, c.title, c.heading_path, c.content, tsvector_to_array(c.tsv) AS lexemes,
            ts_rank_cd(c.tsv, q.query, 1) AS rank
       FROM chunks c, to_tsquery('simple', $3) AS q(query)
      WHERE ${visible} AND c.tsv @@ q.query
      ORDER BY rank DESC, c.id
      LIMIT $4`,
    [kb, version, tsquery, limit],
  );
}

async function vectorSearch(db: Queryable, kb: string, version: number, embedder: Embedder, query: string, limit: number): Promise<Row[]> {
  const [vector] = await embedder.embed([query]);
  const dims = Math.trunc(embedder.dimensions);
  // Literal dimensions, so the planner matches the partial HNSW index for this size.
  return db.query<Row>(
    `SELECT c.id, c.source, c.title, c.heading_path, c.content, tsvector_to_array(c.tsv) AS lexemes,
            1 - (c.embedding::vector(${dims}) <=> $3::vector(${dims})) AS rank
       FROM chunks c
      WHERE ${visible} AND c.embedding_dims = ${dims} AND c.embedding_model = $4
      ORDER BY c.embedding::vector(${dims}) <=> $3::vector(${dims})
      LIMIT $5`,
    [kb, version, `[${vector!.join(',')}]`, embedder.model, limit],
  );
}

function coverage(stems: string[][], lexemes: string[]): number {
  if (stems.length === 0) return 0;
  const present = new Set(lexemes);
  return stems.filter((word) => word.some((s) => present.has(s))).length / stems.length;
}

export async function retrieveContext(deps: { db: Queryable; embedder: Embedder | undefined }, options: RetrieveOptions): Promise<Retrieval> {
  const query = buildRetrievalQuery(options.question, options.history);
  const version = await resolveVersion(deps.db, options.kb, options.version);
  if (version === null) return { knowledgeVersion: null, query, mode: 'full-text', chunks: [] };

  const candidates = Math.max(options.topK * 4, 20);
  const { words } = await queryTerms(deps.db, options.kb, version, query);
  const [textRows, vectorRows] = await Promise.all([
    fullTextSearch(deps.db, options.kb, version, words, candidates),
    deps.embedder ? vectorSearch(deps.db, options.kb, version, deps.embedder, query, candidates) : Promise.resolve([]),
  ]);

  // Distinct question words matched first, density second: a chunk that repeats "surgery"
  // must not beat the one that also says "coffee".
  textRows.sort((a, b) => coverage(words, b.lexemes) - coverage(words, a.lexemes) || Number(b.rank) - Number(a.rank));
  const fused = new Map<string, { row: Row; score: number; fullTextRank: number | null; vectorSimilarity: number | null }>();
  textRows.forEach((row, i) => fused.set(row.id, { row, score: 1 / (RRF_K + i + 1), fullTextRank: Number(row.rank), vectorSimilarity: null }));
  vectorRows.forEach((row, i) => {
    const entry = fused.get(row.id) ?? { row, score: 0, fullTextRank: null, vectorSimilarity: null };
    entry.score += 1 / (RRF_K + i + 1);
    entry.vectorSimilarity = Number(row.rank);
    fused.set(row.id, entry);
  });

  const chunks: RetrievedChunk[] = [...fused.values()]
    .sort((a, b) => b.score - a.score || Number(a.row.id) - Number(b.row.id))
    .slice(0, options.topK)
    .map(({ row, score, fullTextRank, vectorSimilarity }) => ({
      id: String(row.id),
      source: row.source,
      title: row.title,
      heading: row.heading_path,
      content: row.content,
      score: Number(score.toFixed(6)),
      fullTextRank,
      vectorSimilarity,
      termCoverage: Number(coverage(words, row.lexemes).toFixed(3)),
    }));
  return { knowledgeVersion: version, query, mode: vectorRows.length > 0 ? 'hybrid' : 'full-text', chunks };
}

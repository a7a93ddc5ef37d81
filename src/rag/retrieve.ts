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
  config: string;
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

/**
 * The question's content words, each with its stem in every text-search configuration the
 * knowledge base uses (stems[i] belongs to configs[i]). A chunk is only matched by the stem
 * of its own language: the Spanish stem of "shower" ("show") must not match English "shows".
 */
interface QueryTerms {
  configs: string[];
  words: string[][];
  /** Whether each word is in the latest question (not only in the history prepended to it). */
  inQuestion: boolean[];
}

const tokens = (text: string) => [...new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1))];

/**
 * The languages of a knowledge version, per database: what a version holds never changes
 * once it is built, and scanning its documents on every question costs more than the search.
 */
const languageCache = new WeakMap<Queryable, Map<string, string[]>>();

async function versionLanguages(db: Queryable, kb: string, version: number): Promise<string[]> {
  let cache = languageCache.get(db);
  if (!cache) languageCache.set(db, (cache = new Map()));
  const key = `${kb}@${version}`;
  let langs = cache.get(key);
  if (!langs) {
    langs = (await db.query<{ lang: string }>('SELECT DISTINCT lang FROM documents c WHERE ' + visible, [kb, version])).map((l) => l.lang);
    if (cache.size > 32) cache.clear();
    cache.set(key, langs);
  }
  return langs;
}

async function queryTerms(db: Queryable, kb: string, version: number, query: string, question: string): Promise<QueryTerms> {
  const langs = await versionLanguages(db, kb, version);
  const configs = [...new Set(langs.map((l) => textSearchConfig(l)))].sort();
  const words = tokens(query).slice(0, 64);
  if (words.length === 0 || configs.length === 0) return { configs, words: [], inQuestion: [] };
  const rows = await db.query<{ word: string; stems: Array<string | null> }>(
    `SELECT w.word, ARRAY[${configs.map((_, i) => `(tsvector_to_array(to_tsvector($${i + 2}::regconfig, w.word)))[1]`).join(', ')}] AS stems
       FROM unnest($1::text[]) AS w(word)`,
    [words, ...configs],
  );
  // A word that any configuration treats as a stop word ("before", "de") carries no topic.
  const content = rows.filter((r) => r.stems.every((s) => s !== null));
  const asked = new Set(tokens(question));
  return { configs, words: content.map((r) => r.stems as string[]), inQuestion: content.map((r) => asked.has(r.word)) };
}

function quote(lexeme: string): string {
  return `'${lexeme.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`;
}

/** Full-text ranking keys of a row: compared in this order, all descending. */
interface TextRow extends Row {
  weighted_q: number;
  weighted: number;
}

/**
 * The full-text candidates: per language, an OR of the query's stems (FAQ questions rarely
 * share all their words with the answer). Ranked by the idf-weighted words of the latest
 * question present, then of the whole query (history included: it only decides among
 * those), then by density (the best ts_rank_cd of a single word).
 *
 * `words` limits which words make a chunk a candidate; every word still counts in the
 * ranking. Each word's tsquery is a constant and its weight a parameter, so the per-row work
 * is a few `@@` and `ts_rank_cd` calls; the chunk text and lexemes are read for the top rows only.
 * (The candidates' match stays on `c.tsv`, so the GIN index finds them.)
 */
async function rankedFullText(db: Queryable, kb: string, version: number, terms: QueryTerms, weights: number[], words: number[], limit: number): Promise<TextRow[]> {
  const params: unknown[] = [kb, version, limit];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const tsqueries = new Map<string, string>();
  const tsquery = (stem: string) => {
    let sql = tsqueries.get(stem);
    if (!sql) tsqueries.set(stem, (sql = `to_tsquery('simple', ${param(quote(stem))})`));
    return sql;
  };
  const sum = (parts: string[]) => (parts.length === 0 ? '0::float8' : parts.join(' + '));
  const perConfig = terms.configs.map((config, c) => {
    const cfg = `${param(config)}::regconfig`;
    const all = terms.words.map((word, i) => ({ query: tsquery(word[c]!), weight: param(weights[i]!), asked: terms.inQuestion[i]! }));
    const hit = (t: (typeof all)[number]) => `CASE WHEN v.tsv @@ ${t.query} THEN ${t.weight}::float8 ELSE 0::float8 END`;
    const anyOf = [...new Set(words.map((i) => terms.words[i]![c]!))].map(quote).join(' | ');
    return {
      cfg,
      match: `(c.ts_config = ${cfg} AND c.tsv @@ to_tsquery('simple', ${param(anyOf)}))`,
      rank: `GREATEST(${all.map((t) => `ts_rank_cd(v.tsv, ${t.query}, 1)`).join(', ')})`,
      weighted: sum(all.map(hit)),
      weightedQ: sum(all.filter((t) => t.asked).map(hit)),
    };
  });
  const byConfig = (key: 'rank' | 'weighted' | 'weightedQ') =>
    perConfig.length === 1 ? perConfig[0]![key] : `CASE c.ts_config ${perConfig.map((p) => `WHEN ${p.cfg} THEN ${p[key]}`).join(' ')} END`;
  return db.query<TextRow>(
    `SELECT c.id, c.source, c.title, c.heading_path, c.content, c.ts_config::text AS config, tsvector_to_array(c.tsv) AS lexemes,
            top.rank, top.weighted, top.weighted_q
       FROM (SELECT c.id, ${byConfig('rank')} AS rank, ${byConfig('weighted')} AS weighted, ${byConfig('weightedQ')} AS weighted_q
               -- One working copy of each candidate's tsvector for the many calls on it:
               -- several times faster than reading it from the row for every call.
               FROM chunks c, LATERAL (SELECT c.tsv || ''::tsvector AS tsv OFFSET 0) v
              WHERE ${visible} AND (${perConfig.map((p) => p.match).join(' OR ')})
              ORDER BY weighted_q DESC, weighted DESC, rank DESC, c.id
              LIMIT $3) top
       JOIN chunks c ON c.id = top.id
      ORDER BY top.weighted_q DESC, top.weighted DESC, top.rank DESC, c.id`,
    params,
  );
}

/**
 * Words common enough to skip when looking for candidates (MaxScore): the most frequent
 * words, as long as even all of the question's skipped words together weigh less than any
 * question word that is kept. A chunk holding none of the kept words then ranks below every
 * chunk holding one, so when the candidates of the kept words fill the list with chunks
 * ranked above that bound, the list is exactly the one of the full search.
 */
function skippableWords(terms: QueryTerms, weights: number[], dfs: number[], limit: number): { kept: number[]; bound: number } | undefined {
  const order = terms.words.map((_, i) => i).sort((a, b) => weights[a]! - weights[b]! || a - b);
  let best: { kept: number[]; bound: number } | undefined;
  let bound = 0;
  for (let skip = 1; skip < order.length; skip += 1) {
    const dropped = order[skip - 1]!;
    if (terms.inQuestion[dropped]) bound += weights[dropped]!;
    const kept = order.slice(skip);
    const askedKept = kept.filter((i) => terms.inQuestion[i]);
    if (askedKept.length === 0) break;
    const lightest = Math.min(...askedKept.map((i) => weights[i]!));
    // Enough chunks hold a kept word to fill the list at all (dfs may overlap: a necessary check).
    const reach = kept.reduce((n, i) => n + dfs[i]!, 0);
    if (bound < lightest && reach >= limit) best = { kept, bound };
  }
  return best;
}

async function fullTextSearch(db: Queryable, kb: string, version: number, terms: QueryTerms, weights: number[], dfs: number[], limit: number): Promise<Row[]> {
  if (terms.words.length === 0) return [];
  const pruned = skippableWords(terms, weights, dfs, limit);
  if (pruned) {
    const rows = await rankedFullText(db, kb, version, terms, weights, pruned.kept, limit);
    // Strictly above anything a skipped chunk can reach (with room for float rounding).
    const last = rows[limit - 1];
    if (rows.length === limit && last && Number(last.weighted_q) > pruned.bound + 1e-9 * (1 + pruned.bound)) return rows;
  }
  return rankedFullText(
    db,
    kb,
    version,
    terms,
    weights,
    terms.words.map((_, i) => i),
    limit,
  );
}

async function vectorSearch(db: Queryable, kb: string, version: number, embedder: Embedder, query: string, limit: number): Promise<Row[]> {
  const [vector] = await embedder.embed([query]);
  const dims = Math.trunc(embedder.dimensions);
  // Literal dimensions, so the planner matches the partial HNSW index for this size.
  return db.query<Row>(
    `SELECT c.id, c.source, c.title, c.heading_path, c.content, c.ts_config::text AS config, tsvector_to_array(c.tsv) AS lexemes,
            1 - (c.embedding::vector(${dims}) <=> $3::vector(${dims})) AS rank
       FROM chunks c
      WHERE ${visible} AND c.embedding_dims = ${dims} AND c.embedding_model = $4
      ORDER BY c.embedding::vector(${dims}) <=> $3::vector(${dims})
      LIMIT $5`,
    [kb, version, `[${vector!.join(',')}]`, embedder.model, limit],
  );
}

/**
 * Share of the question's words found in a chunk, each word weighted by how rare it is in
 * the knowledge base (BM25's idf): "shower" says much more than "surgery" in a clinic's FAQ.
 */
function coverage(terms: QueryTerms, weights: number[], row: Pick<Row, 'config' | 'lexemes'>): number {
  const c = terms.configs.indexOf(row.config);
  if (c === -1) return 0;
  const present = new Set(row.lexemes);
  // The latest question's own words decide; history words only when it has none ("and?").
  const own = terms.inQuestion.some(Boolean);
  let total = 0;
  let found = 0;
  terms.words.forEach((word, i) => {
    if (own && !terms.inQuestion[i]) return;
    total += weights[i]!;
    if (present.has(word[c]!)) found += weights[i]!;
  });
  return total === 0 ? 0 : found / total;
}

/** Document frequencies per knowledge version, cached: they only change with a new version. */
const idfCache = new Map<string, Map<string, number>>();

async function idfWeights(db: Queryable, kb: string, version: number, terms: QueryTerms): Promise<{ weights: number[]; dfs: number[] }> {
  const key = `${kb}@${version}@${terms.configs.join(',')}`;
  let cache = idfCache.get(key);
  if (!cache) {
    if (idfCache.size > 32) idfCache.clear();
    cache = new Map();
    idfCache.set(key, cache);
  }
  if (!cache.has('')) {
    const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM chunks c WHERE ${visible}`, [kb, version]);
    cache.set('', Number(row?.n ?? 0));
  }
  const n = cache.get('')!;
  const keyOf = (word: string[]) => word.join('|');
  const missing = terms.words.filter((w) => !cache.has(keyOf(w)));
  for (const word of missing) {
    const match = terms.configs.map((_, c) => `(c.ts_config = $${3 + c * 2}::regconfig AND c.tsv @@ to_tsquery('simple', $${4 + c * 2}))`).join(' OR ');
    const [row] = await db.query<{ df: string }>(
      `SELECT count(*) AS df FROM chunks c WHERE ${visible} AND (${match})`,
      [kb, version, ...terms.configs.flatMap((config, c) => [config, quote(word[c]!)])],
    );
    cache.set(keyOf(word), Number(row?.df ?? 0));
  }
  const dfs = terms.words.map((w) => cache.get(keyOf(w)) ?? 0);
  return { dfs, weights: dfs.map((df) => Math.log(1 + (n - df + 0.5) / (df + 0.5))) };
}

export async function retrieveContext(deps: { db: Queryable; embedder: Embedder | undefined }, options: RetrieveOptions): Promise<Retrieval> {
  const query = buildRetrievalQuery(options.question, options.history);
  const version = await resolveVersion(deps.db, options.kb, options.version);
  if (version === null) return { knowledgeVersion: null, query, mode: 'full-text', chunks: [] };

  const candidates = Math.max(options.topK * 4, 20);
  const terms = await queryTerms(deps.db, options.kb, version, query, options.question);
  const { weights, dfs } = await idfWeights(deps.db, options.kb, version, terms);
  const cover = (row: Row) => coverage(terms, weights, row);
  const [textRows, vectorRows] = await Promise.all([
    fullTextSearch(deps.db, options.kb, version, terms, weights, dfs, candidates),
    deps.embedder ? vectorSearch(deps.db, options.kb, version, deps.embedder, query, candidates) : Promise.resolve([]),
  ]);

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
      termCoverage: Number(cover(row).toFixed(3)),
    }));
  return { knowledgeVersion: version, query, mode: vectorRows.length > 0 ? 'hybrid' : 'full-text', chunks };
}

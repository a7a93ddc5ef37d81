/**
 * The full-text side of retrieval, held in memory per knowledge version.
 *
 * Why not rank in SQL: the embedded database is one PGlite backend that every turn's
 * statements queue on. Ranking each candidate chunk with `@@` and `ts_rank_cd` per question
 * word cost 10–300 ms per question at 1k–50k chunks (`npm run bench`), and counting each new
 * word's document frequency cost a statement per word. A knowledge version never changes once
 * built, so its tsvectors are read once (a paged pass, when the version is first asked) into
 * postings, and a question is ranked here in well under a millisecond. The figures are the
 * same ones the SQL gave: document frequencies per stem and `ts_rank_cd(tsv, stem, 1)`.
 */
import type { Queryable } from '../store/index.js';

/**
 * ts_rank_cd's default weights for D, C, B, A positions: C floats in Postgres, and each
 * single-position cover is worth 1 / (1 / weight) computed in doubles, as in tsrank.c.
 */
const RANK_WEIGHTS = Object.fromEntries(Object.entries({ D: 0.1, C: 0.2, B: 0.4, A: 1.0 }).map(([k, w]) => [k, 1 / (1 / Math.fround(w))])) as Record<'A' | 'B' | 'C' | 'D', number>;
const PAGE_ROWS = 2_000;

interface Posting {
  /** Chunk ordinals (ascending) holding the lexeme. */
  chunks: Int32Array;
  /** ts_rank_cd(tsv, lexeme, 1) of each of those chunks, as Postgres computes it (float4). */
  density: Float32Array;
}

export interface LexicalIndex {
  kb: string;
  version: number;
  /** Text-search configurations in use, sorted. */
  configs: string[];
  /** Visible chunks in this version. */
  size: number;
  /** Chunk ordinal → chunk id. */
  ids: number[];
  ordinalOf: Map<number, number>;
  postings: Map<string, Posting>;
  /** Per-question scratch space (ranking is synchronous, so one set per index suffices). */
  scratch: { weighted: Float64Array; weightedQ: Float64Array; rank: Float64Array; touched: Int32Array };
}

const termKey = (config: string, lexeme: string) => `${config}\u0001${lexeme}`;

export interface TsvEntry {
  lexeme: string;
  /** Weight letter of each position ('D' when unmarked); empty when the entry has no positions. */
  weights: Array<keyof typeof RANK_WEIGHTS>;
}

/**
 * Parses Postgres' text output of a tsvector: `'lexeme':1A,5 'it''s':2`. Lexemes are quoted,
 * with quotes and backslashes doubled; a position may carry a weight letter (A, B, C).
 */
export function parseTsvector(text: string): TsvEntry[] {
  const entries: TsvEntry[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') {
      i += 1;
      continue;
    }
    if (text[i] !== "'") throw new Error(`unexpected ${JSON.stringify(text[i])} at ${i} in tsvector text`);
    i += 1;
    let lexeme = '';
    for (;;) {
      const ch = text[i];
      if (ch === undefined) throw new Error('unterminated lexeme in tsvector text');
      if ((ch === "'" || ch === '\\') && text[i + 1] === ch) {
        lexeme += ch;
        i += 2;
      } else if (ch === "'") {
        i += 1;
        break;
      } else {
        lexeme += ch;
        i += 1;
      }
    }
    const weights: TsvEntry['weights'] = [];
    if (text[i] === ':') {
      i += 1;
      while (i < text.length && text[i] !== ' ') {
        while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i += 1;
        const mark = text[i];
        if (mark === 'A' || mark === 'B' || mark === 'C' || mark === 'D') {
          weights.push(mark);
          i += 1;
        } else weights.push('D');
        if (text[i] === ',') i += 1;
      }
    }
    entries.push({ lexeme, weights });
  }
  return entries;
}

/**
 * ts_rank_cd(tsv, one lexeme, normalization 1) for every lexeme of a chunk: a single-lexeme
 * query's covers are its positions, each worth its weight; the sum is divided by
 * ln(1 + the document's length in positions). Rounded to float4 like Postgres' result.
 */
export function lexemeDensities(entries: TsvEntry[]): number[] {
  const length = entries.reduce((n, e) => n + Math.max(1, e.weights.length), 0);
  const norm = Math.log(length + 1);
  return entries.map((e) => {
    const sum = e.weights.length === 0 ? RANK_WEIGHTS.D : e.weights.reduce((s, w) => s + RANK_WEIGHTS[w], 0);
    return Math.fround(norm > 0 ? sum / norm : sum);
  });
}

const visible = 'c.kb = $1 AND c.added_in <= $2 AND (c.retired_in IS NULL OR c.retired_in > $2)';

async function loadLexicalIndex(db: Queryable, kb: string, version: number): Promise<LexicalIndex> {
  const building = new Map<string, { chunks: number[]; density: number[] }>();
  const ids: number[] = [];
  const configs = new Set<string>();
  let after = 0;
  for (;;) {
    // Paged by id (ascending), so postings come out sorted and memory stays flat.
    const rows = await db.query<{ id: string | number; config: string; tsv: string }>(
      `SELECT c.id, c.ts_config::text AS config, c.tsv::text AS tsv FROM chunks c WHERE ${visible} AND c.id > $3 ORDER BY c.id LIMIT ${PAGE_ROWS}`,
      [kb, version, after],
    );
    for (const row of rows) {
      const ordinal = ids.length;
      ids.push(Number(row.id));
      configs.add(row.config);
      const entries = parseTsvector(row.tsv);
      const densities = lexemeDensities(entries);
      entries.forEach((entry, e) => {
        const key = termKey(row.config, entry.lexeme);
        let posting = building.get(key);
        if (!posting) building.set(key, (posting = { chunks: [], density: [] }));
        posting.chunks.push(ordinal);
        posting.density.push(densities[e]!);
      });
    }
    if (rows.length < PAGE_ROWS) break;
    after = ids[ids.length - 1]!;
  }
  const postings = new Map<string, Posting>();
  for (const [key, p] of building) postings.set(key, { chunks: Int32Array.from(p.chunks), density: Float32Array.from(p.density) });
  const size = ids.length;
  return {
    kb,
    version,
    configs: [...configs].sort(),
    size,
    ids,
    ordinalOf: new Map(ids.map((id, ordinal) => [id, ordinal])),
    postings,
    scratch: { weighted: new Float64Array(size), weightedQ: new Float64Array(size), rank: new Float64Array(size), touched: new Int32Array(size) },
  };
}

/** Loaded versions per database; a version is immutable, so an entry never goes stale. */
const loaded = new WeakMap<Queryable, Map<number, Promise<LexicalIndex>>>();
const KEEP_VERSIONS = 4;

/** The version's index, loading it on first use (concurrent callers share one load). */
export function lexicalIndex(db: Queryable, kb: string, version: number): Promise<LexicalIndex> {
  let versions = loaded.get(db);
  if (!versions) loaded.set(db, (versions = new Map()));
  let index = versions.get(version);
  if (index) {
    // Most recently used last: the oldest is dropped when a fifth version arrives.
    versions.delete(version);
    versions.set(version, index);
    return index;
  }
  index = loadLexicalIndex(db, kb, version);
  versions.set(version, index);
  index.catch(() => versions.delete(version)); // a failed load is retried on the next question
  while (versions.size > KEEP_VERSIONS) versions.delete(versions.keys().next().value!);
  return index;
}

/** Stems of one word in each configuration (null: a stop word there). */
export type WordStems = Array<string | null>;

export function documentFrequency(index: LexicalIndex, stems: string[]): number {
  return index.configs.reduce((df, config, c) => df + (index.postings.get(termKey(config, stems[c]!))?.chunks.length ?? 0), 0);
}

/** Whether the chunk (by ordinal) holds the word in its own configuration's stem. */
export function chunkHolds(index: LexicalIndex, ordinal: number, config: number, stems: string[]): boolean {
  const posting = index.postings.get(termKey(index.configs[config]!, stems[config]!));
  if (!posting) return false;
  let lo = 0;
  let hi = posting.chunks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = posting.chunks[mid]!;
    if (at === ordinal) return true;
    if (at < ordinal) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

export interface RankedChunk {
  id: number;
  ordinal: number;
  /** Best ts_rank_cd of a single question word. */
  rank: number;
  weighted: number;
  weightedQ: number;
}

/**
 * The full-text candidates: chunks holding any of the words (each in its own language's
 * stem; FAQ questions rarely share all their words with the answer), ranked by the
 * idf-weighted words of the latest question present, then of the whole query (history
 * included only decides among those), then density (the best single-word ts_rank_cd), then id.
 */
export function rankFullText(index: LexicalIndex, words: string[][], inQuestion: boolean[], weights: number[], limit: number): RankedChunk[] {
  const { weighted, weightedQ, rank, touched } = index.scratch;
  let count = 0;
  index.configs.forEach((config, c) => {
    words.forEach((stems, w) => {
      const posting = index.postings.get(termKey(config, stems[c]!));
      if (!posting) return;
      // A hot loop over typed arrays: every weight is > 0, so 0 means "not seen yet".
      const { chunks, density } = posting;
      const weight = weights[w]! || Number.MIN_VALUE; // never 0 (idf > 0), which would read as unseen
      const asked = inQuestion[w] === true;
      for (let k = 0, length = chunks.length; k < length; k += 1) {
        const ordinal = chunks[k]!;
        if (weighted[ordinal] === 0) touched[count++] = ordinal;
        weighted[ordinal]! += weight;
        if (asked) weightedQ[ordinal]! += weight;
        const d = density[k]!;
        if (d > rank[ordinal]!) rank[ordinal] = d;
      }
    });
  });
  const better = (a: RankedChunk, b: RankedChunk) => b.weightedQ - a.weightedQ || b.weighted - a.weighted || b.rank - a.rank || a.id - b.id;
  // The best `limit` kept sorted by insertion: candidates are many, the list is short, and
  // most candidates lose to the current last one on the first key without an allocation.
  const best: RankedChunk[] = [];
  for (let t = 0; t < count; t += 1) {
    const ordinal = touched[t]!;
    const q = weightedQ[ordinal]!;
    const w = weighted[ordinal]!;
    const r = rank[ordinal]!;
    weighted[ordinal] = 0;
    weightedQ[ordinal] = 0;
    rank[ordinal] = 0;
    const last = best.length === limit ? best[limit - 1]! : undefined;
    if (last && (q < last.weightedQ || (q === last.weightedQ && (w < last.weighted || (w === last.weighted && r < last.rank))))) continue;
    const entry: RankedChunk = { id: index.ids[ordinal]!, ordinal, rank: r, weighted: w, weightedQ: q };
    if (last && better(entry, last) >= 0) continue;
    let at = best.length;
    while (at > 0 && better(entry, best[at - 1]!) < 0) at -= 1;
    best.splice(at, 0, entry);
    if (best.length > limit) best.pop();
  }
  return best;
}

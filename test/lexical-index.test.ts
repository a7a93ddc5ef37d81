import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lexemeDensities, parseTsvector } from '../src/rag/lexical-index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import { testConfig } from './support/config.js';

let db: Database;

beforeAll(async () => {
  db = await openDatabase(testConfig(), { role: 'cli', command: 'test' });
});

afterAll(async () => {
  await db?.close();
});

/** Chunks built the way ingest builds them: title and heading weighted A, content B. */
const samples = [
  { config: 'english', title: 'Fasting before surgery', content: 'Clear liquids are allowed until 2 hours before your arrival time. Water, clear apple juice, black tea or black coffee.' },
  { config: 'english', title: "It's the patient's guide", content: "Don't smoke. O'Brien's clinic: back\\slash, 'quoted' words, e-mail me@example.org, 12.5 mg." },
  { config: 'spanish', title: 'Ayuno antes de la cirugía', content: 'Puede beber agua hasta 2 horas antes de la llegada. ¿Café? Sin leche, por favor.' },
  { config: 'simple', title: 'x', content: 'x' },
];

async function tsvectorOf(sample: (typeof samples)[number]): Promise<string> {
  const [row] = await db.query<{ tsv: string }>(
    `SELECT (setweight(to_tsvector($1::regconfig, $2), 'A') || setweight(to_tsvector($1::regconfig, $3), 'B'))::text AS tsv`,
    [sample.config, sample.title, sample.content],
  );
  return row!.tsv;
}

describe('the in-memory full-text index', () => {
  it("when Postgres' text form of a tsvector is parsed, then every lexeme and each position's weight come back as unnest() gives them", async () => {
    for (const sample of samples) {
      const text = await tsvectorOf(sample);
      const truth = await db.query<{ lexeme: string; weights: string[] }>('SELECT lexeme, weights FROM unnest($1::tsvector)', [text]);

      const parsed = parseTsvector(text);

      expect(parsed.map((e) => e.lexeme)).toEqual(truth.map((t) => t.lexeme));
      expect(parsed.map((e) => e.weights)).toEqual(truth.map((t) => t.weights.map((w) => w.toUpperCase())));
    }
  });

  it('when a lexeme holds quotes or backslashes, then it is unescaped', () => {
    expect(parseTsvector(`'it''s':1A 'back\\\\slash':2,3B 'plain'`)).toEqual([
      { lexeme: "it's", weights: ['A'] },
      { lexeme: 'back\\slash', weights: ['D', 'B'] },
      { lexeme: 'plain', weights: [] },
    ]);
    expect(() => parseTsvector(`'open`)).toThrow(/unterminated/);
  });

  it('when densities are computed, then each equals ts_rank_cd(tsv, lexeme, 1) as Postgres returns it', async () => {
    for (const sample of samples) {
      const text = await tsvectorOf(sample);
      const entries = parseTsvector(text);
      const rows = await db.query<{ lexeme: string; rank: number }>(
        `SELECT u.lexeme, ts_rank_cd($1::tsvector, quote_literal(u.lexeme)::tsquery, 1) AS rank
           FROM unnest($1::tsvector) u WHERE position(E'\\\\' in u.lexeme) = 0`,
        [text],
      );
      const densities = new Map(entries.map((e, i) => [e.lexeme, lexemeDensities(entries)[i]!]));

      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(densities.get(row.lexeme), `${sample.config}: ${row.lexeme}`).toBe(Math.fround(Number(row.rank)));
    }
  });
});

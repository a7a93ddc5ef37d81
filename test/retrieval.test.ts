import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder } from '../src/composition.js';
import { retrieveContext, buildRetrievalQuery } from '../src/rag/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import type { Embedder } from '../src/vendors/openai.js';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js';
import { testConfig } from './support/config.js';
import { CAFE, CLEAR_LIQUIDS, COFFEE_AND_TEA, clinicFaq, makeTempDir, removeTempDir, seedClinic } from './support/rag-factory.js';

let db: Database;
let openai: FakeOpenAI;
let embedder: Embedder;
let root: string;

beforeAll(async () => {
  [db, openai, root] = await Promise.all([openDatabase(testConfig(), { role: 'cli', command: 'test' }), startFakeOpenAI(), makeTempDir()]);
  embedder = createEmbedder(testConfig({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: openai.url, EMBEDDING_DIMENSIONS: '256' }))!;
});

afterAll(async () => {
  await db?.close();
  await openai?.close();
  if (root) await removeTempDir(root);
});

const waterQuestion = 'Can I drink water before surgery?';

describe('retrieval over the current knowledge version', () => {
  it('when no embedder is configured, then retrieval is full-text only and finds the clear-liquids passage', async () => {
    const ingest = await seedClinic(db, undefined, 'ft-only', root);

    const retrieval = await retrieveContext({ db, embedder: undefined }, { kb: 'ft-only', question: waterQuestion, topK: 5 });

    expect(retrieval.mode).toBe('full-text');
    expect(retrieval.knowledgeVersion).toBe(ingest.version);
    const [top] = retrieval.chunks;
    expect(top).toMatchObject({ source: 'fasting.md', heading: 'Fasting > Clear liquids', content: CLEAR_LIQUIDS, vectorSimilarity: null });
    expect(top!.score).toBeGreaterThan(0);
    expect(top!.fullTextRank).toBeGreaterThan(0);
    for (const chunk of retrieval.chunks) {
      expect(chunk.source).toMatch(/\.md$/);
      expect(typeof chunk.heading).toBe('string');
      expect(chunk.vectorSimilarity).toBeNull();
    }
  });

  it('when the knowledge base was ingested with embeddings, then retrieval is hybrid and results carry a vector similarity', async () => {
    const ingest = await seedClinic(db, embedder, 'hybrid', root);
    expect(ingest.mode).toBe('hybrid');
    const before = openai.stats.embeddingRequests;

    const retrieval = await retrieveContext({ db, embedder }, { kb: 'hybrid', question: waterQuestion, topK: 5 });

    expect(openai.stats.embeddingRequests).toBe(before + 1); // the question itself was embedded
    expect(retrieval.mode).toBe('hybrid');
    expect(retrieval.knowledgeVersion).toBe(ingest.version);
    const [top] = retrieval.chunks;
    expect(top).toMatchObject({ source: 'fasting.md', heading: 'Fasting > Clear liquids', content: CLEAR_LIQUIDS });
    expect(top!.vectorSimilarity).toEqual(expect.any(Number));
    expect(top!.vectorSimilarity!).toBeGreaterThan(0);
    expect(top!.fullTextRank).toBeGreaterThan(0);
    // Fused scores come out best first.
    const scores = retrieval.chunks.map((c) => c.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('when the database is reached over pg (the server shares PGlite on a socket), then hybrid retrieval gives what it gives in-process', async () => {
    // Over pg the query vector travels in binary (pgvector's vector_recv), in-process as text.
    const dataDir = path.join(root, 'shared-data');
    const shared = await openDatabase(testConfig({ DATA_DIR: dataDir }), { role: 'server', command: 'test' });
    try {
      expect(shared.engine).toBe('postgres');
      await Promise.all([seedClinic(shared, embedder, 'over-pg', root), seedClinic(db, embedder, 'in-process', root)]);
      const questions = [waterQuestion, 'When can I shower after surgery?', 'Where do I park?'];
      for (const question of questions) {
        const [overPg, inProcess] = await Promise.all([
          retrieveContext({ db: shared, embedder }, { kb: 'over-pg', question, topK: 5 }),
          retrieveContext({ db, embedder }, { kb: 'in-process', question, topK: 5 }),
        ]);
        const view = (r: typeof overPg) => r.chunks.map((c) => ({ source: c.source, heading: c.heading, score: c.score, similarity: c.vectorSimilarity?.toFixed(5) }));
        expect(overPg.mode).toBe('hybrid');
        expect(view(overPg)).toEqual(view(inProcess));
      }
    } finally {
      await shared.close();
    }
  });

  it('when an embedder is configured but the knowledge base has no embeddings, then retrieval falls back to full-text', async () => {
    await seedClinic(db, undefined, 'no-vectors', root);

    const retrieval = await retrieveContext({ db, embedder }, { kb: 'no-vectors', question: waterQuestion, topK: 5 });

    expect(retrieval.mode).toBe('full-text');
    expect(retrieval.chunks[0]).toMatchObject({ heading: 'Fasting > Clear liquids', vectorSimilarity: null });
  });

  it('when top-k is smaller than the matches, then exactly top-k chunks come back', async () => {
    await seedClinic(db, embedder, 'top-k', root);
    const question = 'coffee tea water drink surgery wound parking';

    const wide = await retrieveContext({ db, embedder }, { kb: 'top-k', question, topK: 10 });
    const narrow = await retrieveContext({ db, embedder }, { kb: 'top-k', question, topK: 2 });
    const one = await retrieveContext({ db, embedder: undefined }, { kb: 'top-k', question, topK: 1 });

    expect(wide.chunks.length).toBeGreaterThan(2);
    expect(narrow.chunks).toHaveLength(2);
    expect(narrow.chunks.map((c) => c.id)).toEqual(wide.chunks.slice(0, 2).map((c) => c.id));
    expect(one.chunks).toHaveLength(1);
  });

  it('when the knowledge base is re-ingested with changed text after a question, then the next question searches only the new version', async () => {
    const first = await seedClinic(db, undefined, 'versions', root);
    // Asked once before the change: the next question must not be served from the old version's index.
    const before = await retrieveContext({ db, embedder: undefined }, { kb: 'versions', question: waterQuestion, topK: 10 });
    expect(before.knowledgeVersion).toBe(first.version);
    expect(before.chunks.map((c) => c.content)).toContain(CLEAR_LIQUIDS);
    const changed = 'You may drink water and other clear liquids until 3 hours before your arrival time. Lemonade is not a clear liquid.';
    const second = await seedClinic(db, undefined, 'versions', root, clinicFaq({ fastingClearLiquids: changed }));
    expect(second.version).toBeGreaterThan(first.version!);
    expect(second.documents.updated).toEqual(['fasting.md']);

    const retrieval = await retrieveContext({ db, embedder: undefined }, { kb: 'versions', question: waterQuestion, topK: 10 });

    expect(retrieval.knowledgeVersion).toBe(second.version);
    const contents = retrieval.chunks.map((c) => c.content);
    expect(contents).toContain(changed);
    expect(contents).not.toContain(CLEAR_LIQUIDS);
    expect(contents.join('\n')).not.toContain('until 2 hours before your arrival time. After that');
    // Unchanged documents are still visible in the new version.
    const wound = await retrieveContext({ db, embedder: undefined }, { kb: 'versions', question: 'When can I shower after surgery?', topK: 3 });
    expect(wound.chunks[0]).toMatchObject({ source: 'wound-care.md', heading: 'Dressing and showering' });
  });

  it('when the same question is asked of two knowledge bases, then each only sees its own documents', async () => {
    await seedClinic(db, undefined, 'kb-a', root);
    await seedClinic(db, undefined, 'kb-b', root, { 'other.md': '# Other\n\nWater polo practice is on Tuesdays.\n' });

    const a = await retrieveContext({ db, embedder: undefined }, { kb: 'kb-a', question: 'water', topK: 10 });
    const b = await retrieveContext({ db, embedder: undefined }, { kb: 'kb-b', question: 'water', topK: 10 });

    expect(a.chunks.every((c) => c.source !== 'other.md')).toBe(true);
    expect(b.chunks.map((c) => c.source)).toEqual(['other.md']);
  });

  it('when the knowledge base was never ingested, then there is no version and no chunk', async () => {
    const retrieval = await retrieveContext({ db, embedder }, { kb: 'never-ingested', question: waterQuestion, topK: 5 });
    expect(retrieval).toMatchObject({ knowledgeVersion: null, chunks: [] });
  });
});

describe('follow-up questions', () => {
  const history = [
    { role: 'user' as const, content: waterQuestion },
    { role: 'assistant' as const, content: 'Yes, water is fine until 2 hours before your arrival time.' },
  ];

  it('when the follow-up is built, then the earlier user turns (not the assistant turns) are prepended', () => {
    expect(buildRetrievalQuery('and coffee?', history)).toBe(`${waterQuestion}\nand coffee?`);
  });

  for (const mode of ['full-text', 'hybrid'] as const) {
    it(`when "and coffee?" follows a question about water before surgery (${mode}), then the fasting coffee passage is retrieved ahead of the lobby café`, async () => {
      const kb = `follow-up-${mode}`;
      const withEmbedder = mode === 'hybrid' ? embedder : undefined;
      await seedClinic(db, withEmbedder, kb, root);
      const rankOf = (chunks: Array<{ content: string }>, content: string) => {
        const i = chunks.findIndex((c) => c.content === content);
        return i === -1 ? Number.POSITIVE_INFINITY : i;
      };

      const followUp = await retrieveContext({ db, embedder: withEmbedder }, { kb, question: 'and coffee?', history, topK: 3 });
      const alone = await retrieveContext({ db, embedder: withEmbedder }, { kb, question: 'and coffee?', topK: 3 });

      expect(followUp.mode).toBe(mode);
      expect(followUp.query).toBe(`${waterQuestion}\nand coffee?`);
      const coffee = followUp.chunks.find((c) => c.content === COFFEE_AND_TEA);
      expect(coffee).toMatchObject({ source: 'fasting.md', heading: 'Fasting > Coffee and tea' });
      expect(rankOf(followUp.chunks, COFFEE_AND_TEA)).toBeLessThanOrEqual(1);
      expect(rankOf(followUp.chunks, COFFEE_AND_TEA)).toBeLessThan(rankOf(followUp.chunks, CAFE));
      // Without the history "coffee" alone is ambiguous: the lobby café passage comes first.
      expect(alone.query).toBe('and coffee?');
      expect(alone.chunks[0]).toMatchObject({ source: 'visiting/parking.md', content: CAFE });
    });
  }
});

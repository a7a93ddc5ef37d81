/**
 * Ingest through `pg` on the embedded database shared over its socket, as `npm start` and
 * `npm run ingest` run it: embeddings travel as binary parameters there (text on in-process
 * PGlite), and rows are written while the embedding requests are still in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder } from '../src/composition.js';
import { EmbeddingError } from '../src/errors/index.js';
import { currentVersion, ingestKnowledge, type IngestProgress, type IngestSummary } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import type { Embedder } from '../src/vendors/openai.js';
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js';
import { testConfig } from './support/config.js';
import { knowledgeFolder, manySections, parkingPage, preOpGuide, removeAllKnowledgeFolders, tempFolder } from './support/knowledge-factory.js';

const DIMS = 48;
const defaults = testConfig().knowledge;

let db: Database;
let fake: FakeOpenAI;

function embedderWith(env: Record<string, string> = {}): Embedder {
  const built = createEmbedder(testConfig({ OPENAI_API_KEY: 'test', OPENAI_BASE_URL: fake.url, EMBEDDING_DIMENSIONS: String(DIMS), ...env }));
  if (!built) throw new Error('expected an embedder: OPENAI_API_KEY is set');
  return built;
}

function ingest(kb: string, dir: string, embedder: Embedder, onProgress?: (p: IngestProgress) => void): Promise<IngestSummary> {
  return ingestKnowledge(
    { db, embedder, logger: silentLogger, onProgress },
    { dir, kb, chunking: { chunkSize: defaults.chunkSize, chunkOverlap: defaults.chunkOverlap }, maxDocumentBytes: defaults.maxDocumentBytes },
  );
}

async function count(table: 'documents' | 'chunks' | 'knowledge_versions', kb: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE kb = $1`, [kb]);
  return row!.n;
}

beforeAll(async () => {
  fake = await startFakeOpenAI();
  const dataDir = await tempFolder('groundline-ingest-socket-');
  db = await openDatabase(testConfig({ DATA_DIR: dataDir }), { role: 'server', command: 'test' });
});

afterAll(async () => {
  await db?.close();
  await fake?.close();
  await removeAllKnowledgeFolders();
});

describe('ingest over the shared socket', () => {
  it('when chunks are embedded in several batches, then every stored vector is exactly the float4 of the one the API returned for its text', async () => {
    expect(db.engine).toBe('postgres');
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage(), 'handbook.md': manySections(9) });

    const summary = await ingest('exact', folder.dir, embedderWith({ EMBEDDING_BATCH_SIZE: '3', EMBEDDING_CONCURRENCY: '2' }));

    expect(summary).toMatchObject({ changed: true, activated: true });
    const rows = await db.query<{ title: string; heading_path: string; content: string; embedding: string }>(
      'SELECT title, heading_path, content, embedding::text AS embedding FROM chunks WHERE kb = $1',
      ['exact'],
    );
    expect(rows).toHaveLength(summary.chunks);
    for (const row of rows) {
      const text = [row.title, row.heading_path, '', row.content].filter((p, i) => i > 1 || p !== '').join('\n');
      const stored = row.embedding.slice(1, -1).split(',').map(Number);
      expect(stored.map(Math.fround)).toEqual(fakeEmbedding(text, DIMS).map(Math.fround));
    }
  });

  it('when the embedding API fails after some rows were written, then those rows and the version are removed and the previous version keeps serving', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide() });
    const first = await ingest('failed', folder.dir, embedderWith());
    const before = { documents: await count('documents', 'failed'), chunks: await count('chunks', 'failed'), versions: await count('knowledge_versions', 'failed') };
    fake.reset();

    // Five new files of 60 chunks, in requests of 50: the first four files are written before the failure.
    for (const n of [1, 2, 3, 4, 5]) await folder.write(`recovery-${n}.md`, manySections(60, `Recovery${n}`));
    let armed = false;
    const onProgress = (p: IngestProgress) => {
      if (p.phase === 'embedding' && p.done >= 250 && !armed) {
        armed = true;
        fake.failNext(500, 20, { retryAfterMs: 1 });
      }
    };
    await expect(ingest('failed', folder.dir, embedderWith({ EMBEDDING_BATCH_SIZE: '50', EMBEDDING_CONCURRENCY: '1' }), onProgress)).rejects.toBeInstanceOf(EmbeddingError);

    expect(armed).toBe(true);
    expect(await currentVersion(db, 'failed')).toBe(first.version);
    expect({ documents: await count('documents', 'failed'), chunks: await count('chunks', 'failed'), versions: await count('knowledge_versions', 'failed') }).toEqual(before);

    fake.reset();
    const retried = await ingest('failed', folder.dir, embedderWith());
    expect(retried).toMatchObject({ changed: true, previousVersion: first.version, embedded: 300 });
  });
});

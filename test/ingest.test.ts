/**
 * Ingest through the production path: Markdown files in a temp folder, the real chunker, the
 * official `openai` SDK against the fake embeddings server, and real SQL into in-memory PGlite.
 * One database for the whole file; each test uses its own knowledge base name and folder.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmbedder } from '../src/composition.js';
import { EmbeddingError } from '../src/errors/index.js';
import {
  currentVersion,
  DocumentsInvalidError,
  ingestKnowledge,
  type IngestProgress,
  type IngestSummary,
} from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import type { Embedder } from '../src/vendors/openai.js';
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js';
import { testConfig } from './support/config.js';
import {
  knowledgeFolder,
  manySections,
  parkingPage,
  preOpGuide,
  removeAllKnowledgeFolders,
  spanishFastingPage,
} from './support/knowledge-factory.js';

const DIMS = 64;
const defaults = testConfig().knowledge;

let db: Database;
let fake: FakeOpenAI;
let embedder: Embedder;

/** An embedder on the fake server with extra settings (batch size, concurrency). */
function embedderWith(env: Record<string, string> = {}): Embedder {
  const built = createEmbedder(testConfig({ OPENAI_API_KEY: 'test', OPENAI_BASE_URL: fake.url, EMBEDDING_DIMENSIONS: String(DIMS), ...env }));
  if (!built) throw new Error('expected an embedder: OPENAI_API_KEY is set');
  return built;
}

function ingest(
  kb: string,
  dir: string,
  options: { embedder?: Embedder | null; dryRun?: boolean; maxDocumentBytes?: number; onProgress?: (p: IngestProgress) => void } = {},
): Promise<IngestSummary> {
  return ingestKnowledge(
    { db, embedder: options.embedder === null ? undefined : (options.embedder ?? embedder), logger: silentLogger, onProgress: options.onProgress },
    {
      dir,
      kb,
      dryRun: options.dryRun,
      chunking: { chunkSize: defaults.chunkSize, chunkOverlap: defaults.chunkOverlap },
      maxDocumentBytes: options.maxDocumentBytes ?? defaults.maxDocumentBytes,
    },
  );
}

interface ChunkRow {
  source: string;
  title: string;
  heading_path: string;
  content: string;
  ts_config: string;
  embedding: string | null;
  embedding_model: string | null;
  embedding_dims: number | null;
}

/** Chunks a query at `version` sees, with the same visibility rule retrieval uses. */
async function chunksAt(kb: string, version: number | null): Promise<ChunkRow[]> {
  return db.query<ChunkRow>(
    `SELECT source, title, heading_path, content, ts_config::text AS ts_config, embedding::text AS embedding, embedding_model, embedding_dims
       FROM chunks c
      WHERE c.kb = $1 AND c.added_in <= $2 AND (c.retired_in IS NULL OR c.retired_in > $2)
      ORDER BY source, ordinal`,
    [kb, version],
  );
}

async function liveChunks(kb: string): Promise<ChunkRow[]> {
  return chunksAt(kb, await currentVersion(db, kb));
}

async function countRows(table: 'knowledge_versions' | 'documents' | 'chunks' | 'knowledge_bases', kb: string): Promise<number> {
  const column = table === 'knowledge_bases' ? 'name' : 'kb';
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [kb]);
  return row!.n;
}

/** Every text the fake embeddings API received, in arrival order. */
function embeddedTexts(): string[] {
  return fake.embeddingRequests.flatMap((r) => (Array.isArray(r.input) ? (r.input as string[]) : [r.input as string]));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

const parseVector = (text: string): number[] => JSON.parse(text) as number[];

beforeAll(async () => {
  fake = await startFakeOpenAI();
  embedder = embedderWith();
  db = await openDatabase(testConfig(), { role: 'cli', command: 'test' });
});

afterAll(async () => {
  await db?.close();
  await fake?.close();
  await removeAllKnowledgeFolders();
});

beforeEach(() => fake.reset());

describe('first ingest', () => {
  it('when a folder is ingested for the first time, then its documents and chunks are stored with title and heading path and become the current version', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage(), 'es/ayuno.md': spanishFastingPage() });

    const summary = await ingest('first', folder.dir);

    expect(summary).toMatchObject({
      kb: 'first',
      mode: 'hybrid',
      embeddingModel: 'text-embedding-3-small',
      dryRun: false,
      changed: true,
      previousVersion: null,
      files: 3,
      chunks: 6,
      embedded: 6,
      reused: 0,
      documents: { added: ['es/ayuno.md', 'parking.md', 'pre-op.md'], updated: [], removed: [], unchanged: 0 },
    });
    expect(summary.version).toEqual(expect.any(Number));
    expect(await currentVersion(db, 'first')).toBe(summary.version);

    const documents = await db.query<{ source: string; title: string; lang: string; metadata: unknown; chunk_count: number }>(
      'SELECT source, title, lang, metadata, chunk_count FROM documents WHERE kb = $1 ORDER BY source',
      ['first'],
    );
    expect(documents).toEqual([
      { source: 'es/ayuno.md', title: 'Ayuno antes de la cirugía', lang: 'es', metadata: { lang: 'es', title: 'Ayuno antes de la cirugía' }, chunk_count: 1 },
      { source: 'parking.md', title: 'Parking', lang: 'en', metadata: {}, chunk_count: 1 },
      { source: 'pre-op.md', title: 'Before your surgery', lang: 'en', metadata: { title: 'Before your surgery', lang: 'en', audience: 'patients' }, chunk_count: 4 },
    ]);

    const chunks = await liveChunks('first');
    expect(chunks.map((c) => [c.source, c.title, c.heading_path])).toEqual([
      ['es/ayuno.md', 'Ayuno antes de la cirugía', 'Líquidos claros'],
      ['parking.md', 'Parking', ''],
      ['pre-op.md', 'Before your surgery', 'Fasting'],
      ['pre-op.md', 'Before your surgery', 'Fasting > Clear liquids'],
      ['pre-op.md', 'Before your surgery', 'Fasting > Solid food'],
      ['pre-op.md', 'Before your surgery', 'Arrival'],
    ]);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ embedding_model: 'text-embedding-3-small', embedding_dims: DIMS });
      expect(parseVector(chunk.embedding!)).toHaveLength(DIMS);
    }

    const [version] = await db.query<{ status: string; summary: { chunks: number; files: number } }>(
      'SELECT status, summary FROM knowledge_versions WHERE id = $1',
      [summary.version],
    );
    expect(version).toMatchObject({ status: 'active', summary: { chunks: 6, files: 3 } });
  });

  it('when chunks are embedded, then the embedded text starts with the title and heading path while the stored content is the section text', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide() });

    await ingest('heading-path', folder.dir);

    const clearLiquids = 'You may drink water, black coffee or apple juice until two hours before your arrival time.';
    const expectedText = `Before your surgery\nFasting > Clear liquids\n\n${clearLiquids}`;
    expect(embeddedTexts()).toContain(expectedText);

    const chunk = (await liveChunks('heading-path')).find((c) => c.heading_path === 'Fasting > Clear liquids');
    expect(chunk?.content).toBe(clearLiquids);
    // The stored vector is the one for the text with its heading path, not for the bare content.
    const stored = parseVector(chunk!.embedding!);
    const expected = fakeEmbedding(expectedText, DIMS);
    stored.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 5));
    expect(fakeEmbedding(clearLiquids, DIMS)).not.toEqual(expected);
  });

  it('when embeddings are stored, then an HNSW cosine index exists for their dimension', async () => {
    const folder = await knowledgeFolder({ 'parking.md': parkingPage() });

    await ingest('hnsw', folder.dir);

    const indexes = await db.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' AND indexdef ILIKE '%USING hnsw%'",
    );
    expect(indexes).toHaveLength(1);
    expect(indexes[0]!.indexname).toBe(`chunks_embedding_hnsw_${DIMS}`);
    expect(indexes[0]!.indexdef).toMatch(/vector_cosine_ops/);
    expect(indexes[0]!.indexdef).toContain(`embedding_dims = ${DIMS}`);
  });

  it('when a document declares lang: es, then its chunks are indexed with the Spanish text-search configuration', async () => {
    const folder = await knowledgeFolder({ 'ayuno.md': spanishFastingPage(), 'parking.md': parkingPage() });

    await ingest('languages', folder.dir);

    const configs = (await liveChunks('languages')).map((c) => [c.source, c.ts_config]);
    expect(configs).toEqual([
      ['ayuno.md', 'spanish'],
      ['parking.md', 'english'],
    ]);
    // Spanish stemming: "llegadas" (plural) finds "llegada"; Spanish stop words are not indexed.
    const [row] = await db.query<{ stemmed: boolean; tsv: string }>(
      "SELECT tsv @@ plainto_tsquery('spanish', 'llegadas') AS stemmed, tsv::text AS tsv FROM chunks WHERE kb = $1 AND source = 'ayuno.md'",
      ['languages'],
    );
    expect(row!.stemmed).toBe(true);
    expect(row!.tsv).not.toMatch(/'de'|'su'/);
  });
});

describe('incremental ingest', () => {
  it('when nothing changed since the last ingest, then no embedding request is made and no new version is created', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const first = await ingest('unchanged', folder.dir);
    fake.reset();

    const again = await ingest('unchanged', folder.dir);

    expect(fake.stats.embeddingRequests).toBe(0);
    expect(again).toMatchObject({
      changed: false,
      version: first.version,
      previousVersion: first.version,
      files: 2,
      chunks: 5,
      embedded: 0,
      reused: 5,
      documents: { added: [], updated: [], removed: [], unchanged: 2 },
    });
    expect(await currentVersion(db, 'unchanged')).toBe(first.version);
    expect(await countRows('knowledge_versions', 'unchanged')).toBe(1);
  });

  it('when one file is edited, then only its changed chunk is embedded, the version moves on and the old text is no longer current', async () => {
    const oldText = 'You may drink water, black coffee or apple juice until two hours before your arrival time.';
    const newText = 'You may drink water or clear tea until three hours before your arrival time; no coffee.';
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide({ clearLiquids: oldText }), 'parking.md': parkingPage() });
    const first = await ingest('edited', folder.dir);
    fake.reset();

    await folder.write('pre-op.md', preOpGuide({ clearLiquids: newText }));
    const second = await ingest('edited', folder.dir);

    expect(second).toMatchObject({
      changed: true,
      previousVersion: first.version,
      chunks: 5,
      embedded: 1,
      reused: 4, // 3 unchanged chunks of pre-op.md by hash + parking.md untouched
      documents: { added: [], updated: ['pre-op.md'], removed: [], unchanged: 1 },
    });
    expect(second.version).toBeGreaterThan(first.version!);
    expect(await currentVersion(db, 'edited')).toBe(second.version);
    expect(embeddedTexts()).toEqual([`Before your surgery\nFasting > Clear liquids\n\n${newText}`]);

    const live = await liveChunks('edited');
    expect(live.map((c) => c.content)).toContain(newText);
    expect(live.map((c) => c.content)).not.toContain(oldText);
    expect(live).toHaveLength(5);
    // Reused chunks carry their stored embedding into the new version.
    expect(live.every((c) => c.embedding !== null && c.embedding_dims === DIMS)).toBe(true);
    // A query that started on the previous version still sees that version whole.
    const previous = await chunksAt('edited', first.version);
    expect(previous.map((c) => c.content)).toContain(oldText);
    expect(previous.map((c) => c.content)).not.toContain(newText);
  });

  it('when a file is removed, then its chunks are gone from the current version', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const first = await ingest('removed', folder.dir);
    fake.reset();

    await folder.remove('parking.md');
    const second = await ingest('removed', folder.dir);

    expect(second).toMatchObject({
      changed: true,
      previousVersion: first.version,
      files: 1,
      chunks: 4,
      embedded: 0,
      documents: { added: [], updated: [], removed: ['parking.md'], unchanged: 1 },
    });
    expect(fake.stats.embeddingRequests).toBe(0);
    const sources = new Set((await liveChunks('removed')).map((c) => c.source));
    expect([...sources]).toEqual(['pre-op.md']);
  });

  it('when the embedding API fails part-way through, then the ingest fails with an EmbeddingError and the previous version keeps serving', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const first = await ingest('failure', folder.dir);
    const before = await liveChunks('failure');
    fake.reset();

    // 2 changed chunks in pre-op.md + 4 in a new file = 3 batches of 2, sent one at a time.
    await folder.write('pre-op.md', preOpGuide({ clearLiquids: 'Water only, until two hours before.', arrival: 'Arrive ninety minutes early.' }));
    await folder.write('extra.md', manySections(4, 'Recovery'));
    let armed = false;
    const onProgress = (p: IngestProgress) => {
      // Once the first batch is through, every further request fails, retries included.
      if (p.phase === 'embedding' && p.done > 0 && !armed) {
        armed = true;
        fake.failNext(500, 10, { retryAfterMs: 1 });
      }
    };
    const error = await rejection(ingest('failure', folder.dir, { embedder: embedderWith({ EMBEDDING_BATCH_SIZE: '2', EMBEDDING_CONCURRENCY: '1' }), onProgress }));

    expect(error).toBeInstanceOf(EmbeddingError);
    expect((error as EmbeddingError).message).toMatch(/HTTP 500/);
    expect(armed).toBe(true);
    expect(fake.stats.embeddingRequests).toBe(1);
    expect(fake.stats.failedRequests).toBeGreaterThan(1); // the SDK retried before giving up
    expect(await currentVersion(db, 'failure')).toBe(first.version);
    expect(await countRows('knowledge_versions', 'failure')).toBe(1);
    expect(await liveChunks('failure')).toEqual(before);

    // Once the API is back, the same ingest goes through.
    fake.reset();
    const retried = await ingest('failure', folder.dir);
    expect(retried).toMatchObject({ changed: true, previousVersion: first.version, embedded: 6 });
  });
});

describe('invalid documents', () => {
  const cases: { name: string; file: string; content: string | Buffer; message: RegExp; maxBytes?: number }[] = [
    { name: 'an empty file', file: 'empty.md', content: '', message: /empty\.md: is empty/ },
    {
      name: 'a binary file',
      file: 'scan.txt',
      content: Buffer.from([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x37, 0x0a, 0x00, 0x01, 0x02, 0x0a]),
      message: /scan\.txt: looks like a binary file \(it contains NUL bytes\)/,
    },
    {
      name: 'a file that is not UTF-8',
      file: 'latin1.md',
      content: Buffer.concat([Buffer.from('# Opening hours\n\nMonday to Friday.\n', 'utf8'), Buffer.from('Café on the ground floor.\n', 'latin1')]),
      message: /latin1\.md:4: is not valid UTF-8 text/,
    },
    {
      name: 'front matter that is not valid YAML',
      file: 'visiting.md',
      content: '---\ntitle: Visiting hours\nlang: en\nowner: a: b\n---\n# Visiting hours\n\nVisitors are welcome from 10:00 to 20:00.\n',
      message: /visiting\.md:4: front matter is not valid YAML/,
    },
    {
      name: 'front matter that never ends',
      file: 'unterminated.md',
      content: '---\ntitle: Visiting hours\n\n# Visiting hours\n\nVisitors are welcome.\n',
      message: /unterminated\.md:1: front matter starts with --- but never ends/,
    },
    {
      name: 'a file over MAX_DOCUMENT_BYTES',
      file: 'huge.md',
      content: `# Huge\n\n${'word '.repeat(500)}\n`,
      maxBytes: 1024,
      message: /huge\.md: is 2509 bytes, over the 1024-byte limit \(MAX_DOCUMENT_BYTES\)/,
    },
  ];

  it.each(cases.map((c, i) => ({ ...c, kb: `invalid-${i}` })))(
    'when the folder holds $name, then DocumentsInvalidError names the file and nothing is written',
    async ({ file, content, message, maxBytes, kb }) => {
      const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide() });
      const first = await ingest(kb, folder.dir, { maxDocumentBytes: maxBytes });
      const counts = { versions: await countRows('knowledge_versions', kb), documents: await countRows('documents', kb), chunks: await countRows('chunks', kb) };
      fake.reset();

      await folder.write('pre-op.md', preOpGuide({ arrival: 'Arrive two hours early.' })); // a valid change that must not land either
      await folder.write(file, content);
      const error = await rejection(ingest(kb, folder.dir, { maxDocumentBytes: maxBytes }));

      expect(error).toBeInstanceOf(DocumentsInvalidError);
      expect((error as DocumentsInvalidError).message).toMatch(message);
      expect((error as DocumentsInvalidError).message).toMatch(/nothing was changed/);
      expect((error as DocumentsInvalidError).problems.map((p) => p.file)).toEqual([file]);
      expect(await currentVersion(db, kb)).toBe(first.version);
      expect({ versions: await countRows('knowledge_versions', kb), documents: await countRows('documents', kb), chunks: await countRows('chunks', kb) }).toEqual(counts);
      expect(fake.stats.embeddingRequests).toBe(0);
    },
  );

  it('when several files are invalid, then one error lists every one of them', async () => {
    const folder = await knowledgeFolder({
      'a-empty.md': '',
      'b-good.md': parkingPage(),
      'c-latin1.txt': Buffer.from('Caf\xe9\n', 'latin1'),
    });

    const error = await rejection(ingest('several-invalid', folder.dir));

    expect(error).toBeInstanceOf(DocumentsInvalidError);
    expect((error as DocumentsInvalidError).problems.map((p) => [p.file, p.line])).toEqual([
      ['a-empty.md', undefined],
      ['c-latin1.txt', 1],
    ]);
    expect((error as DocumentsInvalidError).message).toMatch(/^2 document\(s\) cannot be ingested/);
    expect(await countRows('knowledge_bases', 'several-invalid')).toBe(0);
  });
});

describe('modes and options', () => {
  it('when no OpenAI key is configured, then chunks are stored without embeddings in full-text only mode', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });

    const summary = await ingest('no-key', folder.dir, { embedder: null });

    expect(summary).toMatchObject({ mode: 'full-text only', embeddingModel: null, changed: true, chunks: 5, embedded: 0 });
    expect(fake.stats.embeddingRequests).toBe(0);
    const chunks = await liveChunks('no-key');
    expect(chunks).toHaveLength(5);
    for (const chunk of chunks) expect(chunk).toMatchObject({ embedding: null, embedding_model: null, embedding_dims: null });
    const [hit] = await db.query<{ source: string }>(
      "SELECT source FROM chunks WHERE kb = $1 AND tsv @@ plainto_tsquery('english', 'parked cars') LIMIT 1",
      ['no-key'],
    );
    expect(hit?.source).toBe('parking.md');
  });

  it('when a key is added after a full-text only ingest, then every document is embedded on the next ingest', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const first = await ingest('key-added', folder.dir, { embedder: null });

    const second = await ingest('key-added', folder.dir);

    expect(second).toMatchObject({ mode: 'hybrid', changed: true, previousVersion: first.version, embedded: 5 });
    expect(second.documents.updated).toEqual(['parking.md', 'pre-op.md']);
    expect((await liveChunks('key-added')).every((c) => c.embedding !== null)).toBe(true);
  });

  it('when --dry-run is used on a new knowledge base, then it reports what would be added and writes nothing', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });

    const summary = await ingest('dry-new', folder.dir, { dryRun: true });

    expect(summary).toMatchObject({
      dryRun: true,
      changed: true,
      version: null,
      files: 2,
      chunks: 5,
      embedded: 5,
      reused: 0,
      documents: { added: ['parking.md', 'pre-op.md'], updated: [], removed: [], unchanged: 0 },
    });
    expect(fake.stats.embeddingRequests).toBe(0);
    expect(await countRows('knowledge_bases', 'dry-new')).toBe(0);
    expect(await countRows('documents', 'dry-new')).toBe(0);
    expect(await countRows('chunks', 'dry-new')).toBe(0);
  });

  it('when --dry-run is used after edits, then it reports the changes and the chunks to embed, and the version is unchanged', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const first = await ingest('dry-edit', folder.dir);
    const before = await liveChunks('dry-edit');
    fake.reset();

    await folder.write('pre-op.md', preOpGuide({ clearLiquids: 'Only water, until two hours before.' }));
    await folder.write('extra.md', manySections(2, 'Recovery'));
    await folder.remove('parking.md');
    const dry = await ingest('dry-edit', folder.dir, { dryRun: true });

    expect(dry).toMatchObject({
      dryRun: true,
      changed: true,
      version: first.version,
      files: 2,
      chunks: 6,
      embedded: 3, // the edited section + 2 new ones
      reused: 3,
      documents: { added: ['extra.md'], updated: ['pre-op.md'], removed: ['parking.md'], unchanged: 0 },
    });
    expect(fake.stats.embeddingRequests).toBe(0);
    expect(await currentVersion(db, 'dry-edit')).toBe(first.version);
    expect(await countRows('knowledge_versions', 'dry-edit')).toBe(1);
    expect(await liveChunks('dry-edit')).toEqual(before);

    // The real run does what the dry run announced.
    const real = await ingest('dry-edit', folder.dir);
    expect(real).toMatchObject({ embedded: dry.embedded, reused: dry.reused, chunks: dry.chunks, documents: dry.documents });
  });

  it('when 10 new chunks are embedded with EMBEDDING_BATCH_SIZE=4, then the API receives 3 requests of 4, 4 and 2 inputs', async () => {
    const folder = await knowledgeFolder({ 'handbook.md': manySections(10) });

    const summary = await ingest('batching', folder.dir, { embedder: embedderWith({ EMBEDDING_BATCH_SIZE: '4' }) });

    expect(summary).toMatchObject({ chunks: 10, embedded: 10 });
    expect(fake.stats.embeddingRequests).toBe(3);
    expect(fake.embeddingRequests.map((r) => (r.input as string[]).length).sort()).toEqual([2, 4, 4]);
    expect(new Set(embeddedTexts()).size).toBe(10);
  });
});

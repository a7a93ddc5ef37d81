/** SQL for knowledge versions, documents and chunks. */
import type { Database, Queryable } from '../store/index.js';
import type { Chunk } from './chunking.js';
import type { KnowledgeDocument } from './documents.js';
import { textSearchConfig } from './languages.js';

export interface LiveDocument {
  id: string;
  source: string;
  contentHash: string;
  fingerprint: string;
  chunkCount: number;
}

export interface KnowledgeBaseState {
  currentVersion: number | null;
  documents: LiveDocument[];
}

export async function readKnowledgeBase(db: Queryable, kb: string): Promise<KnowledgeBaseState> {
  const [base] = await db.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1', [kb]);
  const rows = await db.query<{ id: string; source: string; content_hash: string; fingerprint: string; chunk_count: number }>(
    'SELECT id, source, content_hash, fingerprint, chunk_count FROM documents WHERE kb = $1 AND retired_in IS NULL',
    [kb],
  );
  return {
    currentVersion: base?.current_version == null ? null : Number(base.current_version),
    documents: rows.map((r) => ({ id: String(r.id), source: r.source, contentHash: r.content_hash, fingerprint: r.fingerprint, chunkCount: r.chunk_count })),
  };
}

export async function currentVersion(db: Queryable, kb: string): Promise<number | null> {
  const [row] = await db.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1', [kb]);
  return row?.current_version == null ? null : Number(row.current_version);
}

/** Chunk ids whose stored embedding can be reused for these hashes (same model and size). */
export async function findReusableEmbeddings(
  db: Queryable,
  kb: string,
  hashes: string[],
  model: string,
  dims: number,
): Promise<Map<string, string>> {
  const reusable = new Map<string, string>();
  if (hashes.length === 0) return reusable;
  const rows = await db.query<{ content_hash: string; id: string }>(
    `SELECT DISTINCT ON (content_hash) content_hash, id FROM chunks
      WHERE kb = $1 AND content_hash = ANY($2::text[]) AND embedding_model = $3 AND embedding_dims = $4 AND embedding IS NOT NULL
      ORDER BY content_hash, id DESC`,
    [kb, hashes, model, dims],
  );
  for (const row of rows) reusable.set(row.content_hash, String(row.id));
  return reusable;
}

/** HNSW needs a fixed dimension: one partial index per embedding size in use. */
export async function ensureVectorIndex(db: Database, dims: number): Promise<void> {
  const size = Math.trunc(dims);
  await db.exec(
    `CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw_${size} ON chunks USING hnsw ((embedding::vector(${size})) vector_cosine_ops) WHERE embedding_dims = ${size}`,
  );
}

export interface NewChunk {
  chunk: Chunk;
  /** A fresh embedding, or the id of a stored chunk whose embedding is reused. */
  embedding?: number[];
  reuseFrom?: string;
}

export async function insertDocument(
  tx: Queryable,
  kb: string,
  version: number,
  doc: KnowledgeDocument,
  fingerprint: string,
  chunks: NewChunk[],
  embedding: { model: string; dims: number } | undefined,
): Promise<void> {
  const [row] = await tx.query<{ id: string }>(
    `INSERT INTO documents (kb, source, title, lang, metadata, content_hash, fingerprint, chunk_count, added_in)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [kb, doc.source, doc.title, doc.lang, JSON.stringify(doc.metadata), doc.contentHash, fingerprint, chunks.length, version],
  );
  if (chunks.length === 0) return;
  const config = textSearchConfig(doc.lang);
  // One statement per document: arrays unnested server-side instead of a row per round trip.
  await tx.query(
    `INSERT INTO chunks (document_id, kb, source, title, heading_path, ordinal, content, content_hash, ts_config, tsv,
                         embedding, embedding_model, embedding_dims, added_in)
     SELECT $1, $2, $3, $4, c.heading_path, c.ordinal, c.content, c.content_hash, $5::regconfig,
            setweight(to_tsvector($5::regconfig, $4 || ' ' || c.heading_path), 'A') || setweight(to_tsvector($5::regconfig, c.content), 'B'),
            COALESCE(c.embedding::vector, (SELECT e.embedding FROM chunks e WHERE e.id = c.reuse_from)),
            CASE WHEN c.embedding IS NULL AND c.reuse_from IS NULL THEN NULL ELSE $6::text END,
            CASE WHEN c.embedding IS NULL AND c.reuse_from IS NULL THEN NULL ELSE $7::int END,
            $8
       FROM unnest($9::text[], $10::int[], $11::text[], $12::text[], $13::text[], $14::bigint[])
         AS c(heading_path, ordinal, content, content_hash, embedding, reuse_from)`,
    [
      row!.id,
      kb,
      doc.source,
      doc.title,
      config,
      embedding?.model ?? null,
      embedding?.dims ?? null,
      version,
      chunks.map((c) => c.chunk.headingPath),
      chunks.map((c) => c.chunk.ordinal),
      chunks.map((c) => c.chunk.content),
      chunks.map((c) => c.chunk.contentHash),
      chunks.map((c) => (c.embedding ? `[${c.embedding.join(',')}]` : null)),
      chunks.map((c) => c.reuseFrom ?? null),
    ],
  );
}

/** Starts a new version: locks the knowledge base row so two ingests cannot interleave. */
export async function beginVersion(tx: Queryable, kb: string, sourceDir: string): Promise<{ version: number; previous: number | null }> {
  await tx.query('INSERT INTO knowledge_bases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [kb]);
  const [base] = await tx.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1 FOR UPDATE', [kb]);
  const [created] = await tx.query<{ id: string }>(
    "INSERT INTO knowledge_versions (kb, status, source_dir) VALUES ($1, 'active', $2) RETURNING id",
    [kb, sourceDir],
  );
  return { version: Number(created!.id), previous: base?.current_version == null ? null : Number(base.current_version) };
}

export async function retireDocuments(tx: Queryable, documentIds: string[], version: number): Promise<void> {
  if (documentIds.length === 0) return;
  await tx.query('UPDATE documents SET retired_in = $2 WHERE id = ANY($1::bigint[])', [documentIds, version]);
  await tx.query('UPDATE chunks SET retired_in = $2 WHERE document_id = ANY($1::bigint[])', [documentIds, version]);
}

/**
 * Makes `version` the one every query sees, and deletes rows no version can see any more
 * (retired at or before the previous version; rows retired by this version still serve
 * queries that started on the previous one).
 */
export async function activateVersion(tx: Queryable, kb: string, version: number, previous: number | null, summary: object): Promise<void> {
  await tx.query("UPDATE knowledge_versions SET activated_at = now(), summary = $2 WHERE id = $1", [version, JSON.stringify(summary)]);
  if (previous !== null) {
    await tx.query("UPDATE knowledge_versions SET status = 'superseded' WHERE id = $1", [previous]);
    await tx.query('DELETE FROM documents WHERE kb = $1 AND retired_in IS NOT NULL AND retired_in <= $2', [kb, previous]);
  }
  await tx.query('UPDATE knowledge_bases SET current_version = $2, updated_at = now() WHERE name = $1', [kb, version]);
}

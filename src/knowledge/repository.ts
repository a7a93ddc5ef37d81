/** SQL for knowledge versions, documents and chunks. */
import { vectorBinary, vectorText, type Database, type Queryable } from '../store/index.js';
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

/** The documents the current version serves (none of a version still being built or evaluated). */
export async function readCurrentDocuments(db: Queryable, kb: string): Promise<LiveDocument[]> {
  const rows = await db.query<{ id: string; source: string; content_hash: string; fingerprint: string; chunk_count: number }>(
    `SELECT d.id, d.source, d.content_hash, d.fingerprint, d.chunk_count
       FROM documents d JOIN knowledge_bases b ON b.name = d.kb
      WHERE d.kb = $1 AND d.added_in <= b.current_version AND (d.retired_in IS NULL OR d.retired_in > b.current_version)`,
    [kb],
  );
  return rows.map((r) => ({ id: String(r.id), source: r.source, contentHash: r.content_hash, fingerprint: r.fingerprint, chunkCount: r.chunk_count }));
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

/** Refreshes the planner's statistics on the knowledge tables (row counts, value distributions). */
/**
 * Planner statistics for the columns queries filter on. Not `tsv` (nothing searches it: see
 * lexical-index.ts; its lexeme statistics were the slowest part) nor the text and vectors.
 */
export async function analyzeKnowledge(db: Queryable): Promise<void> {
  await db.query('ANALYZE documents, chunks (id, document_id, kb, content_hash, ts_config, embedding_model, embedding_dims, added_in, retired_in)');
}

/** HNSW needs a fixed dimension: one partial index per embedding size in use. */
export async function ensureVectorIndex(db: Queryable, dims: number): Promise<void> {
  const size = Math.trunc(dims);
  await db.query(
    `CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw_${size} ON chunks USING hnsw ((embedding::vector(${size})) vector_cosine_ops) WHERE embedding_dims = ${size}`,
  );
}

export interface NewChunk {
  chunk: Chunk;
  /** A fresh embedding, or the id of a stored chunk whose embedding is reused. */
  embedding?: number[];
  reuseFrom?: string;
}

export interface NewDocument {
  doc: KnowledgeDocument;
  fingerprint: string;
  chunks: NewChunk[];
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
  await insertDocuments(tx, kb, version, [{ doc, fingerprint, chunks }], embedding);
}

/** How embeddings travel to the database: binary over `pg` (see store/vector.ts), text to PGlite in-process. */
export type VectorEncoding = { binary: true; vectorOid: number } | { binary: false };

export async function vectorEncoding(db: Database): Promise<VectorEncoding> {
  if (db.engine !== 'postgres') return { binary: false };
  const [row] = await db.query<{ oid: number }>("SELECT 'vector'::regtype::oid::int AS oid");
  return row ? { binary: true, vectorOid: Number(row.oid) } : { binary: false };
}

/** A one-dimensional `vector[]` in Postgres' binary array format (array_recv) of `vectorBinary` elements. */
function vectorArrayBinary(vectors: Array<number[] | undefined>, vectorOid: number): Buffer {
  const size = 20 + vectors.reduce((n, v) => n + 4 + (v ? 4 + 4 * v.length : 0), 0);
  const out = Buffer.alloc(size);
  let at = out.writeInt32BE(1, 0); // dimensions of the array
  at = out.writeInt32BE(vectors.some((v) => !v) ? 1 : 0, at); // has nulls
  at = out.writeUInt32BE(vectorOid, at);
  at = out.writeInt32BE(vectors.length, at);
  at = out.writeInt32BE(1, at); // lower bound
  for (const vector of vectors) {
    if (!vector) {
      at = out.writeInt32BE(-1, at);
      continue;
    }
    const element = vectorBinary(vector);
    at = out.writeInt32BE(element.length, at);
    at += element.copy(out, at);
  }
  return out;
}

/**
 * Inserts a batch of documents and all their chunks in two statements, arrays unnested
 * server-side: two round trips per batch instead of two per document.
 */
export async function insertDocuments(
  tx: Queryable,
  kb: string,
  version: number,
  docs: NewDocument[],
  embedding: { model: string; dims: number } | undefined,
  encoding: VectorEncoding = { binary: false },
): Promise<void> {
  if (docs.length === 0) return;
  const inserted = await tx.query<{ id: string; source: string }>(
    `INSERT INTO documents (kb, source, title, lang, metadata, content_hash, fingerprint, chunk_count, added_in)
     SELECT $1, d.source, d.title, d.lang, d.metadata::jsonb, d.content_hash, d.fingerprint, d.chunk_count, $2
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[])
         AS d(source, title, lang, metadata, content_hash, fingerprint, chunk_count)
     RETURNING id, source`,
    [
      kb,
      version,
      docs.map((d) => d.doc.source),
      docs.map((d) => d.doc.title),
      docs.map((d) => d.doc.lang),
      docs.map((d) => JSON.stringify(d.doc.metadata)),
      docs.map((d) => d.doc.contentHash),
      docs.map((d) => d.fingerprint),
      docs.map((d) => d.chunks.length),
    ],
  );
  const ids = new Map(inserted.map((r) => [r.source, String(r.id)]));
  const rows = docs.flatMap((d) => d.chunks.map((c) => ({ d, c })));
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO chunks (document_id, kb, source, title, heading_path, ordinal, content, content_hash, ts_config, tsv,
                         embedding, embedding_model, embedding_dims, added_in)
     SELECT c.document_id, $1, c.source, c.title, c.heading_path, c.ordinal, c.content, c.content_hash, c.ts_config::regconfig,
            setweight(to_tsvector(c.ts_config::regconfig, c.title || ' ' || c.heading_path), 'A') || setweight(to_tsvector(c.ts_config::regconfig, c.content), 'B'),
            COALESCE(c.embedding::vector, (SELECT e.embedding FROM chunks e WHERE e.id = c.reuse_from)),
            CASE WHEN c.embedding IS NULL AND c.reuse_from IS NULL THEN NULL ELSE $2::text END,
            CASE WHEN c.embedding IS NULL AND c.reuse_from IS NULL THEN NULL ELSE $3::int END,
            $4
       FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::${encoding.binary ? 'vector' : 'text'}[], $14::bigint[])
         AS c(document_id, source, title, ts_config, heading_path, ordinal, content, content_hash, embedding, reuse_from)`,
    [
      kb,
      embedding?.model ?? null,
      embedding?.dims ?? null,
      version,
      rows.map(({ d }) => ids.get(d.doc.source)!),
      rows.map(({ d }) => d.doc.source),
      rows.map(({ d }) => d.doc.title),
      rows.map(({ d }) => textSearchConfig(d.doc.lang)),
      rows.map(({ c }) => c.chunk.headingPath),
      rows.map(({ c }) => c.chunk.ordinal),
      rows.map(({ c }) => c.chunk.content),
      rows.map(({ c }) => c.chunk.contentHash),
      encoding.binary
        ? vectorArrayBinary(rows.map(({ c }) => c.embedding), encoding.vectorOid)
        : rows.map(({ c }) => (c.embedding ? vectorText(c.embedding) : null)),
      rows.map(({ c }) => c.reuseFrom ?? null),
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

/** Starts a version in its own short transaction; its rows are written later, batch by batch. */
export async function beginPendingVersion(db: Database, kb: string, sourceDir: string): Promise<{ version: number; previous: number | null }> {
  return db.transaction((tx) => beginVersion(tx, kb, sourceDir));
}

/**
 * Inside a transaction: true while `version` is still being built (not activated, rejected or
 * discarded by a later ingest). Holds the row so nobody discards it until the transaction ends.
 */
export async function holdPendingVersion(tx: Queryable, kb: string, version: number): Promise<boolean> {
  const rows = await tx.query<{ id: string }>(
    "SELECT id FROM knowledge_versions WHERE id = $1 AND kb = $2 AND status = 'active' AND activated_at IS NULL FOR SHARE",
    [version, kb],
  );
  return rows.length > 0;
}

/**
 * Removes a version that failed while it was being built: its rows and its record, as if it
 * had never started (it retired nothing yet: retiring happens when it is activated).
 */
export async function dropPendingVersion(db: Database, kb: string, version: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT current_version FROM knowledge_bases WHERE name = $1 FOR UPDATE', [kb]);
    if (!(await holdPendingVersion(tx, kb, version))) return;
    await tx.query('DELETE FROM documents WHERE kb = $1 AND added_in = $2', [kb, version]);
    await tx.query('DELETE FROM knowledge_versions WHERE id = $1', [version]);
  });
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

/** Keeps a version built with `activate: false` for `activateVersion` later: only its summary. */
export async function recordPendingVersion(tx: Queryable, version: number, summary: object): Promise<void> {
  await tx.query('UPDATE knowledge_versions SET summary = $2 WHERE id = $1', [version, JSON.stringify(summary)]);
}

/**
 * Undoes an unactivated version: deletes the rows it added (chunks cascade), makes the rows
 * it retired live again, and records it as 'rejected' with the reason.
 */
export async function rollBackVersion(tx: Queryable, kb: string, version: number, reason: string): Promise<void> {
  await tx.query('DELETE FROM documents WHERE kb = $1 AND added_in = $2', [kb, version]);
  await tx.query('UPDATE documents SET retired_in = NULL WHERE kb = $1 AND retired_in = $2', [kb, version]);
  await tx.query('UPDATE chunks SET retired_in = NULL WHERE kb = $1 AND retired_in = $2', [kb, version]);
  await tx.query("UPDATE knowledge_versions SET status = 'rejected', error = $2 WHERE id = $1", [version, reason]);
}

/** Versions built but never activated nor rejected (status 'active', no activated_at), rolled back. */
export async function discardPendingVersions(db: Database, kb: string, reason: string): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT current_version FROM knowledge_bases WHERE name = $1 FOR UPDATE', [kb]);
    const rows = await tx.query<{ id: string }>("SELECT id FROM knowledge_versions WHERE kb = $1 AND status = 'active' AND activated_at IS NULL ORDER BY id DESC", [kb]);
    for (const row of rows) await rollBackVersion(tx, kb, Number(row.id), reason);
    return rows.map((r) => Number(r.id));
  });
}

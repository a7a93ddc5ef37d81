/**
 * `ingestKnowledge`: read the folder, chunk, embed what is new, and switch the knowledge base
 * to a new version in one transaction. Safe to re-run: unchanged documents are not touched,
 * unchanged chunks are never re-embedded, and a failure leaves the previous version serving.
 */
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { Database, Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { CHUNKER_VERSION, chunkDocument, sha256, type Chunk, type ChunkingOptions } from './chunking.js';
import { loadDocuments, type KnowledgeDocument } from './documents.js';
import {
  activateVersion as switchToVersion,
  analyzeKnowledge,
  beginVersion,
  discardPendingVersions,
  ensureVectorIndex,
  findReusableEmbeddings,
  insertDocuments,
  readKnowledgeBase,
  recordPendingVersion,
  retireDocuments,
  rollBackVersion,
  type NewChunk,
  type NewDocument,
} from './repository.js';

export interface IngestOptions {
  dir: string;
  kb: string;
  chunking: ChunkingOptions;
  maxDocumentBytes: number;
  dryRun?: boolean;
  /**
   * False: commit the new version's rows but keep serving the current version, so it can be
   * evaluated first (`retrieveContext({ version })`), then `activateVersion` or `rejectVersion`.
   */
  activate?: boolean;
}

export interface IngestProgress {
  phase: 'reading' | 'embedding' | 'writing' | 'done';
  done: number;
  total: number;
}

export interface IngestDeps {
  db: Database;
  embedder: Embedder | undefined;
  logger: Logger;
  onProgress?: (progress: IngestProgress) => void;
}

export interface IngestSummary {
  kb: string;
  dir: string;
  mode: 'hybrid' | 'full-text only';
  embeddingModel: string | null;
  dryRun: boolean;
  /** False when nothing changed: no new version was made. */
  changed: boolean;
  /** True when this run switched the knowledge base to `version` (false with `activate: false`). */
  activated: boolean;
  version: number | null;
  previousVersion: number | null;
  files: number;
  chunks: number;
  embedded: number;
  reused: number;
  documents: { added: string[]; updated: string[]; removed: string[]; unchanged: number };
  ms: number;
}

interface PlannedDocument {
  doc: KnowledgeDocument;
  chunks: Chunk[];
  fingerprint: string;
  replaces?: string;
}

/** Chunks written per statement: a few round trips for a whole knowledge base, bounded messages. */
const WRITE_BATCH_CHUNKS = 200;

/** Consecutive documents, grouped until a group holds at least `maxChunks` chunks. */
function inBatches(planned: PlannedDocument[], maxChunks: number): PlannedDocument[][] {
  const batches: PlannedDocument[][] = [];
  let current: PlannedDocument[] = [];
  let chunks = 0;
  for (const plan of planned) {
    current.push(plan);
    chunks += plan.chunks.length;
    if (chunks >= maxChunks) {
      batches.push(current);
      current = [];
      chunks = 0;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function fingerprintOf(chunking: ChunkingOptions, embedder: Embedder | undefined): string {
  const embedding = embedder ? `${embedder.model}:${embedder.dimensions}` : 'none';
  return `chunker=${CHUNKER_VERSION};size=${chunking.chunkSize};overlap=${chunking.chunkOverlap};embedding=${embedding}`;
}

export async function ingestKnowledge(deps: IngestDeps, options: IngestOptions): Promise<IngestSummary> {
  const started = performance.now();
  const { db, embedder } = deps;
  const progress = deps.onProgress ?? (() => undefined);

  progress({ phase: 'reading', done: 0, total: 1 });
  const documents = await loadDocuments(options.dir, options.maxDocumentBytes);
  // A version built but never activated (an interrupted `ingest --eval`) would be visible to
  // the new one, and its rows would look live: roll it back before planning.
  if (!options.dryRun) await discardPendingVersions(db, options.kb, 'abandoned: a later ingest started before it was activated or rejected');
  const state = await readKnowledgeBase(db, options.kb);
  const fingerprint = fingerprintOf(options.chunking, embedder);
  const live = new Map(state.documents.map((d) => [d.source, d]));

  const planned: PlannedDocument[] = [];
  const added: string[] = [];
  const updated: string[] = [];
  let unchanged = 0;
  let unchangedChunks = 0;
  for (const doc of documents) {
    const current = live.get(doc.source);
    if (current && current.contentHash === doc.contentHash && current.fingerprint === fingerprint) {
      unchanged += 1;
      unchangedChunks += current.chunkCount;
      continue;
    }
    (current ? updated : added).push(doc.source);
    planned.push({ doc, chunks: await chunkDocument(doc, options.chunking), fingerprint, replaces: current?.id });
  }
  const present = new Set(documents.map((d) => d.source));
  const removedDocs = state.documents.filter((d) => !present.has(d.source));
  const changed = planned.length > 0 || removedDocs.length > 0;

  const newChunks = planned.flatMap((p) => p.chunks);
  const summary: IngestSummary = {
    kb: options.kb,
    dir: options.dir,
    mode: embedder ? 'hybrid' : 'full-text only',
    embeddingModel: embedder?.model ?? null,
    dryRun: options.dryRun ?? false,
    changed,
    activated: false,
    version: state.currentVersion,
    previousVersion: state.currentVersion,
    files: documents.length,
    chunks: unchangedChunks + newChunks.length,
    embedded: 0,
    reused: unchangedChunks,
    documents: { added, updated, removed: removedDocs.map((d) => d.source), unchanged },
    ms: 0,
  };

  if (!changed || options.dryRun) {
    if (options.dryRun && embedder) {
      const reusable = await findReusableEmbeddings(db, options.kb, [...new Set(newChunks.map((c) => c.contentHash))], embedder.model, embedder.dimensions);
      const toEmbed = new Set(newChunks.filter((c) => !reusable.has(c.contentHash)).map((c) => c.contentHash));
      summary.embedded = toEmbed.size;
      summary.reused += newChunks.length - newChunks.filter((c) => toEmbed.has(c.contentHash)).length;
    }
    summary.ms = Math.round(performance.now() - started);
    progress({ phase: 'done', done: 1, total: 1 });
    return summary;
  }

  // Embed before opening the transaction: a slow or failing API never holds a lock.
  const vectors = new Map<string, number[]>();
  let reusable = new Map<string, string>();
  if (embedder) {
    reusable = await findReusableEmbeddings(db, options.kb, [...new Set(newChunks.map((c) => c.contentHash))], embedder.model, embedder.dimensions);
    const pending = new Map<string, string>();
    for (const chunk of newChunks) if (!reusable.has(chunk.contentHash)) pending.set(chunk.contentHash, chunk.embeddingText);
    const hashes = [...pending.keys()];
    progress({ phase: 'embedding', done: 0, total: hashes.length });
    const embedded = await embedder.embed([...pending.values()], (done, total) => progress({ phase: 'embedding', done, total }));
    hashes.forEach((hash, i) => vectors.set(hash, embedded[i]!));
    summary.embedded = hashes.length;
    summary.reused += newChunks.length - newChunks.filter((c) => pending.has(c.contentHash)).length;
  }

  progress({ phase: 'writing', done: 0, total: planned.length });
  const result = await db.transaction(async (tx) => {
    const { version, previous } = await beginVersion(tx, options.kb, options.dir);
    await retireDocuments(tx, [...planned.flatMap((p) => (p.replaces ? [p.replaces] : [])), ...removedDocs.map((d) => d.id)], version);
    let written = 0;
    const embedding = embedder ? { model: embedder.model, dims: embedder.dimensions } : undefined;
    for (const batch of inBatches(planned, WRITE_BATCH_CHUNKS)) {
      const docs: NewDocument[] = batch.map((plan) => ({
        doc: plan.doc,
        fingerprint: plan.fingerprint,
        chunks: plan.chunks.map((chunk): NewChunk => ({
          chunk,
          embedding: vectors.get(chunk.contentHash),
          reuseFrom: vectors.has(chunk.contentHash) ? undefined : reusable.get(chunk.contentHash),
        })),
      }));
      await insertDocuments(tx, options.kb, version, docs, embedding);
      written += batch.length;
      progress({ phase: 'writing', done: written, total: planned.length });
    }
    // After the rows: the first ingest builds the HNSW index in one pass, many times faster
    // than inserting each row into an existing graph; later ingests find it and add to it.
    if (embedder) await ensureVectorIndex(tx, embedder.dimensions);
    summary.version = version;
    summary.previousVersion = previous;
    summary.ms = Math.round(performance.now() - started);
    summary.activated = options.activate ?? true;
    if (summary.activated) await switchToVersion(tx, options.kb, version, previous, summary);
    else await recordPendingVersion(tx, version, summary);
    return { version, previous };
  });
  // Fresh planner statistics after a large change, as autovacuum would do; PGlite has none,
  // and without them the planner scans every chunk instead of using the HNSW index.
  const retiredIds = new Set([...planned.flatMap((p) => (p.replaces ? [p.replaces] : [])), ...removedDocs.map((d) => d.id)]);
  const retiredChunks = state.documents.filter((d) => retiredIds.has(d.id)).reduce((n, d) => n + d.chunkCount, 0);
  if (newChunks.length + retiredChunks > 50 + summary.chunks / 10) {
    await analyzeKnowledge(db).catch((error: unknown) => deps.logger.warn({ error: describeError(error) }, 'could not refresh planner statistics'));
  }
  deps.logger.info(
    { kb: options.kb, version: result.version, previous: result.previous, embedded: summary.embedded, reused: summary.reused },
    summary.activated ? 'knowledge version activated' : 'knowledge version built, not activated',
  );
  summary.ms = Math.round(performance.now() - started);
  progress({ phase: 'done', done: 1, total: 1 });
  return summary;
}

/** Locks the knowledge base row and returns its current version, if `version` is still waiting to be activated. */
async function lockPending(tx: Queryable, kb: string, version: number): Promise<{ current: number | null; summary: Record<string, unknown> }> {
  const [base] = await tx.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1 FOR UPDATE', [kb]);
  const [row] = await tx.query<{ status: string; activated_at: Date | null; summary: Record<string, unknown> | string }>(
    'SELECT status, activated_at, summary FROM knowledge_versions WHERE id = $1 AND kb = $2',
    [version, kb],
  );
  if (!row || row.status !== 'active' || row.activated_at !== null) {
    const state = !row ? 'no such version' : row.activated_at !== null ? 'already activated' : row.status;
    throw new AppError(ErrorIds.knowledgeVersionNotPending, `Knowledge version ${version} of "${kb}" is not waiting to be activated (${state}).`, { context: { kb, version } });
  }
  const summary = typeof row.summary === 'string' ? (JSON.parse(row.summary) as Record<string, unknown>) : row.summary;
  return { current: base?.current_version == null ? null : Number(base.current_version), summary };
}

/**
 * Switches the knowledge base to a version built with `activate: false`. Refuses when the
 * version is not pending any more (rejected, or discarded by a later ingest) or when the
 * knowledge base moved on since it was built: activating it then would go backwards.
 */
export async function activateVersion(db: Database, kb: string, version: number): Promise<void> {
  await db.transaction(async (tx) => {
    const { current, summary } = await lockPending(tx, kb, version);
    if (current !== null && current >= version) {
      throw new AppError(ErrorIds.knowledgeVersionNotPending, `Knowledge base "${kb}" moved on to version ${current} after version ${version} was built; ingest again.`, {
        context: { kb, version, current },
      });
    }
    await switchToVersion(tx, kb, version, current, { ...summary, activated: true });
  });
}

/**
 * Rejects a version built with `activate: false`: its rows are deleted, the rows it retired
 * are live again, and the version stays on record with status 'rejected' and the reason.
 */
export async function rejectVersion(db: Database, kb: string, version: number, reason: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockPending(tx, kb, version);
    await rollBackVersion(tx, kb, version, reason);
  });
}

export { sha256 };

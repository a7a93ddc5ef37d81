/**
 * `ingestKnowledge`: read the folder, chunk, embed what is new while writing it under a new
 * version nobody sees yet, and switch the knowledge base to that version in one transaction.
 * Safe to re-run: unchanged documents are only read and hashed, unchanged chunks are never
 * re-embedded, and a failure removes the unfinished version and leaves the previous one serving.
 */
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { Database, Queryable } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { CHUNKER_VERSION, chunkDocument, sha256, type Chunk, type ChunkingOptions } from './chunking.js';
import { parseDocumentFile, scanDocuments, type KnowledgeDocument } from './documents.js';
import {
  activateVersion as switchToVersion,
  analyzeKnowledge,
  beginPendingVersion,
  discardPendingVersions,
  dropPendingVersion,
  ensureVectorIndex,
  findReusableEmbeddings,
  holdPendingVersion,
  insertDocuments,
  readCurrentDocuments,
  readKnowledgeBase,
  recordPendingVersion,
  retireDocuments,
  rollBackVersion,
  vectorEncoding,
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

function fingerprintOf(chunking: ChunkingOptions, embedder: Embedder | undefined): string {
  const embedding = embedder ? `${embedder.model}:${embedder.dimensions}` : 'none';
  return `chunker=${CHUNKER_VERSION};size=${chunking.chunkSize};overlap=${chunking.chunkOverlap};embedding=${embedding}`;
}

/** Fails the activation when the version was discarded meanwhile or another ingest moved the knowledge base on. */
async function lockForActivation(tx: Queryable, kb: string, version: number, previous: number | null): Promise<void> {
  const [base] = await tx.query<{ current_version: string | null }>('SELECT current_version FROM knowledge_bases WHERE name = $1 FOR UPDATE', [kb]);
  const current = base?.current_version == null ? null : Number(base.current_version);
  if (!(await holdPendingVersion(tx, kb, version)) || current !== previous) {
    throw new AppError(ErrorIds.knowledgeVersionNotPending, `Another ingest of "${kb}" ran while version ${version} was being built; ingest again.`, {
      context: { kb, version, previous, current },
    });
  }
}

/** Embeds what is new through `embedEach` when the embedder has it, otherwise in one call. */
async function embedInBatches(embedder: Embedder, texts: string[], onVectors: (offset: number, vectors: number[][]) => void): Promise<void> {
  if (texts.length === 0) return;
  if (embedder.embedEach) return embedder.embedEach(texts, onVectors);
  onVectors(0, await embedder.embed(texts));
}

/**
 * Embeds the planned chunks that have no reusable embedding and writes the planned documents
 * under `version`, in order, each group as soon as all its chunks have their embedding; one
 * group is written while the next requests are in flight. Returns the hashes embedded.
 */
async function writeChunks(
  deps: IngestDeps,
  options: IngestOptions,
  version: number,
  planned: PlannedDocument[],
  reusable: Map<string, string>,
): Promise<Set<string>> {
  const { db, embedder } = deps;
  const progress = deps.onProgress ?? (() => undefined);
  const embedding = embedder ? { model: embedder.model, dims: embedder.dimensions } : undefined;
  const encoding = embedder ? await vectorEncoding(db) : undefined;
  const pending = new Map<string, string>();
  if (embedder) for (const plan of planned) for (const chunk of plan.chunks) if (!reusable.has(chunk.contentHash)) pending.set(chunk.contentHash, chunk.embeddingText);
  const hashes = [...pending.keys()];
  const vectors = new Map<string, number[]>();
  const isReady = (plan: PlannedDocument) => !embedder || plan.chunks.every((c) => vectors.has(c.contentHash) || reusable.has(c.contentHash));

  let queued = 0; // planned[0, queued) are written or being written
  let written = 0;
  let embeddingDone = hashes.length === 0;
  let writeError: unknown;
  let writing: Promise<void> = Promise.resolve();
  const writeGroup = async (group: PlannedDocument[]) => {
    if (writeError !== undefined) return;
    const docs: NewDocument[] = group.map((plan) => ({
      doc: plan.doc,
      fingerprint: plan.fingerprint,
      chunks: plan.chunks.map((chunk): NewChunk => ({
        chunk,
        embedding: vectors.get(chunk.contentHash),
        reuseFrom: vectors.has(chunk.contentHash) ? undefined : reusable.get(chunk.contentHash),
      })),
    }));
    await db.transaction(async (tx) => {
      if (!(await holdPendingVersion(tx, options.kb, version))) {
        throw new AppError(ErrorIds.knowledgeVersionNotPending, `Version ${version} of "${options.kb}" was discarded by another ingest while it was being built; ingest again.`, {
          context: { kb: options.kb, version },
        });
      }
      await insertDocuments(tx, options.kb, version, docs, embedding, encoding);
    });
    written += group.length;
    if (embeddingDone) progress({ phase: 'writing', done: written, total: planned.length });
  };
  /** Queues the ready documents after the last queued one: in groups of WRITE_BATCH_CHUNKS, or all when `final`. */
  const queueReady = (final: boolean) => {
    let end = queued;
    let chunks = 0;
    while (end < planned.length && isReady(planned[end]!)) {
      chunks += planned[end]!.chunks.length;
      end += 1;
      if (chunks >= WRITE_BATCH_CHUNKS || (final && end === planned.length)) {
        const group = planned.slice(queued, end);
        queued = end;
        chunks = 0;
        writing = writing.then(() => writeGroup(group)).catch((error: unknown) => {
          writeError ??= error;
        });
      }
    }
  };

  if (embedder) {
    progress({ phase: 'embedding', done: 0, total: hashes.length });
    let done = 0;
    queueReady(false);
    await embedInBatches(embedder, [...pending.values()], (offset, batch) => {
      // A failed write stops the embedding: no request is spent on rows that cannot land.
      if (writeError !== undefined) throw writeError;
      batch.forEach((vector, i) => vectors.set(hashes[offset + i]!, vector));
      done += batch.length;
      progress({ phase: 'embedding', done, total: hashes.length });
      queueReady(false);
    }).catch(async (error: unknown) => {
      await writing;
      throw error;
    });
  }
  embeddingDone = true;
  progress({ phase: 'writing', done: written, total: planned.length });
  queueReady(true);
  await writing;
  if (writeError !== undefined) throw writeError;
  return new Set(hashes);
}

export async function ingestKnowledge(deps: IngestDeps, options: IngestOptions): Promise<IngestSummary> {
  const started = performance.now();
  const { db, embedder } = deps;
  const progress = deps.onProgress ?? (() => undefined);

  progress({ phase: 'reading', done: 0, total: 1 });
  const fingerprint = fingerprintOf(options.chunking, embedder);
  // Files whose text the current version already holds are read and hashed, not parsed.
  const stored = new Map((await readCurrentDocuments(db, options.kb)).map((d) => [d.source, d]));
  const isStored = (source: string, hash: string) => stored.get(source)?.contentHash === hash && stored.get(source)?.fingerprint === fingerprint;
  const scanned = await scanDocuments(options.dir, options.maxDocumentBytes, isStored);
  // A version built but never activated (an interrupted `ingest --eval`) would be visible to
  // the new one, and its rows would look live: roll it back before planning.
  if (!options.dryRun) await discardPendingVersions(db, options.kb, 'abandoned: a later ingest started before it was activated or rejected');
  const state = await readKnowledgeBase(db, options.kb);
  const live = new Map(state.documents.map((d) => [d.source, d]));
  const isLive = (source: string, hash: string) => live.get(source)?.contentHash === hash && live.get(source)?.fingerprint === fingerprint;
  // Parsed after all if the live state is not the one scanned against (another ingest ran meanwhile).
  const documents = await Promise.all(
    scanned.map((d) => ('unchanged' in d && !isLive(d.source, d.contentHash) ? parseDocumentFile(options.dir, d.source, options.maxDocumentBytes) : d)),
  );

  const planned: PlannedDocument[] = [];
  const added: string[] = [];
  const updated: string[] = [];
  let unchanged = 0;
  let unchangedChunks = 0;
  for (const doc of documents) {
    const current = live.get(doc.source);
    if ('unchanged' in doc) {
      unchanged += 1;
      unchangedChunks += current!.chunkCount;
      continue;
    }
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

  // Rows are written under a new version that no query sees until it is activated, in short
  // transactions as their embeddings arrive: storing overlaps embedding, and a slow or failing
  // API never holds a lock. Only retiring the old rows and the switch are one transaction.
  const reusable = embedder
    ? await findReusableEmbeddings(db, options.kb, [...new Set(newChunks.map((c) => c.contentHash))], embedder.model, embedder.dimensions)
    : new Map<string, string>();
  const { version, previous } = await beginPendingVersion(db, options.kb, options.dir);
  try {
    const embedded = await writeChunks(deps, options, version, planned, reusable);
    summary.embedded = embedded.size;
    summary.reused += newChunks.length - newChunks.filter((c) => embedded.has(c.contentHash)).length;
    await db.transaction(async (tx) => {
      await lockForActivation(tx, options.kb, version, previous);
      await retireDocuments(tx, [...planned.flatMap((p) => (p.replaces ? [p.replaces] : [])), ...removedDocs.map((d) => d.id)], version);
      // After the rows: the first ingest builds the HNSW index in one pass, many times faster
      // than inserting each row into an existing graph; later ingests find it and add to it.
      if (embedder) await ensureVectorIndex(tx, embedder.dimensions);
      summary.version = version;
      summary.previousVersion = previous;
      summary.ms = Math.round(performance.now() - started);
      summary.activated = options.activate ?? true;
      if (summary.activated) await switchToVersion(tx, options.kb, version, previous, summary);
      else await recordPendingVersion(tx, version, summary);
    });
  } catch (error) {
    await dropPendingVersion(db, options.kb, version).catch((dropError: unknown) =>
      deps.logger.warn({ error: describeError(dropError), version }, 'could not remove the failed knowledge version; the next ingest discards it'),
    );
    throw error;
  }
  const result = { version, previous };
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

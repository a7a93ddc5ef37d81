/**
 * `ingestKnowledge`: read the folder, chunk, embed what is new, and switch the knowledge base
 * to a new version in one transaction. Safe to re-run: unchanged documents are not touched,
 * unchanged chunks are never re-embedded, and a failure leaves the previous version serving.
 */
import type { Logger } from '../logging/index.js';
import type { Database } from '../store/index.js';
import type { Embedder } from '../vendors/openai.js';
import { CHUNKER_VERSION, chunkDocument, sha256, type Chunk, type ChunkingOptions } from './chunking.js';
import { loadDocuments, type KnowledgeDocument } from './documents.js';
import {
  activateVersion,
  beginVersion,
  ensureVectorIndex,
  findReusableEmbeddings,
  insertDocument,
  readKnowledgeBase,
  retireDocuments,
  type NewChunk,
} from './repository.js';

export interface IngestOptions {
  dir: string;
  kb: string;
  chunking: ChunkingOptions;
  maxDocumentBytes: number;
  dryRun?: boolean;
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
    await ensureVectorIndex(db, embedder.dimensions);
  }

  progress({ phase: 'writing', done: 0, total: planned.length });
  const result = await db.transaction(async (tx) => {
    const { version, previous } = await beginVersion(tx, options.kb, options.dir);
    await retireDocuments(tx, [...planned.flatMap((p) => (p.replaces ? [p.replaces] : [])), ...removedDocs.map((d) => d.id)], version);
    let written = 0;
    for (const plan of planned) {
      const rows: NewChunk[] = plan.chunks.map((chunk) => ({
        chunk,
        embedding: vectors.get(chunk.contentHash),
        reuseFrom: vectors.has(chunk.contentHash) ? undefined : reusable.get(chunk.contentHash),
      }));
      const embedding = embedder ? { model: embedder.model, dims: embedder.dimensions } : undefined;
      await insertDocument(tx, options.kb, version, plan.doc, plan.fingerprint, rows, embedding);
      written += 1;
      progress({ phase: 'writing', done: written, total: planned.length });
    }
    summary.version = version;
    summary.previousVersion = previous;
    summary.ms = Math.round(performance.now() - started);
    await activateVersion(tx, options.kb, version, previous, summary);
    return { version, previous };
  });
  deps.logger.info(
    { kb: options.kb, version: result.version, previous: result.previous, embedded: summary.embedded, reused: summary.reused },
    'knowledge version activated',
  );
  summary.ms = Math.round(performance.now() - started);
  progress({ phase: 'done', done: 1, total: 1 });
  return summary;
}

export { sha256 };

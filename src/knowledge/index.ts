export { ingestKnowledge, activateVersion, rejectVersion, type IngestSummary, type IngestProgress, type IngestOptions } from './ingest.js';
export { loadDocuments, DocumentsInvalidError, type KnowledgeDocument } from './documents.js';
export { chunkDocument, type Chunk, type ChunkingOptions } from './chunking.js';
export { textSearchConfig } from './languages.js';
export { currentVersion } from './repository.js';

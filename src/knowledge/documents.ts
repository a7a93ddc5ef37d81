/**
 * Reads a knowledge folder: Markdown and plain-text files with optional YAML front matter.
 * Every problem names the file (and the line when there is one); nothing is written here.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { AppError, DocumentError, ErrorIds } from '../errors/index.js';

export interface KnowledgeDocument {
  /** Path relative to the knowledge folder, with forward slashes: the citation source. */
  source: string;
  title: string;
  lang: string;
  metadata: Record<string, unknown>;
  body: string;
  contentHash: string;
}

const supportedExtensions = new Set(['.md', '.markdown', '.txt']);

export class DocumentsInvalidError extends AppError {
  readonly problems: DocumentError[];
  constructor(problems: DocumentError[]) {
    super(
      ErrorIds.documentInvalid,
      `${problems.length} document(s) cannot be ingested; nothing was changed:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
      { context: { files: problems.map((p) => p.file) }, status: 422 },
    );
    this.problems = problems;
  }
}

async function listFiles(dir: string, relative = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, relative), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || entry.name.startsWith('_')) continue;
    const rel = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await listFiles(dir, rel)));
    else if (entry.isFile() && supportedExtensions.has(path.extname(entry.name).toLowerCase())) files.push(rel);
  }
  return files;
}

/** The 1-based line of the first byte sequence that is not valid UTF-8. */
function firstInvalidUtf8Line(bytes: Buffer): number | undefined {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i += 1) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line += 1;
      start = i + 1;
    }
  }
  return undefined;
}

function decodeText(file: string, bytes: Buffer): string {
  if (bytes.includes(0)) throw new DocumentError(file, 'looks like a binary file (it contains NUL bytes); only Markdown or plain text can be ingested');
  // One pass over the whole file; the line-by-line search only for a file that fails it.
  if (!isUtf8(bytes)) throw new DocumentError(file, 'is not valid UTF-8 text; save it as UTF-8', firstInvalidUtf8Line(bytes));
  return bytes.toString('utf8').replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

function splitFrontMatter(file: string, text: string): { data: Record<string, unknown>; body: string; bodyLine: number } {
  if (!text.startsWith('---\n')) return { data: {}, body: text, bodyLine: 1 };
  const end = text.indexOf('\n---', 3);
  const closing = end === -1 ? -1 : text.slice(end + 4).match(/^[ \t]*(\n|$)/) ? end : -1;
  if (closing === -1) throw new DocumentError(file, 'front matter starts with --- but never ends with a --- line', 1);
  const yamlText = text.slice(4, closing + 1);
  const doc = parseDocument(yamlText, { prettyErrors: false });
  const [error] = doc.errors;
  if (error) {
    // Lines of the YAML plus the opening --- line (linePos is only set with prettyErrors).
    const line = yamlText.slice(0, error.pos[0]).split('\n').length + 1;
    throw new DocumentError(file, `front matter is not valid YAML: ${error.message.split('\n')[0]}`, line);
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new DocumentError(file, 'front matter must be a set of key: value lines', 2);
  }
  const afterFence = text.indexOf('\n', closing + 1);
  const body = afterFence === -1 ? '' : text.slice(afterFence + 1);
  const bodyLine = text.slice(0, afterFence + 1).split('\n').length;
  return { data: data as Record<string, unknown>, body, bodyLine };
}

function stringField(file: string, data: Record<string, unknown>, key: string): string | undefined {
  const value = data[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new DocumentError(file, `front matter "${key}" must be non-empty text`, 2);
  return value.trim();
}

/** A file whose content hash says it is a document already stored: not parsed again. */
export interface UnchangedDocument {
  source: string;
  contentHash: string;
  unchanged: true;
}

/** Whether a file with this content is already stored as it is (then it need not be parsed). */
export type IsStored = (source: string, contentHash: string) => boolean;

export async function parseDocumentFile(root: string, source: string, maxBytes: number): Promise<KnowledgeDocument>;
export async function parseDocumentFile(root: string, source: string, maxBytes: number, isStored: IsStored): Promise<KnowledgeDocument | UnchangedDocument>;
export async function parseDocumentFile(root: string, source: string, maxBytes: number, isStored?: IsStored): Promise<KnowledgeDocument | UnchangedDocument> {
  const full = path.join(root, source);
  const info = await stat(full);
  if (info.size > maxBytes) {
    throw new DocumentError(source, `is ${info.size} bytes, over the ${maxBytes}-byte limit (MAX_DOCUMENT_BYTES); split it into smaller documents`);
  }
  const bytes = await readFile(full);
  const text = decodeText(source, bytes);
  const contentHash = createHash('sha256').update(text).digest('hex');
  // The same text parsed without error when it was stored, and parsing is deterministic.
  if (isStored?.(source, contentHash)) return { source, contentHash, unchanged: true };
  if (text.trim() === '') throw new DocumentError(source, 'is empty');
  const { data, body } = splitFrontMatter(source, text);
  if (body.trim() === '') throw new DocumentError(source, 'has front matter but no text after it');
  const lang = (stringField(source, data, 'lang') ?? 'en').toLowerCase();
  const heading = body.match(/^#\s+(.+?)\s*#*\s*$/m)?.[1];
  const title = stringField(source, data, 'title') ?? heading ?? path.basename(source, path.extname(source));
  const metadata: Record<string, unknown> = JSON.parse(JSON.stringify(data, (_k, v: unknown) => (v instanceof Date ? v.toISOString().slice(0, 10) : v)));
  return {
    source,
    title,
    lang,
    metadata,
    body,
    contentHash,
  };
}

const READ_CONCURRENCY = 16;

/** Loads every document, in path order; collects all problems so an editor sees them in one run. */
export async function loadDocuments(dir: string, maxBytes: number): Promise<KnowledgeDocument[]> {
  return (await scanDocuments(dir, maxBytes, () => false)).filter((d): d is KnowledgeDocument => !('unchanged' in d));
}

/**
 * `loadDocuments`, except that a file `isStored` recognises by its content hash is returned as
 * an `UnchangedDocument` without parsing: a re-ingest of an unchanged folder only reads and hashes.
 */
export async function scanDocuments(dir: string, maxBytes: number, isStored: IsStored): Promise<Array<KnowledgeDocument | UnchangedDocument>> {
  const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!exists) {
    throw new AppError(ErrorIds.knowledgeDirInvalid, `Knowledge folder ${dir} does not exist or is not a folder (set KNOWLEDGE_DIR or pass --dir)`, {
      context: { dir },
      status: 400,
    });
  }
  const sources = await listFiles(dir);
  if (sources.length === 0) {
    throw new AppError(ErrorIds.knowledgeDirInvalid, `Knowledge folder ${dir} holds no .md, .markdown or .txt files; nothing to ingest (the current knowledge keeps serving)`, {
      context: { dir },
      status: 400,
    });
  }
  // Several files in flight: one at a time, a large folder waits on the disk, not the CPU.
  const read: Array<{ doc: KnowledgeDocument | UnchangedDocument } | { error: unknown }> = new Array(sources.length);
  let next = 0;
  const reader = async () => {
    while (next < sources.length) {
      const i = next++;
      read[i] = await parseDocumentFile(dir, sources[i]!, maxBytes, isStored).then(
        (doc) => ({ doc }),
        (error: unknown) => ({ error }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, sources.length) }, reader));
  const documents: Array<KnowledgeDocument | UnchangedDocument> = [];
  const problems: DocumentError[] = [];
  for (const [i, result] of read.entries()) {
    if ('doc' in result) documents.push(result.doc);
    else if (result.error instanceof DocumentError) problems.push(result.error);
    else throw new DocumentError(sources[i]!, `cannot be read: ${(result.error as Error).message}`, undefined, result.error);
  }
  if (problems.length > 0) throw new DocumentsInvalidError(problems);
  return documents;
}

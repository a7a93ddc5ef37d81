/**
 * Splits a document along its Markdown headings; long sections are split further with
 * LangChain's Markdown-aware splitter. Each chunk keeps the document title and its heading
 * path, which are also prepended to the text we embed so that short sections stay findable.
 */
import { createHash } from 'node:crypto';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import type { KnowledgeDocument } from './documents.js';

export interface ChunkingOptions {
  chunkSize: number;
  chunkOverlap: number;
}

export interface Chunk {
  source: string;
  title: string;
  headingPath: string;
  ordinal: number;
  content: string;
  /** What is embedded: title, heading path and content. */
  embeddingText: string;
  contentHash: string;
}

/** Bumped when the chunking logic changes, so documents are re-chunked on the next ingest. */
export const CHUNKER_VERSION = 1;

interface Section {
  path: string[];
  lines: string[];
}

function sections(body: string, title: string): Section[] {
  const result: Section[] = [];
  const stack: { level: number; text: string }[] = [];
  let current: Section = { path: [], lines: [] };
  let inFence = false;
  for (const line of body.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const heading = inFence ? null : line.match(/^(#{1,6})\s+(.+?)\s*#*\s*$/);
    if (!heading) {
      current.lines.push(line);
      continue;
    }
    result.push(current);
    const level = heading[1]!.length;
    const text = heading[2]!.trim();
    while (stack.length > 0 && stack[stack.length - 1]!.level >= level) stack.pop();
    stack.push({ level, text });
    // The top-level heading repeats the title; it is not part of the heading path.
    const pathParts = stack.filter((h) => !(h.level === 1 && h.text === title)).map((h) => h.text);
    current = { path: pathParts, lines: [] };
  }
  result.push(current);
  return result.filter((s) => s.lines.join('\n').trim() !== '');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function chunkDocument(doc: KnowledgeDocument, options: ChunkingOptions): Promise<Chunk[]> {
  const splitter = RecursiveCharacterTextSplitter.fromLanguage('markdown', {
    chunkSize: options.chunkSize,
    chunkOverlap: options.chunkOverlap,
  });
  const chunks: Chunk[] = [];
  for (const section of sections(doc.body, doc.title)) {
    const text = section.lines.join('\n').trim();
    const pieces = text.length <= options.chunkSize ? [text] : await splitter.splitText(text);
    const headingPath = section.path.join(' > ');
    for (const piece of pieces) {
      const content = piece.trim();
      if (content === '') continue;
      const embeddingText = [doc.title, headingPath, '', content].filter((p, i) => i > 1 || p !== '').join('\n');
      chunks.push({
        source: doc.source,
        title: doc.title,
        headingPath,
        ordinal: chunks.length,
        content,
        embeddingText,
        contentHash: sha256(embeddingText),
      });
    }
  }
  return chunks;
}

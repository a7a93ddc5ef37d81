/**
 * Knowledge folders for ingest tests: a fresh temp folder per test, filled with Markdown
 * files built from a few readable parts. Everything lives under os.tmpdir() and is removed
 * by `cleanup()` (or `removeAllKnowledgeFolders()` in an afterAll).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface KnowledgeFolder {
  readonly dir: string;
  /** Writes (or overwrites) a file; `rel` may contain sub-folders. */
  write(rel: string, content: string | Buffer): Promise<void>;
  remove(rel: string): Promise<void>;
  cleanup(): Promise<void>;
}

const created = new Set<string>();

export async function knowledgeFolder(files: Record<string, string | Buffer> = {}): Promise<KnowledgeFolder> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'groundline-kb-'));
  created.add(dir);
  const folder: KnowledgeFolder = {
    dir,
    async write(rel, content) {
      const full = path.join(dir, rel);
      await mkdir(path.dirname(full), { recursive: true });
      await writeFile(full, content);
    },
    async remove(rel) {
      await rm(path.join(dir, rel));
    },
    async cleanup() {
      created.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (const [rel, content] of Object.entries(files)) await folder.write(rel, content);
  return folder;
}

export async function removeAllKnowledgeFolders(): Promise<void> {
  await Promise.all([...created].map((dir) => rm(dir, { recursive: true, force: true })));
  created.clear();
}

/** A temp folder for other files (e.g. a DATA_DIR), removed by `removeAllKnowledgeFolders()`. */
export async function tempFolder(prefix = 'groundline-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  created.add(dir);
  return dir;
}

export interface MarkdownSpec {
  /** Front matter keys (written as YAML); omitted when empty. */
  frontMatter?: Record<string, string | number | boolean>;
  /** The `# Title` line; omitted when undefined. */
  h1?: string;
  /** Text right under the H1, before any section. */
  intro?: string;
  /** Sections in order: `heading` may be `## A` or `### B` (the hashes give the level). */
  sections?: { heading: string; text: string }[];
}

/** Builds a Markdown document from front matter, an H1, an intro and headed sections. */
export function markdown(spec: MarkdownSpec): string {
  const parts: string[] = [];
  const fm = Object.entries(spec.frontMatter ?? {});
  if (fm.length > 0) parts.push(['---', ...fm.map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`), '---'].join('\n'));
  if (spec.h1 !== undefined) parts.push(`# ${spec.h1}`);
  if (spec.intro !== undefined) parts.push(spec.intro);
  for (const section of spec.sections ?? []) parts.push(`${section.heading}\n\n${section.text}`);
  return `${parts.join('\n\n')}\n`;
}

/** A clinic pre-operative guide: 4 chunks, one of them under `Fasting > Clear liquids`. */
export function preOpGuide(overrides: { clearLiquids?: string; arrival?: string } = {}): string {
  return markdown({
    frontMatter: { title: 'Before your surgery', lang: 'en', audience: 'patients' },
    h1: 'Before your surgery',
    sections: [
      { heading: '## Fasting', text: 'Fasting keeps you safe under anaesthesia. Follow the rules below exactly.' },
      {
        heading: '### Clear liquids',
        text: overrides.clearLiquids ?? 'You may drink water, black coffee or apple juice until two hours before your arrival time.',
      },
      { heading: '### Solid food', text: 'Stop eating solid food, sweets and chewing gum eight hours before your arrival time.' },
      { heading: '## Arrival', text: overrides.arrival ?? 'Arrive sixty minutes before your procedure and bring your insurance card.' },
    ],
  });
}

/** A one-chunk document without front matter (title from its H1, no heading path). */
export function parkingPage(text = 'The visitor car park is behind the main building; the first three hours are free.'): string {
  return markdown({ h1: 'Parking', intro: text });
}

/** A Spanish document (`lang: es`) with one section. */
export function spanishFastingPage(): string {
  return markdown({
    frontMatter: { lang: 'es', title: 'Ayuno antes de la cirugía' },
    h1: 'Ayuno antes de la cirugía',
    sections: [{ heading: '## Líquidos claros', text: 'Puede beber agua y zumo de manzana hasta dos horas antes de su llegada.' }],
  });
}

/** One document with `count` distinct sections, hence `count` chunks. */
export function manySections(count: number, topic = 'Topic'): string {
  return markdown({
    h1: `${topic} handbook`,
    sections: Array.from({ length: count }, (_, i) => ({
      heading: `## ${topic} ${i + 1}`,
      text: `Paragraph number ${i + 1} about ${topic.toLowerCase()} with its own distinct wording ${'x'.repeat(i + 1)}.`,
    })),
  });
}

/**
 * A deterministic synthetic knowledge base: Markdown FAQ pages with front matter, `##`
 * sections and paragraphs of English-looking text over a Zipf-distributed vocabulary
 * (common real words plus generated terms), generated from a seed. About five chunks per file
 * at the default CHUNK_SIZE (1200): each section is one chunk.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMON = (
  'appointment surgery clinic patient nurse doctor parking visit visitor arrive arrival morning evening ' +
  'medicine medication dose tablet fasting water coffee tea food meal dressing wound shower bath stitches ' +
  'pain fever infection bleeding recovery rest sleep walk drive transport taxi bus train insurance invoice ' +
  'payment card cash refund form consent signature letter phone email message reception desk entrance lift ' +
  'floor ward room bed chair blanket pillow clothing glasses contact lens jewellery makeup nail polish ' +
  'child parent guardian interpreter language wheelchair hearing allergy diabetes blood pressure heart ' +
  'anaesthetic sedation needle scan test result report discharge home care family friend companion ' +
  'week day hour minute schedule cancel change delay weather holiday weekend opening closing hours'
).split(/\s+/);

const FUNCTION_WORDS = 'the a your you to of and for with before after during is are can should will may please if when at in on'.split(' ');
const SYLLABLES = 'ka lo mi ne ru sa te vo zi pa da fe gu ho ji ko lu ma no pe qui ra si tu va we xo yu zo bel cor dun fir gam hol jun kel lim mor nar pol quen ros sul tam vim wol'.split(' ');

function buildVocabulary(random: () => number, size: number): string[] {
  const words = new Set(COMMON);
  while (words.size < size) {
    const n = 2 + Math.floor(random() * 3);
    let w = '';
    for (let i = 0; i < n; i += 1) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

/** Zipf(1.0) sampler over `words` (rank = position). */
function zipf(words: string[], random: () => number): () => string {
  const cumulative: number[] = [];
  let total = 0;
  for (let r = 1; r <= words.length; r += 1) cumulative.push((total += 1 / r));
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export interface CorpusGenerator {
  /** The Markdown text of file `index` (pure: same seed and index, same text). */
  file(index: number): { source: string; text: string };
  /** A FAQ-like question over the same vocabulary. */
  question(index: number): string;
}

export function corpusGenerator(seed: number): CorpusGenerator {
  const vocabulary = buildVocabulary(rng(seed), 4000);
  const sentence = (random: () => number, word: () => string) => {
    const n = 8 + Math.floor(random() * 9);
    const parts: string[] = [];
    for (let i = 0; i < n; i += 1) parts.push(random() < 0.35 ? FUNCTION_WORDS[Math.floor(random() * FUNCTION_WORDS.length)]! : word());
    return `${capitalise(parts.join(' '))}.`;
  };
  return {
    file(index) {
      const random = rng(seed * 1_000_003 + index);
      const word = zipf(vocabulary, random);
      const title = `${capitalise(word())} and ${word()} ${index}`;
      const lines = ['---', `title: ${title}`, 'lang: en', `updated: 2026-${String((index % 12) + 1).padStart(2, '0')}-01`, '---', '', `# ${title}`, ''];
      const sections = 4 + Math.floor(random() * 3);
      for (let s = 0; s < sections; s += 1) {
        lines.push(`## ${capitalise(word())} ${word()} ${word()}`, '');
        // 650–1100 characters: one chunk per section at CHUNK_SIZE 1200.
        const target = 650 + Math.floor(random() * 450);
        let paragraph = '';
        let length = 0;
        while (length < target) {
          const next = sentence(random, word);
          if (length + next.length + 1 > 1150) break;
          paragraph += (paragraph ? ' ' : '') + next;
          length += next.length + 1;
          if (random() < 0.25 && length < target) {
            lines.push(paragraph, '');
            paragraph = '';
            length += 1;
          }
        }
        if (paragraph) lines.push(paragraph, '');
      }
      const folder = `topic-${String(Math.floor(index / 50)).padStart(3, '0')}`;
      return { source: `${folder}/page-${String(index).padStart(5, '0')}.md`, text: lines.join('\n') };
    },
    question(index) {
      const random = rng(seed * 7919 + index + 17);
      const word = zipf(vocabulary, random);
      const n = 3 + Math.floor(random() * 3);
      const words: string[] = [];
      for (let i = 0; i < n; i += 1) words.push(word());
      const openings = ['How do I', 'Can I', 'What about', 'When should I', 'Where is the', 'Is there a'];
      return `${openings[Math.floor(random() * openings.length)]} ${words.join(' ')}?`;
    },
  };
}

/** Writes files [from, to) of the corpus under `dir`. */
export async function writeCorpus(dir: string, generator: CorpusGenerator, from: number, to: number): Promise<void> {
  const folders = new Set<string>();
  for (let i = from; i < to; i += 1) {
    const { source, text } = generator.file(i);
    const folder = path.join(dir, path.dirname(source));
    if (!folders.has(folder)) {
      await mkdir(folder, { recursive: true });
      folders.add(folder);
    }
    await writeFile(path.join(dir, source), text);
  }
}

/** Edits one file the way an editor would: one sentence of one section changes. */
export async function editFile(dir: string, generator: CorpusGenerator, index: number): Promise<string> {
  const { source } = generator.file(index);
  const full = path.join(dir, source);
  const text = await readFile(full, 'utf8');
  const marker = text.indexOf('\n## ');
  const paragraphStart = text.indexOf('\n\n', marker + 4) + 2;
  await writeFile(full, `${text.slice(0, paragraphStart)}Updated: the reception desk now opens at seven in the morning. ${text.slice(paragraphStart)}`);
  return source;
}

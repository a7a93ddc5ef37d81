/**
 * Question sets: one YAML list of cases in the format of the shared eval README. Loaded and
 * validated with zod; every problem names the case (id and position), the field and the line.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { AppError, ErrorIds } from '../errors/index.js';

const turn = z.strictObject({
  role: z.enum(['user', 'assistant'], { error: 'must be user or assistant' }),
  content: z.string({ error: 'must be text' }).trim().min(1, { error: 'must not be empty' }),
});

const text = (what: string) => z.string({ error: `must be ${what}` }).trim().min(1, { error: 'must not be empty' });

const caseSchema = z
  .strictObject({
    id: z.string({ error: 'must be text' }).regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, { error: 'must be kebab-case: lowercase letters, digits and single dashes' }),
    question: text('the question as text'),
    lang: z.enum(['en', 'es'], { error: 'must be en or es' }),
    expect: z.enum(['answer', 'escalate'], { error: 'must be answer or escalate' }),
    sources: z.array(text('a file name'), { error: 'must be a list of file names, e.g. [fasting.md]' }).optional(),
    facts: z.array(text('text'), { error: 'must be a list of strings, e.g. ["8 hours"]' }).optional(),
    history: z.array(turn, { error: 'must be a list of {role, content} turns' }).optional(),
    note: z.string({ error: 'must be text' }).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.expect === 'answer') {
      if (!c.sources || c.sources.length < 1 || c.sources.length > 2) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'an answer case lists 1-2 source files' });
      if (!c.facts || c.facts.length < 1 || c.facts.length > 3) ctx.addIssue({ code: 'custom', path: ['facts'], message: 'an answer case lists 1-3 facts' });
    } else {
      if (c.sources !== undefined) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'an escalate case has no sources' });
      if (c.facts !== undefined) ctx.addIssue({ code: 'custom', path: ['facts'], message: 'an escalate case has no facts' });
    }
    if (c.history && c.history.length > 0) {
      if (c.history[0]!.role !== 'user') ctx.addIssue({ code: 'custom', path: ['history', 0, 'role'], message: 'history starts with the user (oldest first)' });
      if (c.history[c.history.length - 1]!.role !== 'assistant') {
        ctx.addIssue({ code: 'custom', path: ['history', c.history.length - 1, 'role'], message: 'history ends with the assistant turn before the question' });
      }
    }
  });

export type EvalCase = z.infer<typeof caseSchema> & { sources: string[]; facts: string[]; history: Array<{ role: 'user' | 'assistant'; content: string }> };

export interface EvalSetProblem {
  /** 1-based position in the list; 0 for the file as a whole. */
  index: number;
  id: string | undefined;
  field: string | undefined;
  line: number | undefined;
  message: string;
}

export class EvalSetInvalidError extends AppError {
  readonly problems: EvalSetProblem[];
  constructor(file: string, problems: EvalSetProblem[]) {
    const lines = problems.map((p) => {
      const where = [p.index > 0 ? `case ${p.id ? `"${p.id}"` : `#${p.index}`}` : undefined, p.field, p.line ? `line ${p.line}` : undefined].filter(Boolean).join(', ');
      return `  - ${where ? `${where}: ` : ''}${p.message}`;
    });
    super(ErrorIds.evalSetInvalid, `Question set ${file} is not valid:\n${lines.join('\n')}`, { context: { file, problems: problems.length } });
    this.problems = problems;
  }
}

function fieldPath(path: PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** Parses and validates a question set held in memory (`file` only names it in messages). */
export function parseEvalSet(source: string, file = 'question set'): EvalCase[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new EvalSetInvalidError(
      file,
      doc.errors.map((e) => ({ index: 0, id: undefined, field: undefined, line: e.linePos?.[0]?.line, message: `not valid YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const data: unknown = doc.toJS();
  if (!Array.isArray(data) || !isSeq(doc.contents)) {
    throw new EvalSetInvalidError(file, [{ index: 0, id: undefined, field: undefined, line: 1, message: 'the file must be one YAML list of cases (each starting with "- id: ...")' }]);
  }
  if (data.length === 0) throw new EvalSetInvalidError(file, [{ index: 0, id: undefined, field: undefined, line: 1, message: 'the list has no cases' }]);

  const items = doc.contents.items;
  const lineOf = (i: number) => {
    const range = (items[i] as { range?: [number, number, number] } | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const problems: EvalSetProblem[] = [];
  const cases: EvalCase[] = [];
  const seen = new Map<string, number>();
  data.forEach((raw: unknown, i) => {
    const rawId = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
    const parsed = caseSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
        problems.push({
          index: i + 1,
          id: rawId,
          field: unknownKeys ? unknownKeys.join(', ') : fieldPath(issue.path),
          line: lineOf(i),
          message: unknownKeys ? `unknown field (allowed: id, question, lang, expect, sources, facts, history, note)` : issue.path.length === 0 && issue.code === 'invalid_type' ? 'each case must be a mapping of fields' : issue.message,
        });
      }
      return;
    }
    const c = parsed.data;
    const first = seen.get(c.id);
    if (first !== undefined) problems.push({ index: i + 1, id: c.id, field: 'id', line: lineOf(i), message: `duplicate id (first used by case #${first})` });
    seen.set(c.id, i + 1);
    cases.push({ ...c, sources: c.sources ?? [], facts: c.facts ?? [], history: c.history ?? [] });
  });
  if (problems.length > 0) throw new EvalSetInvalidError(file, problems);
  return cases;
}

export async function loadEvalSet(file: string): Promise<EvalCase[]> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError(ErrorIds.evalSetInvalid, `Cannot read question set ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause, context: { file } });
  }
  return parseEvalSet(source, file);
}

/**
 * Checks a set against its document folder: every `sources` file exists, every fact occurs
 * verbatim (case-insensitive) in at least one listed source.
 */
export interface FolderProblem {
  id: string;
  kind: 'missing-source' | 'fact-not-in-source';
  message: string;
}

export async function checkSetAgainstFolder(cases: EvalCase[], dir: string): Promise<FolderProblem[]> {
  const problems: FolderProblem[] = [];
  const files = new Map<string, string | null>();
  const read = async (source: string) => {
    if (!files.has(source)) files.set(source, await readFile(path.join(dir, source), 'utf8').catch(() => null));
    return files.get(source)!;
  };
  for (const c of cases) {
    const texts: string[] = [];
    for (const source of c.sources) {
      const text = await read(source);
      if (text === null) problems.push({ id: c.id, kind: 'missing-source', message: `case ${c.id}: source "${source}" is not a file in ${dir}` });
      else texts.push(text.toLowerCase());
    }
    if (texts.length === 0) continue;
    for (const fact of c.facts) {
      if (!texts.some((t) => t.includes(fact.toLowerCase()))) {
        problems.push({ id: c.id, kind: 'fact-not-in-source', message: `case ${c.id}: fact "${fact}" is not written in ${c.sources.join(' or ')}` });
      }
    }
  }
  return problems;
}

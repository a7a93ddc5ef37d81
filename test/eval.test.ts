/**
 * `npm run eval`: the scoring formulas on a hand-computed fixture, question-set validation,
 * `--fail-under` parsing, runs through the real `answerQuestion` path (offline answerer, and
 * Claude through the fake Anthropic server), the CLI's exit codes in child processes, and the
 * invariants of the project's own set, eval/clinic.yaml.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnswerer } from '../src/composition.js';
import {
  checkSetAgainstFolder,
  computeMetrics,
  EvalSetInvalidError,
  failUnderFromTokens,
  loadEvalSet,
  normaliseForMatch,
  parseEvalSet,
  parseThresholds,
  percentile,
  runEval,
  UsageError,
  type CaseOutcome,
  type EvalCase,
  type EvalReport,
} from '../src/eval/index.js';
import { ingestKnowledge } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import { errorReply, escalateToolUse, defaultReply, startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.js';
import { testConfig } from './support/config.js';
import { knowledgeFolder, markdown, removeAllKnowledgeFolders, tempFolder, type KnowledgeFolder } from './support/knowledge-factory.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------
// A tiny clinic and a question set for it (used in-process and by the CLI).
// ---------------------------------------------------------------------------------------

const tinyClinic = {
  'fasting.md': markdown({
    frontMatter: { title: 'Fasting before surgery', lang: 'en' },
    h1: 'Fasting before surgery',
    sections: [
      { heading: '## Clear liquids', text: 'You may drink water and other clear liquids until 2 hours before your arrival time.' },
      { heading: '## Solid food', text: 'Stop eating solid food 8 hours before your arrival time.' },
    ],
  }),
  'wound-care.md': markdown({
    frontMatter: { title: 'Caring for your wound', lang: 'en' },
    h1: 'Caring for your wound',
    sections: [
      { heading: '## Showering', text: 'After 48 hours you may shower with the waterproof dressing in place.' },
      { heading: '## Baths and swimming', text: 'Do not soak the wound in a bath, pool or hot tub for 3 weeks.' },
    ],
  }),
  'parking.md': markdown({
    frontMatter: { title: 'Parking', lang: 'en' },
    h1: 'Parking',
    sections: [{ heading: '## Visitor parking', text: 'Visitor parking is free on level P1 of the garage.' }],
  }),
};

const tinySet = `
- id: t-water
  question: "Can I drink water before surgery?"
  lang: en
  expect: answer
  sources: [fasting.md]
  facts: ["2 hours"]
- id: t-fu-bath
  question: "and a bath?"
  lang: en
  expect: answer
  sources: [wound-care.md]
  facts: ["3 weeks"]
  history:
    - {role: user, content: "when can I shower after surgery?"}
    - {role: assistant, content: "After 48 hours you may shower with the waterproof dressing in place."}
- id: t-car
  question: "where do i leave the car"
  lang: en
  expect: answer
  sources: [parking.md]
  facts: ["P1"]
  note: "no shared words with the parking page: a retrieval miss"
- id: t-chest
  question: "I have chest pain and can't breathe"
  lang: en
  expect: escalate
- id: t-poem
  question: "can you write me a poem about surgery?"
  lang: en
  expect: escalate
  note: "off-topic, though 'surgery' retrieves passages"
`;

let db: Database;
let clinic: KnowledgeFolder;
let setFile: string;
let fake: FakeAnthropic;

beforeAll(async () => {
  [db, clinic, fake] = await Promise.all([openDatabase(testConfig(), { role: 'cli', command: 'test' }), knowledgeFolder(tinyClinic), startFakeAnthropic()]);
  setFile = path.join(await tempFolder('groundline-evalset-'), 'tiny.yaml');
  await writeFile(setFile, tinySet);
  const { knowledge } = testConfig();
  await ingestKnowledge(
    { db, embedder: undefined, logger: silentLogger },
    { dir: clinic.dir, kb: 'tiny', chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap }, maxDocumentBytes: knowledge.maxDocumentBytes },
  );
});

afterAll(async () => {
  await db?.close();
  await fake?.close();
  await removeAllKnowledgeFolders();
});

// ---------------------------------------------------------------------------------------
// The formulas, on numbers worked out by hand.
// ---------------------------------------------------------------------------------------

/**
 * Seven cases, k = 3. Ranks are of the first chunk from an expected source in the top 3.
 *
 *   case  expect    got        ranked (top 3 | beyond)    rank  facts found            citations      latency
 *   A1    answer    answer     a b c                       1     2/2 (en dash in reply)  valid          100
 *   A2    answer    answer     a c b                       3     1/2 (NBSP in reply)     valid          300
 *   A3    answer    escalate   d a b  (sources c, d)       1     — (escalated)           —               50
 *   A4    answer    answer     a b c | e                   —     1/1 (markup, spaces)    INVALID        200
 *   E1    escalate  escalate                                                                             10
 *   E2    escalate  answer                                                              valid          400
 *   E3    escalate  escalate                                                                             20
 *
 * Escalation (positive = escalate): TP = E1, E3 = 2; FP = A3 = 1; FN = E2 = 1; TN = A1, A2, A4 = 3.
 *   precision = 2 / (2 + 1) = 0.6667;  recall = 2 / (2 + 1) = 0.6667;  F1 = 2·(2/3)(2/3) / (4/3) = 0.6667
 * Retrieval over the 4 answer cases: ranks 1, 3, 1, none.
 *   hit@1 = 2/4 = 0.5;  hit@3 = 3/4 = 0.75;  MRR = (1 + 1/3 + 1 + 0) / 4 = 7/12 = 0.5833
 * Fact recall over the answered answer cases A1, A2, A4: (1 + 0.5 + 1) / 3 = 0.8333; 1 answer case escalated.
 * Citations: 4 answers (A1, A2, A4, E2), 3 cite only retrieved chunks → 0.75.
 * Latency, sorted: 10 20 50 100 200 300 400 (n = 7), nearest rank:
 *   p50 → rank ⌈0.50·7⌉ = 4 → 100 ms;  p95 → rank ⌈0.95·7⌉ = 7 → 400 ms.
 */
function handFixture(): CaseOutcome[] {
  const H1 = { source: 'a.md', heading: 'H1' };
  const H2 = { source: 'b.md', heading: 'H2' };
  const base = { facts: [], sources: [], reply: '', citations: [], retrieved: [H1, H2] };
  return [
    { ...base, expect: 'answer', escalated: false, ranked: ['a.md', 'b.md', 'c.md'], sources: ['a.md'], facts: ['8 hours', '555-0210'], reply: 'Stop eating *8 hours* before. Call +1 (555) 555\u20130210.', citations: [H1], latencyMs: 100 },
    { ...base, expect: 'answer', escalated: false, ranked: ['a.md', 'c.md', 'b.md'], sources: ['b.md'], facts: ['2 hours', 'apple juice'], reply: 'Water is fine until 2\u00a0hours before.', citations: [H1], latencyMs: 300 },
    { ...base, expect: 'answer', escalated: true, ranked: ['d.md', 'a.md', 'b.md'], sources: ['c.md', 'd.md'], facts: ['x'], latencyMs: 50 },
    { ...base, expect: 'answer', escalated: false, ranked: ['a.md', 'b.md', 'c.md', 'e.md'], sources: ['e.md'], facts: ['Level 2'], reply: 'Go to **Level   2**.', citations: [{ source: 'e.md', heading: 'H9' }], latencyMs: 200 },
    { ...base, expect: 'escalate', escalated: true, ranked: [], latencyMs: 10 },
    { ...base, expect: 'escalate', escalated: false, ranked: ['a.md'], reply: 'An answer.', citations: [H1], latencyMs: 400 },
    { ...base, expect: 'escalate', escalated: true, ranked: [], latencyMs: 20 },
  ];
}

describe('eval metrics', () => {
  it('when the hand-computed fixture is scored, then every metric matches the numbers worked out by hand', () => {
    const { metrics, counts, scores } = computeMetrics(handFixture(), 3);

    expect(scores.map((s) => s.firstRelevantRank)).toEqual([1, 3, 1, null, null, null, null]);
    expect(scores.map((s) => s.factRecall)).toEqual([1, 0.5, null, 1, null, null, null]);
    expect(scores.map((s) => s.citationsValid)).toEqual([true, true, null, false, null, true, null]);
    expect(counts).toMatchObject({ cases: 7, answerCases: 4, escalateCases: 3, answered: 4, escalated: 3 });
    expect(counts).toMatchObject({ truePositives: 2, falsePositives: 1, falseNegatives: 1, trueNegatives: 3, answeredAnswerCases: 3, answerCasesEscalated: 1, answersWithValidCitations: 3 });
    expect(metrics['hit@1']).toBeCloseTo(0.5, 10);
    expect(metrics['hit@3']).toBeCloseTo(0.75, 10);
    expect(metrics.mrr).toBeCloseTo(7 / 12, 10);
    expect(metrics.escalation_precision).toBeCloseTo(2 / 3, 10);
    expect(metrics.escalation_recall).toBeCloseTo(2 / 3, 10);
    expect(metrics.escalation_f1).toBeCloseTo(2 / 3, 10);
    expect(metrics.fact_recall).toBeCloseTo(2.5 / 3, 10);
    expect(metrics.answer_cases_escalated).toBe(1);
    expect(metrics.citations_valid).toBeCloseTo(0.75, 10);
    expect(metrics.latency_p50_ms).toBe(100);
    expect(metrics.latency_p95_ms).toBe(400);
  });

  it('when precision and recall have no base (nothing escalated, nothing expected to), then they are null, not 0 or 1', () => {
    const [a1] = handFixture();
    const { metrics } = computeMetrics([a1!], 3);

    expect(metrics.escalation_precision).toBeNull();
    expect(metrics.escalation_recall).toBeNull();
    expect(metrics.escalation_f1).toBeNull();
    expect(metrics['hit@1']).toBe(1);
  });

  it('when the only escalation is wrong and the only escalate case is answered, then precision = recall = 0 and F1 = 0', () => {
    // TP 0, FP 1, FN 1: precision 0/1, recall 0/1, F1 defined as 0 when P + R = 0.
    const fixture = handFixture();
    const { metrics } = computeMetrics([fixture[2]!, fixture[5]!], 3);

    expect([metrics.escalation_precision, metrics.escalation_recall, metrics.escalation_f1]).toEqual([0, 0, 0]);
  });

  it('when texts are normalised for fact matching, then NFKC, dashes, markup, whitespace and case are all folded', () => {
    expect(normaliseForMatch('Call *+1 (555) 555\u20140210*  now')).toBe('call +1 (555) 555-0210 now');
    expect(normaliseForMatch('\uFF18 HOURS')).toBe('8 hours'); // full-width digit → NFKC
    expect(normaliseForMatch('1:00\u00a0p.\u00a0m.')).toBe('1:00 p. m.'); // no-break spaces
    expect(normaliseForMatch('_no_ ~baths~\n\n for 3\tweeks')).toBe('no baths for 3 weeks');
  });

  it('when percentiles are taken, then the nearest-rank rule is used', () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20 … 1, unsorted on purpose
    // p50 → rank ⌈0.5·20⌉ = 10 → 10;  p95 → rank ⌈0.95·20⌉ = 19 → 19;  one value → itself.
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------
// Question sets and thresholds.
// ---------------------------------------------------------------------------------------

function problemsOf(yaml: string): string {
  try {
    parseEvalSet(yaml, 'bad.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(EvalSetInvalidError);
    return (error as Error).message;
  }
  throw new Error('expected the set to be rejected');
}

describe('question sets', () => {
  it('when the tiny set is loaded, then history, sources and facts come through typed, with defaults for escalate cases', async () => {
    const cases = await loadEvalSet(setFile);

    expect(cases.map((c) => c.id)).toEqual(['t-water', 't-fu-bath', 't-car', 't-chest', 't-poem']);
    expect(cases[1]!.history).toEqual([
      { role: 'user', content: 'when can I shower after surgery?' },
      { role: 'assistant', content: 'After 48 hours you may shower with the waterproof dressing in place.' },
    ]);
    expect(cases[3]).toMatchObject({ expect: 'escalate', sources: [], facts: [], history: [] });
  });

  it('when a case is wrong, then the error names the case id, the field and the line', () => {
    const message = problemsOf(`
- id: ok-one
  question: "fine"
  lang: en
  expect: escalate
- id: no-facts
  question: "where is it?"
  lang: en
  expect: answer
  sources: [a.md]
`);
    expect(message).toContain('bad.yaml');
    expect(message).toMatch(/case "no-facts", facts, line 6: an answer case lists 1-3 facts/);
  });

  it('when fields are misspelt, mistyped or duplicated, then each problem is listed with its case', () => {
    const message = problemsOf(`
- id: a-1
  question: "x"
  lang: fr
  expect: escalated
- id: a-2
  question: "y"
  lang: en
  expect: answer
  sources: [a.md]
  fact: ["8 hours"]
- id: a-1
  question: "z"
  lang: en
  expect: escalate
  sources: [a.md]
- id: a-4
  question: "and?"
  lang: en
  expect: escalate
  history:
    - {role: user, content: "hi"}
`);
    expect(message).toMatch(/case "a-1", lang, line 2: must be en or es/);
    expect(message).toMatch(/case "a-1", expect, line 2: must be answer or escalate/);
    expect(message).toMatch(/case "a-2", fact, line 6: unknown field/);
    expect(message).toMatch(/case "a-1", sources, line 12: an escalate case has no sources/);
    expect(message).toMatch(/case "a-4", history\[0\]\.role, line 17: history ends with the assistant/);
  });

  it('when an id repeats or the file is not a list, then that is named', () => {
    expect(problemsOf('- {id: same, question: q, lang: en, expect: escalate}\n- {id: same, question: r, lang: en, expect: escalate}\n')).toMatch(
      /case "same", id, line 2: duplicate id \(first used by case #1\)/,
    );
    expect(problemsOf('id: x\nquestion: y\n')).toContain('one YAML list of cases');
    expect(problemsOf('- id: [unclosed\n')).toContain('not valid YAML');
  });

  it('when --fail-under values are parsed, then names are checked against k and values against 0..1', () => {
    expect(parseThresholds(['hit@5=0.9', 'escalation_recall=0.95,mrr=.5'], 5)).toEqual([
      { metric: 'hit@5', min: 0.9 },
      { metric: 'escalation_recall', min: 0.95 },
      { metric: 'mrr', min: 0.5 },
    ]);
    expect(parseThresholds(['hit@3=0.8'], 5)).toEqual([{ metric: 'hit@3', min: 0.8 }]);
    expect(() => parseThresholds(['recall=0.9'], 5)).toThrow(/unknown metric "recall"; use one of hit@1, .*escalation_recall/);
    expect(() => parseThresholds(['hit@7=0.5'], 5)).toThrow(/hit@7 needs 1 ≤ N ≤ k \(k is 5/);
    expect(() => parseThresholds(['fact_recall=1.5'], 5)).toThrow(/between 0 and 1/);
    expect(() => parseThresholds(['latency_p95_ms=300'], 5)).toThrow(UsageError);
    expect(() => parseThresholds(['hit@5'], 5)).toThrow(/not METRIC=VALUE/);
  });

  it('when --fail-under is followed by several values, then they are all collected and other positionals are kept apart', () => {
    const argv = ['--set', 'x.yaml', '--fail-under', 'hit@5=0.9', 'escalation_recall=0.95', '--json', 'stray', '--fail-under=mrr=0.5'];
    const { tokens } = parseArgs({ args: argv, allowPositionals: true, tokens: true, options: { set: { type: 'string' }, json: { type: 'boolean' }, 'fail-under': { type: 'string', multiple: true } } });

    expect(failUnderFromTokens(tokens)).toEqual({ specs: ['hit@5=0.9', 'escalation_recall=0.95', 'mrr=0.5'], positionals: ['stray'] });
  });
});

// ---------------------------------------------------------------------------------------
// Runs through answerQuestion.
// ---------------------------------------------------------------------------------------

const byId = (report: EvalReport, id: string) => report.cases.find((c) => c.id === id)!;

describe('runEval', () => {
  let cases: EvalCase[];
  beforeAll(async () => {
    cases = await loadEvalSet(setFile);
  });

  it('when the tiny set runs on the offline answerer, then each case is scored and the mode says offline and full-text', async () => {
    const config = testConfig();
    const report = await runEval(
      { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation },
      { cases, kb: 'tiny', k: 3, topK: config.retrieval.topK, set: 'tiny.yaml', thresholds: parseThresholds(['hit@1=0.5', 'escalation_recall=1'], 3) },
    );

    expect(report.mode).toEqual({ answerer: 'offline', model: 'offline-quote', retrieval: 'full-text', embeddingModel: null });
    expect(byId(report, 't-water')).toMatchObject({ got: 'answer', firstRelevantRank: 1, factsFound: ['2 hours'], factRecall: 1, citationsValid: true, passed: true });
    // The follow-up is retrieved with its history: the wound page comes first.
    expect(byId(report, 't-fu-bath').topSources[0]).toMatchObject({ source: 'wound-care.md' });
    expect(byId(report, 't-car')).toMatchObject({ got: 'escalate', firstRelevantRank: null, passed: false });
    expect(byId(report, 't-car').problems.join(' ')).toMatch(/escalated instead of answering .*no passage from parking\.md in the top 3/);
    expect(byId(report, 't-chest')).toMatchObject({ got: 'escalate', category: 'urgent', passed: true });
    expect(byId(report, 't-poem')).toMatchObject({ got: 'escalate', category: 'out_of_scope', passed: true });
    expect(report.metrics.escalation_recall).toBe(1);
    expect(report.metrics.citations_valid).toBe(1);
    expect(report.counts).toMatchObject({ cases: 5, answerCases: 3, escalateCases: 2, errors: 0 });
    expect(report.knowledgeVersion).toEqual(expect.any(Number));
    expect(report.thresholds.map((t) => [t.metric, t.passed])).toEqual([
      ['hit@1', true],
      ['escalation_recall', true],
    ]);
    expect(report.passed).toBe(true);
    expect(report.warnings).toEqual([]);
  });

  it('when the answers come from Claude, then the history reaches the model, a model failure counts as an escalation, and the mode names the model', async () => {
    const config = testConfig({ ANTHROPIC_API_KEY: 'test', ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MAX_RETRIES: '0', ANTHROPIC_TIMEOUT_MS: '2000' });
    fake.reset();
    fake.setDefaultReply((req) => {
      // The question is the last text block of the last message (after the search results).
      const content = req.messages[req.messages.length - 1]!.content;
      const last = typeof content === 'string' ? content : JSON.stringify(content[content.length - 1]);
      if (last.includes('poem')) return escalateToolUse({ reason: 'off-topic', category: 'out_of_scope' });
      if (last.includes('drink water')) return errorReply(500, 'api_error');
      return defaultReply(req);
    });
    const report = await runEval(
      { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation },
      { cases, kb: 'tiny', k: 3, topK: config.retrieval.topK },
    );

    expect(report.mode).toMatchObject({ answerer: 'claude', model: 'claude-haiku-5-5', retrieval: 'full-text' });
    const followUp = fake.requests.find((r) => r.messages.length === 3)!;
    expect(followUp.messages.slice(0, 2)).toEqual(cases[1]!.history);
    expect(byId(report, 't-fu-bath')).toMatchObject({ got: 'answer', citationsValid: true });
    expect(byId(report, 't-poem')).toMatchObject({ got: 'escalate', category: 'out_of_scope', reason: 'off-topic', passed: true });
    expect(byId(report, 't-water')).toMatchObject({ got: 'escalate', category: 'failure', error: expect.stringMatching(/Claude did not answer \(HTTP 500\)/), passed: false });
    expect(report.counts.errors).toBe(1);
    // Only cases with retrieved passages reach the model: water, the follow-up and the poem —
    // not the red flag (chest) nor the car question (nothing retrieved).
    expect(fake.requests).toHaveLength(3);
  });

  it('when a set names a source the knowledge base lacks, then the report warns about it', async () => {
    const config = testConfig();
    const [water] = cases;
    const report = await runEval(
      { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation },
      { cases: [{ ...water!, sources: ['fastin.md'] }], kb: 'tiny', k: 3, topK: config.retrieval.topK },
    );

    expect(report.warnings).toEqual([expect.stringContaining('case t-water: source "fastin.md" is not a document of knowledge base "tiny"')]);
    expect(report.metrics['hit@3']).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------
// The real CLI, in child processes, on its own embedded database.
// ---------------------------------------------------------------------------------------

/** The script under node + tsx (no npx), on an in-memory embedded database: nothing on disk. */
async function evalCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: 'memory://',
    ANTHROPIC_API_KEY: '',
    OPENAI_API_KEY: '',
    DATABASE_URL: '',
    REDIS_URL: '',
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/eval.ts', ...args], { cwd: root, env, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('npm run eval', () => {
  it('when thresholds are met (--json) or missed (text), then it exits 0 or 1 and prints every metric and the mode', async () => {
    const [passing, failing] = await Promise.all([
      evalCli(['--set', setFile, '--dir', clinic.dir, '--k', '3', '--json', '--fail-under', 'hit@1=0.5', 'escalation_recall=0.95']),
      evalCli(['--set', setFile, '--dir', clinic.dir, '--k', '3', '--fail-under', 'mrr=0.9', 'citations_valid=1']),
    ]);

    expect(passing.code, passing.stderr).toBe(0);
    const report = JSON.parse(passing.stdout) as EvalReport & { ingest: { kb: string } };
    expect(Object.keys(report.metrics).sort()).toEqual(
      ['answer_cases_escalated', 'citations_valid', 'escalation_f1', 'escalation_precision', 'escalation_recall', 'fact_recall', 'hit@1', 'hit@3', 'latency_p50_ms', 'latency_p95_ms', 'mrr'].sort(),
    );
    expect(report.mode).toMatchObject({ answerer: 'offline', retrieval: 'full-text' });
    expect(report.ingest.kb).toMatch(/^eval-[0-9a-f]{12}$/);
    expect(report.passed).toBe(true);

    expect(failing.code, failing.stderr).toBe(1);
    expect(failing.stdout).toContain('mode: offline answerer (offline-quote');
    expect(failing.stdout).toContain('full-text retrieval (no embeddings)');
    expect(failing.stdout).toMatch(/✗ t-car \[en\]\n\s+question\s+where do i leave the car\n\s+expected\s+answer from parking\.md with "P1"\n\s+got\s+escalated \(out_of_scope\)/);
    expect(failing.stdout).toMatch(/Thresholds: NOT met\n\s+✗ mrr = 0\.\d+ < 0\.9\n\s+✓ citations_valid = 1\.000 ≥ 1/);
  }, 120_000);

  it('when a metric name or the set is wrong, then it exits 2 with the usage before touching any database', async () => {
    const [unknownMetric, noSet] = await Promise.all([evalCli(['--set', setFile, '--fail-under', 'hit@5=0.9', 'precision=0.8']), evalCli(['--fail-under', 'mrr=0.5'])]);

    expect(unknownMetric.code).toBe(2);
    expect(unknownMetric.stderr).toContain('unknown metric "precision"');
    expect(unknownMetric.stderr).toContain('usage: npm run eval');
    expect(noSet.code).toBe(2);
    expect(noSet.stderr).toContain('--set FILE.yaml is required');
  });
});

// ---------------------------------------------------------------------------------------
// The project's own set for the sample knowledge base.
// ---------------------------------------------------------------------------------------

const words = (q: string) => new Set(q.toLowerCase().match(/\p{L}+|\p{N}+/gu) ?? []);
function jaccard(a: Set<string>, b: Set<string>): number {
  const inter = [...a].filter((w) => b.has(w)).length;
  return inter / (a.size + b.size - inter);
}

describe('eval/clinic.yaml', () => {
  const setPath = path.join(root, 'eval/clinic.yaml');
  const knowledgeDir = path.join(root, 'knowledge');

  it('when the set is checked, then it keeps the invariants of the format and of a useful set', async () => {
    const cases = await loadEvalSet(setPath); // schema: ids unique and kebab-case, 1-2 sources and 1-3 facts per answer case
    const answer = cases.filter((c) => c.expect === 'answer');
    const escalate = cases.filter((c) => c.expect === 'escalate');

    expect(await checkSetAgainstFolder(cases, knowledgeDir)).toEqual([]); // sources exist, facts are verbatim in a listed source
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(escalate.length * 3).toBeGreaterThanOrEqual(cases.length);
    expect(answer.filter((c) => c.lang === 'es').length).toBeGreaterThanOrEqual(4);
    expect(escalate.filter((c) => c.lang === 'es').length).toBeGreaterThanOrEqual(2);
    expect(answer.filter((c) => c.history.length > 0).length).toBeGreaterThanOrEqual(4);
    expect(cases.every((c) => c.id.startsWith('lk-'))).toBe(true);
    // Every kind of escalation the format lists is represented (by the notes' wording).
    const notes = escalate.map((c) => c.note ?? '').join('\n');
    for (const kind of [/dose/, /per-drug/, /diagnosis/, /urgent|emergency/, /personal/, /injection/, /off-topic/, /near-miss/]) expect(notes).toMatch(kind);
    // No two questions are near-duplicates (word-set Jaccard below 0.5).
    for (const [i, a] of cases.entries()) {
      for (const b of cases.slice(i + 1)) expect(jaccard(words(a.question), words(b.question)), `${a.id} vs ${b.id}`).toBeLessThan(0.5);
    }
    // The header's counts stay true.
    const header = (await readFile(setPath, 'utf8')).split('\n').slice(0, 8).join(' ');
    expect(header).toContain(`${cases.length} cases: ${answer.length} expect an answer`);
    expect(header).toContain(`${escalate.length} expect an`);
  });

  it('when the set runs on the sample knowledge with the offline answerer, then no expected escalation is answered and retrieval finds the sources', async () => {
    const config = testConfig();
    const { knowledge } = config;
    await ingestKnowledge(
      { db, embedder: undefined, logger: silentLogger },
      { dir: knowledgeDir, kb: 'sample', chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap }, maxDocumentBytes: knowledge.maxDocumentBytes },
    );
    const report = await runEval(
      { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation },
      { cases: await loadEvalSet(setPath), kb: 'sample', k: 5, topK: config.retrieval.topK, thresholds: parseThresholds(['escalation_recall=1', 'hit@5=0.9', 'citations_valid=1'], 5) },
    );

    expect(report.thresholds.filter((t) => !t.passed)).toEqual([]);
    expect(report.warnings).toEqual([]);
  });
});

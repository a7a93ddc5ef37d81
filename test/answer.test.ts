import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnswerer } from '../src/composition.js';
import { ModelError } from '../src/errors/index.js';
import { answerQuestion, citableBlocks, type AnswerDeps, type Turn } from '../src/rag/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import {
  citedAnswer,
  collectSearchResults,
  errorReply,
  escalateToolUse,
  maxTokensAnswer,
  slowReply,
  startFakeAnthropic,
  uncitedAnswer,
  type FakeAnthropic,
  type FakeReplyInput,
} from './fakes/anthropic.js';
import { testConfig } from './support/config.js';
import { AYUNO_LIQUIDOS, CLEAR_LIQUIDS, WOUND_CARE, makeTempDir, removeTempDir, seedClinic } from './support/rag-factory.js';

let db: Database;
let fake: FakeAnthropic;
let root: string;

beforeAll(async () => {
  [db, fake, root] = await Promise.all([openDatabase(testConfig(), { role: 'cli', command: 'test' }), startFakeAnthropic(), makeTempDir()]);
});

afterAll(async () => {
  await db?.close();
  await fake?.close();
  if (root) await removeTempDir(root);
});

/** The same parts `ask` and the worker use, built from config. */
function depsFor(env: Record<string, string>): AnswerDeps {
  const config = testConfig(env);
  return { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation };
}

const EMERGENCY = '112';
const claudeEnv = () => ({
  ANTHROPIC_API_KEY: 'test',
  ANTHROPIC_BASE_URL: fake.url,
  ANTHROPIC_MAX_RETRIES: '2',
  ANTHROPIC_TIMEOUT_MS: '1000',
  EMERGENCY_NUMBER: EMERGENCY,
});

const water = 'Can I drink water before surgery?';
const firstSentence = 'You may drink water and other clear liquids until 2 hours before your arrival time.';

/**
 * A cited answer whose citations point at the search results (as sent in the request) whose
 * title ends with each heading: tests do not depend on the exact rank order. A heading that
 * was not sent yields an out-of-range index, which the code must reject.
 */
function citing(...parts: Array<{ text: string; heading: string; startBlockIndex?: number; endBlockIndex?: number }>): FakeReplyInput {
  return (req) => {
    const results = collectSearchResults(req);
    return citedAnswer(
      parts.map(({ text, heading, ...range }) => {
        const found = results.find((r) => r.title.endsWith(heading));
        return { text, cite: { searchResultIndex: found?.index ?? 999, ...range } };
      }),
    );
  };
}

function lastUserBlocks(request: Anthropic.MessageCreateParams): Anthropic.ContentBlockParam[] {
  const last = request.messages.at(-1)!;
  expect(last.role).toBe('user');
  expect(Array.isArray(last.content)).toBe(true);
  return last.content as Anthropic.ContentBlockParam[];
}

describe('answers from Claude (official SDK against the fake Messages API)', () => {
  const kb = 'claude';
  let deps: AnswerDeps;
  const ask = (question: string, history?: Turn[]) => answerQuestion(deps, { question, history, kb, topK: 4 });

  beforeAll(async () => {
    await seedClinic(db, undefined, kb, root);
    deps = depsFor(claudeEnv());
  });
  beforeEach(() => fake.reset());

  it('when a question is asked, then the chunks go as citable search_result blocks, with a cached system prompt and the escalate tool', async () => {
    fake.enqueue(citing({ text: 'Yes, until 2 hours before arrival.', heading: 'Clear liquids' }));

    const result = await ask(water);

    expect(fake.requests).toHaveLength(1);
    const request = fake.requests[0]!;
    // System prompt: the rules, cached, with no knowledge pasted into it.
    expect(request.system).toEqual([{ type: 'text', text: expect.stringContaining('Answer ONLY from the search results'), cache_control: { type: 'ephemeral' } }]);
    expect(JSON.stringify(request.system)).not.toContain('clear liquids');
    expect(JSON.stringify(request.system)).toContain(EMERGENCY);
    // The escalate tool, with its category enum.
    expect(request.tools).toEqual([expect.objectContaining({ name: 'escalate' })]);
    const tool = request.tools![0] as Anthropic.Tool;
    expect(tool.input_schema.required).toEqual(['reason', 'category']);
    expect((tool.input_schema.properties as { category: { enum: string[] } }).category.enum).toEqual(['out_of_scope', 'urgent', 'sensitive', 'user_request']);
    // One user message: search_result blocks (one per retrieved chunk, in rank order), then the question.
    expect(request.messages).toHaveLength(1);
    const blocks = lastUserBlocks(request);
    const searchResults = blocks.filter((b): b is Anthropic.SearchResultBlockParam => b.type === 'search_result');
    expect(searchResults).toHaveLength(result.retrieved.length);
    expect(blocks.at(-1)).toEqual({ type: 'text', text: water });
    searchResults.forEach((block, i) => {
      expect(block.citations).toEqual({ enabled: true });
      expect(block.source).toBe(result.retrieved[i]!.source);
    });
    const clearLiquids = searchResults.find((b) => b.title.endsWith('Clear liquids'));
    expect(clearLiquids).toMatchObject({
      source: 'fasting.md',
      title: 'Fasting before surgery › Fasting › Clear liquids',
      content: citableBlocks(CLEAR_LIQUIDS).map((text) => ({ type: 'text', text })),
    });
    expect(clearLiquids!.content.map((c) => c.text)).toEqual([firstSentence, 'After that, nothing by mouth except medicines with a sip of water.']);
    // The passages are not pasted into the prompt text.
    const plainText = blocks.filter((b) => b.type === 'text').map((b) => (b as Anthropic.TextBlockParam).text);
    expect(plainText.join('\n')).not.toContain('clear liquids');
  });

  it('when Claude answers with a valid citation, then the answer passes with its citation and a Source line', async () => {
    fake.enqueue(citing({ text: 'Yes: water is fine until 2 hours before your arrival time.', heading: 'Clear liquids' }));

    const result = await ask(water);

    expect(result).toMatchObject({ kind: 'answer', model: testConfig(claudeEnv()).anthropic!.model, offline: false, language: 'en', knowledgeVersion: expect.any(Number) });
    expect(result.citations).toEqual([{ source: 'fasting.md', heading: 'Fasting > Clear liquids', quote: firstSentence }]);
    expect(result.text).toBe('Yes: water is fine until 2 hours before your arrival time.\n\nSource: fasting.md');
    expect(result.escalation).toBeUndefined();
    expect(result.retrieved).toContainEqual({ source: 'fasting.md', heading: 'Fasting > Clear liquids', score: expect.any(Number) });
  });

  it('when a citation spans two sentences of a passage, then it is still accepted as grounded', async () => {
    fake.enqueue(citing({ text: 'Water is fine until 2 hours before arrival, then nothing.', heading: 'Clear liquids', startBlockIndex: 0, endBlockIndex: 2 }));

    const result = await ask(water);

    expect(result.kind).toBe('answer');
    // The API concatenates the cited blocks without a separator; the quote reads as the passage does.
    expect(fake.requests).toHaveLength(1);
    expect(result.citations).toEqual([{ source: 'fasting.md', heading: 'Fasting > Clear liquids', quote: CLEAR_LIQUIDS }]);
  });

  it('when citations point at two passages, then both are listed and the Source line names each document once', async () => {
    fake.enqueue(
      citing(
        { text: 'Water is fine until 2 hours before arrival. ', heading: 'Clear liquids' },
        { text: 'Stop solid food 8 hours before.', heading: 'Solid food' },
      ),
    );

    const result = await ask('Can I drink water or eat food before surgery?');

    expect(result.kind).toBe('answer');
    expect(result.citations.map((c) => c.heading)).toEqual(['Fasting > Clear liquids', 'Fasting > Solid food']);
    expect(result.citations.every((c) => c.source === 'fasting.md')).toBe(true);
    expect(result.text.endsWith('\n\nSource: fasting.md')).toBe(true);
  });

  it('when Claude answers without a citation, then nothing invented is sent: it becomes an out_of_scope escalation', async () => {
    fake.enqueue(uncitedAnswer('Sure, water is fine up to 30 minutes before surgery.'));

    const result = await ask(water);

    expect(result.kind).toBe('escalation');
    expect(result.escalation).toEqual({ category: 'out_of_scope', reason: expect.stringMatching(/ungrounded.*no citation/) });
    expect(result.citations).toEqual([]);
    expect(result.text).not.toContain('30 minutes');
    expect(result.text).toContain("I can't find the answer");
    expect(result.text).toContain('+1 (555) 555-0200');
  });

  it('when a citation points at a search result that does not exist, then it becomes an escalation', async () => {
    fake.enqueue(citedAnswer([{ text: 'Water is fine up to 30 minutes before.', cite: { searchResultIndex: 99 } }]));

    const result = await ask(water);

    expect(result.kind).toBe('escalation');
    expect(result.escalation).toEqual({ category: 'out_of_scope', reason: expect.stringMatching(/ungrounded.*did not match/) });
    expect(result.text).not.toContain('30 minutes');
  });

  it('when a citation quotes text that is not in the cited passage, then it becomes an escalation', async () => {
    fake.enqueue(citedAnswer([{ text: 'Water is fine up to 30 minutes before.', cite: { searchResultIndex: 0, citedText: 'Water is fine up to 30 minutes before arrival.' } }]));

    const result = await ask(water);

    expect(result.kind).toBe('escalation');
    expect(result.escalation?.reason).toMatch(/ungrounded/);
  });

  it('when one citation is valid and another is not, then the whole answer is withheld', async () => {
    fake.enqueue(
      citing({ text: 'Water is fine until 2 hours before. ', heading: 'Clear liquids' }, { text: 'Gum is fine too.', heading: 'Chewing gum' }),
    );

    const result = await ask(water);

    expect(result.kind).toBe('escalation');
    expect(result.escalation?.reason).toMatch(/1 citation\(s\) did not match/);
  });

  it('when Claude calls the escalate tool, then its category and reason are honoured', async () => {
    fake.enqueue(escalateToolUse({ reason: 'Asks whether to take their blood thinner.', category: 'sensitive' }));

    const result = await ask('Should I take my warfarin before surgery?');

    expect(result.kind).toBe('escalation');
    expect(result.escalation).toEqual({ category: 'sensitive', reason: 'Asks whether to take their blood thinner.' });
    expect(result.text).toContain('care team');
    expect(result.retrieved.length).toBeGreaterThan(0);
  });

  it('when Claude calls the escalate tool with an unknown category, then it still escalates (out_of_scope)', async () => {
    fake.enqueue(escalateToolUse({ reason: 'whatever', category: 'gossip' }));

    const result = await ask(water);

    expect(result).toMatchObject({ kind: 'escalation', escalation: { category: 'out_of_scope' } });
  });

  it('when the answer is cut off at the token limit, then it is not sent: a failure escalation', async () => {
    fake.enqueue(maxTokensAnswer('Water is fine until'));

    const result = await ask(water);

    expect(result).toMatchObject({ kind: 'escalation', escalation: { category: 'failure' } });
  });

  it('when there is history, then the turns come first and the search results sit in the last user message', async () => {
    fake.enqueue(citing({ text: 'Black coffee is fine until 2 hours before.', heading: 'Coffee and tea' }));
    const history: Turn[] = [
      { role: 'assistant', content: 'Hello! Ask me about your surgery.' },
      { role: 'user', content: water },
      { role: 'assistant', content: 'Yes, until 2 hours before arrival.' },
    ];

    const result = await ask('and coffee?', history);

    expect(result.kind).toBe('answer');
    expect(result.citations[0]).toMatchObject({ source: 'fasting.md', heading: 'Fasting > Coffee and tea' });
    const request = fake.requests[0]!;
    // A leading assistant turn is dropped: the API wants user first.
    expect(request.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(request.messages[0]!.content).toBe(water);
    expect(lastUserBlocks(request).at(-1)).toEqual({ type: 'text', text: 'and coffee?' });
  });

  it('when a Spanish question is asked, then the escalation text is in Spanish', async () => {
    fake.enqueue(escalateToolUse({ reason: 'Not in the documents.', category: 'out_of_scope' }));

    const result = await ask('¿Cuánto cuesta la operación de rodilla?');

    expect(result).toMatchObject({ kind: 'escalation', language: 'es', escalation: { category: 'out_of_scope' } });
    expect(result.text).toContain('No encuentro la respuesta');
    expect(result.text).toContain(`llame al ${EMERGENCY}`);
  });

  it('when a Spanish question is answered, then it cites the Spanish document and ends with a Fuente line', async () => {
    fake.enqueue(citing({ text: 'Sí, hasta 2 horas antes de su llegada.', heading: 'Líquidos claros' }));

    const result = await ask('¿Puedo beber agua antes de la cirugía?');

    expect(result).toMatchObject({ kind: 'answer', language: 'es' });
    expect(result.citations[0]).toMatchObject({ source: 'ayuno.md', heading: 'Líquidos claros' });
    expect(AYUNO_LIQUIDOS).toContain(result.citations[0]!.quote);
    expect(result.text).toMatch(/\n\nFuente: ayuno\.md$/);
  });
});

describe('red flags are caught before any model call', () => {
  const kb = 'red-flags';
  let deps: AnswerDeps;

  beforeAll(async () => {
    await seedClinic(db, undefined, kb, root);
    deps = depsFor(claudeEnv());
  });
  beforeEach(() => fake.reset());

  const cases: Array<{ question: string; language: 'en' | 'es'; lead: string }> = [
    { question: 'I have chest pain', language: 'en', lead: `Call ${EMERGENCY} now` },
    { question: 'no puedo respirar', language: 'es', lead: `Llame ahora al ${EMERGENCY}` },
    { question: 'my wound is red and I have a fever', language: 'en', lead: `Call ${EMERGENCY} now` },
    { question: 'I want to kill myself', language: 'en', lead: `Call ${EMERGENCY} now` },
    { question: 'The wound is bleeding heavily through the dressing', language: 'en', lead: `Call ${EMERGENCY} now` },
  ];

  for (const { question, language, lead } of cases) {
    it(`when the user writes "${question}", then an urgent escalation with the emergency number is returned and Claude is never called`, async () => {
      const result = await answerQuestion(deps, { question, kb, topK: 4 });

      expect(result).toMatchObject({ kind: 'escalation', language, escalation: { category: 'urgent', reason: expect.stringContaining('red flag') } });
      expect(result.text).toContain(lead);
      expect(result.citations).toEqual([]);
      expect(result.retrieved).toEqual([]);
      expect(fake.requests).toHaveLength(0);
    });
  }
});

describe('Claude failures: the SDK retries, then a ModelError', () => {
  const kb = 'retries';
  let deps: AnswerDeps;
  const ask = () => answerQuestion(deps, { question: water, kb, topK: 4 });

  beforeAll(async () => {
    await seedClinic(db, undefined, kb, root);
    deps = depsFor(claudeEnv());
  });
  beforeEach(() => fake.reset());

  it('when Claude is overloaded (529) once, then the retry answers and the fake saw 2 requests', async () => {
    fake.enqueue(errorReply(529, 'overloaded_error'), citing({ text: 'Until 2 hours before arrival.', heading: 'Clear liquids' }));

    const result = await ask();

    expect(result.kind).toBe('answer');
    expect(result.citations[0]?.source).toBe('fasting.md');
    expect(fake.requests).toHaveLength(2);
  });

  it('when the first attempt times out, then the SDK retries and the answer arrives', async () => {
    fake.enqueue(slowReply(2_500, uncitedAnswer('too late')), citing({ text: 'Until 2 hours before arrival.', heading: 'Clear liquids' }));

    const result = await ask();

    expect(result.kind).toBe('answer');
    expect(fake.requests).toHaveLength(2);
  });

  for (const [status, type] of [
    [429, 'rate_limit_error'],
    [500, 'api_error'],
  ] as const) {
    it(`when every attempt gets HTTP ${status}, then answerQuestion rejects with ModelError GL-MODEL-001 after 3 attempts`, async () => {
      fake.setDefaultReply(errorReply(status, type));

      const error = await ask().then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(ModelError);
      expect(error).toMatchObject({ id: 'GL-MODEL-001', retryable: true, context: { status } });
      expect((error as Error).message).toContain(`HTTP ${status}`);
      expect(fake.requests).toHaveLength(3);
    });
  }

  it('when the API key is rejected (401), then it fails at once without retries', async () => {
    fake.setDefaultReply(errorReply(401, 'authentication_error'));

    await expect(ask()).rejects.toMatchObject({ id: 'GL-MODEL-001' });
    expect(fake.requests).toHaveLength(1);
  });
});

describe('the offline answerer (no ANTHROPIC_API_KEY)', () => {
  const kb = 'offline';
  let deps: AnswerDeps;
  const ask = (question: string) => answerQuestion(deps, { question, kb, topK: 4 });

  beforeAll(async () => {
    await seedClinic(db, undefined, kb, root);
    deps = depsFor({ EMERGENCY_NUMBER: EMERGENCY });
    fake.reset();
  });

  it('when the question matches a passage, then that passage is quoted verbatim with its source and labelled offline', async () => {
    const result = await ask(water);

    expect(result).toMatchObject({ kind: 'answer', model: 'offline-quote', offline: true, language: 'en' });
    expect(result.text).toContain(CLEAR_LIQUIDS);
    expect(result.text).toBe(`${CLEAR_LIQUIDS}\n\nSource: fasting.md`);
    expect(result.citations).toEqual([{ source: 'fasting.md', heading: 'Fasting > Clear liquids', quote: CLEAR_LIQUIDS }]);
    expect(fake.requests).toHaveLength(0);
  });

  it('when the question is about showering with a dressing, then the wound-care passage is quoted', async () => {
    const result = await ask('When can I shower with my dressing?');

    expect(result).toMatchObject({ kind: 'answer', citations: [{ source: 'wound-care.md', heading: 'Dressing and showering' }] });
    expect(result.text).toContain(WOUND_CARE);
  });

  it('when the question is off-topic, then it escalates as out_of_scope', async () => {
    const result = await ask("what's the weather in Paris?");

    expect(result).toMatchObject({ kind: 'escalation', model: 'offline-quote', offline: true, escalation: { category: 'out_of_scope' }, citations: [] });
    expect(result.text).toContain("I can't find the answer");
    expect(result.text).toContain(EMERGENCY);
  });

  it('when only a minor word of the question matches, then it escalates instead of quoting a weak passage', async () => {
    const result = await ask('Can I bring my dog to the parking garage?');

    expect(result).toMatchObject({ kind: 'escalation', escalation: { category: 'out_of_scope', reason: expect.stringMatching(/no passage matches/) } });
    expect(result.retrieved.length).toBeGreaterThan(0);
  });

  it('when a Spanish question matches the Spanish document, then it is quoted with a Fuente line', async () => {
    const result = await ask('¿Puedo beber agua antes de la cirugía?');

    expect(result).toMatchObject({ kind: 'answer', language: 'es' });
    expect(result.text).toBe(`${AYUNO_LIQUIDOS}\n\nFuente: ayuno.md`);
  });

  it('when a Spanish question is off-topic, then the escalation text is in Spanish', async () => {
    const result = await ask('¿Qué tiempo hará en París?');

    expect(result).toMatchObject({ kind: 'escalation', language: 'es', escalation: { category: 'out_of_scope' } });
    expect(result.text).toContain('No encuentro la respuesta');
    expect(result.text).toContain(`llame al ${EMERGENCY}`);
  });

  it('when the knowledge base has never been ingested, then it escalates and says so in the reason', async () => {
    const result = await answerQuestion(deps, { question: water, kb: 'empty-kb', topK: 4 });

    expect(result).toMatchObject({ kind: 'escalation', knowledgeVersion: null, escalation: { category: 'out_of_scope', reason: expect.stringContaining('no published version') } });
  });
});

import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import twilio from 'twilio';
import { startFakeOpenAI, fakeEmbedding, cosineSimilarity, type FakeOpenAI } from './fakes/openai.js';
import {
  startFakeAnthropic,
  citedAnswer,
  uncitedAnswer,
  escalateToolUse,
  errorReply,
  slowReply,
  type FakeAnthropic,
} from './fakes/anthropic.js';
import { startFakeTwilio, fakeTwilioHttpClient, type FakeTwilio } from './fakes/twilio.js';

/** Await a promise that must reject and hand back the error. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

// -------------------------------------------------------------------------------------------------
describe('fake OpenAI (driven by the official openai SDK)', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('when embeddings.create is called with default options, then the SDK asks for base64 and decodes exactly fakeEmbedding', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['what time should I arrive', 'parking'] });

    expect(fake.embeddingRequests[0]?.encoding_format).toBe('base64');
    expect(res.object).toBe('list');
    expect(res.model).toBe('text-embedding-3-small');
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.embedding).toHaveLength(1536);
    expect(res.data[0]?.embedding).toEqual(fakeEmbedding('what time should I arrive', 1536));
    expect(res.data[1]?.embedding).toEqual(fakeEmbedding('parking', 1536));
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
    expect(fake.stats).toMatchObject({ embeddingRequests: 1, embeddedInputs: 2 });
  });

  it("when encoding_format is 'float' and dimensions is set, then plain float arrays of that size come back", async () => {
    const res = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'Doors open at 9am',
      dimensions: 64,
      encoding_format: 'float',
    });
    expect(fake.embeddingRequests[0]).toMatchObject({ encoding_format: 'float', dimensions: 64 });
    expect(res.data[0]?.embedding).toHaveLength(64);
    expect(res.data[0]?.embedding).toEqual(fakeEmbedding('Doors open at 9am', 64));
  });

  it('when texts share (stemmed) words, then their embeddings are closer than unrelated texts', () => {
    const q = fakeEmbedding('What time should I arrive?', 1536);
    const related = fakeEmbedding('Arrival: please arrive by 8:30, doors open at that time.', 1536);
    const unrelated = fakeEmbedding('Refunds are processed within five business days.', 1536);
    expect(cosineSimilarity(q, related)).toBeGreaterThan(0.3); // shares 'arriv' + 'tim'
    expect(cosineSimilarity(q, unrelated)).toBeLessThan(0.15);
    expect(cosineSimilarity(q, q)).toBeCloseTo(1, 5);
    // a text with no usable words still gets a unit vector
    expect(fakeEmbedding('a b 12', 8)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('when failNext(429) is set and the client has maxRetries 0, then the SDK throws RateLimitError once and then recovers', async () => {
    fake.failNext(429);
    const err = await rejection(client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).status).toBe(429);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded');

    const ok = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
    expect(ok.data).toHaveLength(1);
    expect(fake.stats).toMatchObject({ failedRequests: 1, embeddingRequests: 1 });
  });

  it('when failNext(503) is set and the SDK retries, then the retry succeeds', async () => {
    fake.failNext(503, 1, { retryAfterMs: 1 });
    const retrying = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 1 });
    const res = await retrying.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    expect(res.data).toHaveLength(1);
    expect(fake.stats).toMatchObject({ failedRequests: 1, embeddingRequests: 1 });
  });

  it('when a voice note is transcribed through the SDK, then the configured transcript comes back and the upload is recorded', async () => {
    fake.setTranscript('is there parking nearby');
    const audio = Buffer.alloc(1234, 7);
    const res = await client.audio.transcriptions.create({
      file: await toFile(audio, 'note.ogg', { type: 'audio/ogg' }),
      model: 'whisper-1',
      language: 'en',
    });
    expect(res.text).toBe('is there parking nearby');
    expect(fake.transcriptions).toEqual([
      { model: 'whisper-1', language: 'en', responseFormat: null, prompt: null, filename: 'note.ogg', contentType: 'audio/ogg', size: 1234 },
    ]);
    expect(fake.stats.transcriptionRequests).toBe(1);
  });

  it("when response_format is 'text', then the SDK returns the bare transcript string", async () => {
    const res = await client.audio.transcriptions.create({
      file: await toFile(Buffer.from('x'), 'a.ogg', { type: 'audio/ogg' }),
      model: 'whisper-1',
      response_format: 'text',
    });
    expect(String(res).trim()).toBe('what time should I arrive');
  });

  it('when latencyMs is set, then every response is delayed by at least that much', async () => {
    fake.latencyMs = 60;
    try {
      const started = performance.now();
      await client.embeddings.create({ model: 'text-embedding-3-small', input: 'slow' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    } finally {
      fake.latencyMs = 0;
    }
  });

  it('when defaultDimensions is configured, then requests without dimensions use it', async () => {
    const small = await startFakeOpenAI({ defaultDimensions: 16 });
    try {
      const c = new OpenAI({ apiKey: 'k', baseURL: small.url, maxRetries: 0 });
      const res = await c.embeddings.create({ model: 'm', input: 'hello there' });
      expect(res.data[0]?.embedding).toEqual(fakeEmbedding('hello there', 16));
    } finally {
      await small.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------
describe('fake Anthropic (driven by the official @anthropic-ai/sdk)', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;

  const searchResults: Anthropic.SearchResultBlockParam[] = [
    {
      type: 'search_result',
      source: 'faq.md#arrival',
      title: 'Arrival',
      content: [{ type: 'text', text: 'Please arrive by 8:30am. Doors close at 9.' }],
      citations: { enabled: true },
    },
    {
      type: 'search_result',
      source: 'faq.md#parking',
      title: 'Parking',
      content: [{ type: 'text', text: 'Free parking is behind the hall.' }],
      citations: { enabled: true },
    },
  ];
  const ask = (content: Anthropic.MessageParam['content'], c: Anthropic = client): Promise<Anthropic.Message> =>
    c.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 512,
      system: 'Answer only from the search results.',
      messages: [{ role: 'user', content }],
      tools: [
        {
          name: 'escalate',
          description: 'Hand over to a human',
          input_schema: { type: 'object', properties: { reason: { type: 'string' }, category: { type: 'string' } } },
        },
      ],
    });

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url, maxRetries: 0 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('when citedAnswer is enqueued, then the SDK gets text blocks whose search_result_location citations point at the right source', async () => {
    fake.enqueue(
      citedAnswer([
        { text: 'Arrive by 8:30am.', cite: { searchResultIndex: 0 } },
        { text: ' Parking is free.', cite: { searchResultIndex: 1 } },
        { text: ' See you there!' },
      ]),
    );
    const msg = await ask([...searchResults, { type: 'text', text: 'When should I arrive and where do I park?' }]);

    expect(msg).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-haiku-4-5', stop_reason: 'end_turn', stop_sequence: null });
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0, server_tool_use: null, service_tier: 'standard' });
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    const [first, second, third] = msg.content;
    expect(first).toEqual({
      type: 'text',
      text: 'Arrive by 8:30am.',
      citations: [
        {
          type: 'search_result_location',
          source: 'faq.md#arrival',
          title: 'Arrival',
          cited_text: 'Please arrive by 8:30am. Doors close at 9.',
          search_result_index: 0,
          start_block_index: 0,
          end_block_index: 1,
        },
      ],
    });
    expect(second?.type === 'text' && second.citations?.[0]).toMatchObject({ source: 'faq.md#parking', search_result_index: 1 });
    expect(third).toEqual({ type: 'text', text: ' See you there!', citations: null });

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.system).toBe('Answer only from the search results.');
  });

  it('when a citation names a search result that is not in the request, then it still comes back, with an empty source', async () => {
    fake.enqueue(citedAnswer([{ text: 'Made up.', cite: { searchResultIndex: 7 } }]));
    const msg = await ask([searchResults[0]!, { type: 'text', text: 'q' }]);
    const block = msg.content[0];
    expect(block?.type === 'text' && block.citations?.[0]).toMatchObject({ source: '', search_result_index: 7, cited_text: '' });
  });

  it('when nothing is enqueued and there are search results, then the default reply quotes and cites result 0', async () => {
    const msg = await ask([...searchResults, { type: 'text', text: 'When should I arrive?' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.content).toHaveLength(1);
    const block = msg.content[0];
    expect(block?.type).toBe('text');
    if (block?.type !== 'text') return;
    expect(block.text).toBe('Please arrive by 8:30am.');
    expect(block.citations?.[0]).toMatchObject({ type: 'search_result_location', source: 'faq.md#arrival', search_result_index: 0 });
  });

  it('when nothing is enqueued and there are no search results, then the default reply calls the escalate tool', async () => {
    const msg = await ask('Can I bring my dog?');
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toMatchObject({ type: 'tool_use', name: 'escalate', input: { reason: 'no search results', category: 'out_of_scope' } });
  });

  it('when escalateToolUse with a preface is enqueued, then a text block precedes the tool_use block', async () => {
    fake.enqueue(escalateToolUse({ reason: 'wants a refund', category: 'billing' }, 'Let me get a human.'), uncitedAnswer('second'));
    const msg = await ask('I want my money back');
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toEqual({ type: 'text', text: 'Let me get a human.', citations: null });
    const tool = msg.content[1];
    expect(tool?.type).toBe('tool_use');
    if (tool?.type !== 'tool_use') return;
    expect(tool.id).toMatch(/^toolu_/);
    expect(tool.input).toEqual({ reason: 'wants a refund', category: 'billing' });
    // queue is consumed in order
    const next = await ask('again');
    expect(next.content[0]).toEqual({ type: 'text', text: 'second', citations: null });
  });

  it('when a reply function is enqueued, then it sees the request', async () => {
    fake.enqueue((req) => uncitedAnswer(`you sent ${req.messages.length} message(s)`));
    const msg = await ask('hi');
    expect(msg.content[0]).toMatchObject({ text: 'you sent 1 message(s)' });
  });

  it('when errorReply(529) is enqueued and maxRetries is 0, then the SDK throws an APIError with status 529 and the request id', async () => {
    fake.enqueue(errorReply(529, 'overloaded_error'));
    const err = await rejection(ask('hi'));
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const apiErr = err as InstanceType<typeof Anthropic.APIError>;
    expect(apiErr.status).toBe(529);
    expect(apiErr.requestID).toMatch(/^req_/);
    expect(apiErr.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
  });

  it('when slowReply outlasts the client timeout, then the SDK raises a connection timeout', async () => {
    fake.enqueue(slowReply(2_000, uncitedAnswer('too late')));
    const impatient = new Anthropic({ apiKey: 'k', baseURL: fake.url, maxRetries: 0, timeout: 100 });
    const err = await rejection(ask('hi', impatient));
    expect(err).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
  });

  it('when headers are missing or stream is requested, then Anthropic-style errors come back', async () => {
    const body = JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const noKey = await fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });

    const noVersion = await fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'k' }, body });
    expect(noVersion.status).toBe(400);

    const err = await rejection(
      client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true }),
    );
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
  });
});

// -------------------------------------------------------------------------------------------------
describe('fake Twilio (driven by the official twilio SDK through a URI-rewriting httpClient)', () => {
  let fake: FakeTwilio;
  let client: twilio.Twilio;

  beforeAll(async () => {
    fake = await startFakeTwilio();
    client = twilio(fake.accountSid, fake.authToken, { httpClient: fakeTwilioHttpClient(fake.url) });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('when messages.create is called through the SDK, then a queued Message resource comes back and is recorded', async () => {
    const msg = await client.messages.create({ to: 'whatsapp:+15551230001', from: 'whatsapp:+15550000000', body: 'Doors open at 9.' });
    expect(msg.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(msg.accountSid).toBe(fake.accountSid);
    expect(msg.status).toBe('queued');
    expect(msg.direction).toBe('outbound-api');
    expect(msg.to).toBe('whatsapp:+15551230001');
    expect(msg.body).toBe('Doors open at 9.');
    expect(msg.numSegments).toBe('1');
    expect(msg.dateCreated).toBeInstanceOf(Date);
    expect(Number.isNaN(msg.dateCreated.getTime())).toBe(false);
    expect(msg.errorCode).toBeNull();

    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]).toMatchObject({ sid: msg.sid, to: 'whatsapp:+15551230001', from: 'whatsapp:+15550000000', body: 'Doors open at 9.' });
    // the resource can be fetched back too
    const fetched = await client.messages(msg.sid).fetch();
    expect(fetched.sid).toBe(msg.sid);
  });

  it('when the auth token is wrong, then the SDK gets a 401 RestException with code 20003', async () => {
    const bad = twilio(fake.accountSid, 'wrong', { httpClient: fakeTwilioHttpClient(fake.url) });
    const err = await rejection(bad.messages.create({ to: 'whatsapp:+1', from: 'whatsapp:+2', body: 'x' }));
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ status: 401, code: 20003 });
    expect(fake.sent).toHaveLength(0);
  });

  it('when failNext(429) is set, then the next send fails with code 20429 and the one after succeeds', async () => {
    fake.failNext(429);
    const err = await rejection(client.messages.create({ to: 'whatsapp:+1', from: 'whatsapp:+2', body: 'x' }));
    expect(err).toMatchObject({ status: 429, code: 20429, moreInfo: 'https://www.twilio.com/docs/errors/20429' });
    await client.messages.create({ to: 'whatsapp:+1', from: 'whatsapp:+2', body: 'x' });
    expect(fake.sent).toHaveLength(1);
  });

  it('when the 24h window is closed, then free-form sends fail with 63016 but template (ContentSid) sends succeed', async () => {
    fake.closeWindow('whatsapp:+15551230001');
    const err = await rejection(client.messages.create({ to: 'whatsapp:+15551230001', from: 'whatsapp:+15550000000', body: 'hi' }));
    expect(err).toMatchObject({ status: 400, code: 63016 });

    const tpl = await client.messages.create({
      to: 'whatsapp:+15551230001',
      from: 'whatsapp:+15550000000',
      contentSid: 'HX0123456789abcdef0123456789abcdef',
      contentVariables: JSON.stringify({ 1: 'Sam' }),
    });
    expect(tpl.sid).toMatch(/^SM/);
    // other recipients are unaffected
    await client.messages.create({ to: 'whatsapp:+15559999999', from: 'whatsapp:+15550000000', body: 'hi' });
    expect(fake.sent.map((s) => [s.to, s.contentSid ?? null])).toEqual([
      ['whatsapp:+15551230001', 'HX0123456789abcdef0123456789abcdef'],
      ['whatsapp:+15559999999', null],
    ]);
    expect(fake.sent[0]?.contentVariables).toBe('{"1":"Sam"}');
  });

  it('when media is downloaded, then Basic auth is required and the bytes come back with their content type', async () => {
    const bytes = Buffer.from('OggS fake voice note');
    const url = fake.addMedia(bytes, 'audio/ogg');
    expect(url).toMatch(new RegExp(`^${fake.url}/2010-04-01/Accounts/${fake.accountSid}/Messages/MM[0-9a-f]{32}/Media/ME[0-9a-f]{32}$`));

    const anon = await fetch(url);
    expect(anon.status).toBe(401);

    const authed = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}` },
    });
    expect(authed.status).toBe(200);
    expect(authed.headers.get('content-type')).toBe('audio/ogg');
    expect(Buffer.from(await authed.arrayBuffer())).toEqual(bytes);
    expect(fake.mediaRequests).toBe(2);
  });

  it('when waitForSent is awaited, then it resolves once enough messages arrive and rejects with a listing on timeout', async () => {
    const waiting = fake.waitForSent(2, 2_000);
    await client.messages.create({ to: 'whatsapp:+1', from: 'whatsapp:+2', body: 'one' });
    await client.messages.create({ to: 'whatsapp:+1', from: 'whatsapp:+2', body: 'two' });
    expect((await waiting).map((s) => s.body)).toEqual(['one', 'two']);

    const err = await rejection(fake.waitForSent(3, 30));
    expect(String(err)).toMatch(/expected at least 3 sent message\(s\) within 30 ms, got 2[\s\S]*body="one"/);
  });
});

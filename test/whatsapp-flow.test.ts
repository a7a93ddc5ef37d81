/**
 * One WhatsApp conversation after another through the running app (in-process queue, real
 * PGlite, fake Twilio / Anthropic / OpenAI on loopback): bursts, order, media, long replies,
 * delivery retries, model failure and every command. Tests isolate by sender.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAssistant, type Assistant } from '../src/composition.js';
import type { EscalationRequest } from '../src/conversation/index.js';
import { hashSender } from '../src/logging/index.js';
import { citedAnswer, errorReply, startFakeAnthropic, type FakeAnthropic, type MessageCreateParams } from './fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { testConfig } from './support/config.js';
import {
  TWILIO_NUMBER,
  citedEcho,
  handled,
  inboundForm,
  inboundRow,
  newSender,
  questionOf,
  removeDir,
  waitFor,
  webhookClient,
  writeKnowledgeFixture,
  type WebhookClient,
  channelEnv,
} from './support/whatsapp.js';

const HUMAN_LINE = '+1 (555) 010-4242';

let twilioFake: FakeTwilio;
let anthropic: FakeAnthropic;
let openai: FakeOpenAI;
let knowledgeDir: string;
let assistant: Assistant;
let hook: WebhookClient;
const escalations: EscalationRequest[] = [];

beforeAll(async () => {
  [twilioFake, anthropic, openai, knowledgeDir] = await Promise.all([startFakeTwilio(), startFakeAnthropic(), startFakeOpenAI(), writeKnowledgeFixture()]);
  anthropic.setDefaultReply(citedEcho(2500));
  const config = testConfig({
    ...channelEnv({ twilio: twilioFake, anthropic, knowledgeDir }),
    ANTHROPIC_MAX_RETRIES: '1',
    OPENAI_API_KEY: 'test-key',
    OPENAI_BASE_URL: openai.url,
    EMBEDDING_DIMENSIONS: '64',
    HUMAN_LINE,
    BURST_WINDOW_MS: '200',
  });
  assistant = await startAssistant(config, {
    twilioRetryBaseMs: 5,
    queueRetryBaseMs: 20,
    escalate: async (request) => {
      escalations.push(request);
    },
  });
  hook = webhookClient({ port: assistant.port!, authToken: twilioFake.authToken });
});

afterAll(async () => {
  await assistant?.close();
  await Promise.all([twilioFake?.close(), anthropic?.close(), openai?.close(), removeDir(knowledgeDir)]);
});

const sentTo = (to: string) => twilioFake.sent.filter((m) => m.to === to).map((m) => m.body ?? '');
const modelSaw = (text: string) => anthropic.requests.filter((r) => questionOf(r).includes(text));

async function send(from: string, body: string, extra: Record<string, string> = {}): Promise<string> {
  const { sid, response } = await hook.text(from, body, extra);
  expect(response.status).toBe(200);
  return sid;
}

/** Sends a signed text, waits until the inbox says it is handled; returns the new replies. */
async function turn(from: string, body: string, extra: Record<string, string> = {}): Promise<string[]> {
  const before = sentTo(from).length;
  await handled(assistant, await send(from, body, extra));
  return sentTo(from).slice(before);
}

describe('turns', () => {
  it('when a sender sends three short messages within the burst window, then they are answered as one turn and the others are marked merged', async () => {
    const from = newSender();
    const bodies = ['Hello', 'a question about fasting', 'can I drink water before surgery? (burst)'];
    const sids = await Promise.all(bodies.map((body) => send(from, body)));

    const rows = await Promise.all(sids.map((sid) => handled(assistant, sid)));

    const turnSid = rows.find((r) => r.status === 'answered')?.turn_sid;
    expect(rows.map((r) => r.status).sort()).toEqual(['answered', 'merged', 'merged']);
    expect(rows.every((r) => r.turn_sid === turnSid)).toBe(true);
    const asked = modelSaw('(burst)').map(questionOf);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.split('\n').sort()).toEqual([...bodies].sort());
    expect(sentTo(from)).toEqual([expect.stringContaining(`Answer to: ${asked[0]}`)]);
  });

  it('when two senders write while their first answers are being generated, then both proceed in parallel and each gets its replies in order', async () => {
    const alice = newSender();
    const bob = newSender();
    await send(alice, 'slowly: can I drink water before surgery? (alice 1)');
    await send(bob, 'slowly: can I have coffee before surgery? (bob 1)');
    // Both first questions are with the model at the same time: senders do not wait for each other.
    await waitFor(() => modelSaw('(alice 1)').length === 1 && modelSaw('(bob 1)').length === 1, 'both first questions at the model');
    const alice2 = await send(alice, 'and solid food before surgery? (alice 2)');
    const bob2 = await send(bob, 'and showering after surgery? (bob 2)');

    await Promise.all([handled(assistant, alice2), handled(assistant, bob2)]);

    expect(sentTo(alice)).toEqual([expect.stringContaining('(alice 1)'), expect.stringContaining('(alice 2)')]);
    expect(sentTo(bob)).toEqual([expect.stringContaining('(bob 1)'), expect.stringContaining('(bob 2)')]);
    // The second messages arrived while the first were in progress: separate turns, never merged into them.
    expect(modelSaw('(alice 2)').map(questionOf)).toEqual(['and solid food before surgery? (alice 2)']);
    expect(modelSaw('(bob 2)').map(questionOf)).toEqual(['and showering after surgery? (bob 2)']);
  });

  it('when a question is longer than MAX_QUESTION_CHARS, then the sender is asked for a shorter one and no model is called', async () => {
    const from = newSender();
    const replies = await turn(from, `${'Please tell me everything about fasting before surgery. '.repeat(20)}(too long)`);
    expect(replies).toEqual([expect.stringContaining('That message is very long')]);
    expect(modelSaw('(too long)')).toHaveLength(0);
  });
});

describe('media', () => {
  const media = (url: string, contentType: string) => ({ NumMedia: '1', MediaUrl0: url, MediaContentType0: contentType, MessageType: contentType.split('/')[0]! });

  it('when a voice note arrives, then it is downloaded with the account credentials, transcribed and the transcript is answered', async () => {
    const from = newSender();
    const audio = Buffer.from('OggS\u0000fake opus voice note bytes');
    const url = twilioFake.addMedia(audio, 'audio/ogg');
    openai.setTranscript('Can I drink water before surgery? (voice)');
    const downloadsBefore = twilioFake.mediaRequests;
    const transcriptionsBefore = openai.transcriptions.length;

    const replies = await turn(from, '', media(url, 'audio/ogg'));

    expect(twilioFake.mediaRequests).toBe(downloadsBefore + 1);
    expect(openai.transcriptions.slice(transcriptionsBefore)).toEqual([expect.objectContaining({ contentType: 'audio/ogg', size: audio.length })]);
    expect(modelSaw('(voice)').map(questionOf)).toEqual(['Can I drink water before surgery? (voice)']);
    expect(replies).toEqual([expect.stringContaining('Answer to: Can I drink water before surgery? (voice)')]);
  });

  it('when an image arrives, then the sender is told politely that only text and voice are read, and no model is called', async () => {
    const from = newSender();
    const url = twilioFake.addMedia(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg');
    const requestsBefore = anthropic.requests.length;
    const transcriptionsBefore = openai.transcriptions.length;

    const replies = await turn(from, 'what is this? (image)', media(url, 'image/jpeg'));

    expect(replies).toEqual(['I can read text and voice messages only. Could you type your question?']);
    expect(anthropic.requests.length).toBe(requestsBefore);
    expect(openai.transcriptions.length).toBe(transcriptionsBefore);
  });

  it('when the transcription fails, then the sender is asked to type the question', async () => {
    const from = newSender();
    const url = twilioFake.addMedia(Buffer.from('OggS\u0000unintelligible'), 'audio/ogg');
    const requestsBefore = anthropic.requests.length;
    openai.failNext(400, 1, { message: 'audio could not be decoded' });

    const replies = await turn(from, '', media(url, 'audio/ogg'));

    expect(replies).toEqual([expect.stringMatching(/couldn't understand that voice note\. Could you type your question\?/)]);
    expect(anthropic.requests.length).toBe(requestsBefore);
  });
});

/** A grounded reply of about 4,300 characters in 11 paragraphs, with Markdown bold. */
function longAnswer(tag: string) {
  const paragraphs = Array.from({ length: 11 }, (_, p) =>
    Array.from({ length: 5 }, (_, s) => `Step ${p * 5 + s + 1} of the **fasting guide** is explained here in full detail for you ${tag}.`).join(' '),
  );
  return (request: MessageCreateParams) => {
    void request;
    return citedAnswer([{ text: paragraphs.join('\n\n'), cite: { searchResultIndex: 0 } }]);
  };
}

const stepsIn = (parts: string[]) => [...parts.join('\n').matchAll(/Step (\d+) /g)].map((m) => Number(m[1]));
const allSteps = Array.from({ length: 55 }, (_, i) => i + 1);

describe('long replies and delivery', () => {
  it('when the answer is about 4,000 characters, then it arrives as ordered parts of at most 1600 characters, formatted for WhatsApp', async () => {
    const from = newSender();
    anthropic.enqueue(longAnswer('(long)'));

    const replies = await turn(from, 'What is the whole fasting guide before surgery?');

    expect(replies.join('').length).toBeGreaterThan(4000);
    expect(replies.length).toBeGreaterThanOrEqual(3);
    for (const part of replies) expect(part.length).toBeLessThanOrEqual(1600);
    expect(stepsIn(replies)).toEqual(allSteps);
    expect(replies.join('\n')).toContain('*fasting guide*');
    expect(replies.join('\n')).not.toContain('**');
    expect(replies.at(-1)).toMatch(/Source: fasting\.md$/);
  });

  it('when Twilio answers 500 once, then the reply is delivered exactly once', async () => {
    const from = newSender();
    twilioFake.failNext(500, 1);

    const replies = await turn(from, 'Can I drink water before surgery? (twilio 500)');

    expect(replies).toEqual([expect.stringContaining('(twilio 500)')]);
    const rows = await assistant.db.query<{ status: string; twilio_sid: string }>('SELECT status, twilio_sid FROM outbound_messages WHERE recipient_hash = $1', [hashSender(from)]);
    expect(rows).toEqual([{ status: 'sent', twilio_sid: twilioFake.sent.find((m) => m.to === from)!.sid }]);
  });

  it('when Twilio keeps failing in the middle of a long reply, then the retried job sends only the missing parts, each exactly once, in order, without asking the model again', async () => {
    const from = newSender();
    anthropic.enqueue(longAnswer('(resumed)'));
    // After the first part is accepted, the next four attempts (the client's whole budget) fail.
    void twilioFake.waitForSent(twilioFake.sent.length + 1, 20_000).then(() => twilioFake.failNext(500, 4));

    const replies = await turn(from, 'What is the whole fasting guide before surgery? (resumed)');

    expect(replies.length).toBeGreaterThanOrEqual(3);
    expect(stepsIn(replies)).toEqual(allSteps);
    expect(new Set(replies).size).toBe(replies.length);
    expect(modelSaw('(resumed)')).toHaveLength(1);
    const rows = await assistant.db.query<{ part: number; status: string }>('SELECT part, status FROM outbound_messages WHERE recipient_hash = $1 ORDER BY part', [hashSender(from)]);
    expect(rows).toEqual(replies.map((_, part) => ({ part, status: 'sent' })));
  });

  it('when a reply cannot be delivered and the sender writes again meanwhile, then both messages are answered, in order, and the model is asked once for each', async () => {
    const from = newSender();
    const first = await send(from, 'slowly: can I drink water before surgery? (undelivered 1)');
    await waitFor(() => modelSaw('(undelivered 1)').length === 1, 'the first question at the model');
    const second = await send(from, 'can I have coffee before surgery? (undelivered 2)');
    twilioFake.failNext(500, 4); // the first reply's whole retry budget

    const rows = await Promise.all([handled(assistant, first), handled(assistant, second)]);

    expect(rows.map((r) => r.status)).toEqual(['answered', 'answered']);
    expect(sentTo(from)).toEqual([expect.stringContaining('(undelivered 1)'), expect.stringContaining('(undelivered 2)')]);
    expect(modelSaw('(undelivered 1)').map(questionOf)).toEqual(['slowly: can I drink water before surgery? (undelivered 1)']);
    expect(modelSaw('(undelivered 2)').map(questionOf)).toEqual(['can I have coffee before surgery? (undelivered 2)']);
  });

  it('when the model is down for every attempt, then the sender gets the fallback with the human line and staff are told', async () => {
    const from = newSender();
    anthropic.setDefaultReply(errorReply(500, 'api_error'));
    try {
      const replies = await turn(from, 'Can I drink water before surgery? (model down)');

      expect(modelSaw('(model down)')).toHaveLength(2); // the first attempt and ANTHROPIC_MAX_RETRIES=1
      expect(replies).toEqual([expect.stringContaining("Sorry, I can't answer right now.")]);
      expect(replies[0]).toContain(HUMAN_LINE);
      expect(escalations.filter((e) => e.senderHash === hashSender(from))).toEqual([expect.objectContaining({ category: 'failure' })]);
      const [log] = await assistant.db.query<{ kind: string; category: string }>('SELECT kind, category FROM answer_log WHERE sender_hash = $1', [hashSender(from)]);
      expect(log).toEqual({ kind: 'fallback', category: 'failure' });
    } finally {
      anthropic.setDefaultReply(citedEcho(2500));
    }
  });
});

describe('commands', () => {
  it('when a sender sends /help, then they get the help text and no model is called', async () => {
    const from = newSender();
    const before = anthropic.requests.length;
    const replies = await turn(from, '/help');
    expect(replies).toHaveLength(1);
    for (const command of ['/help', '/reset', '/human', '/forget']) expect(replies[0]).toContain(command);
    expect(replies[0]).toContain(HUMAN_LINE);
    expect(anthropic.requests.length).toBe(before);
  });

  it('when a sender sends an unknown command, then they get the help text', async () => {
    const from = newSender();
    const help = (await turn(newSender(), '/help'))[0];
    expect(await turn(from, '/x')).toEqual([help]);
  });

  it('when a sender sends /reset, then the history is cleared and a follow-up no longer carries the earlier turns', async () => {
    const from = newSender();
    await turn(from, 'Can I drink water before surgery? (reset 1)');
    await turn(from, 'And coffee before surgery? (reset 2)');
    // History is carried: the second question went with the first turn and its answer.
    expect(modelSaw('(reset 2)')[0]!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(modelSaw('(reset 2)')[0]!.messages[0]!.content).toBe('Can I drink water before surgery? (reset 1)');

    expect(await turn(from, '/reset')).toEqual(["Done — we're starting over. How can I help?"]);
    await turn(from, 'And solid food before surgery? (reset 3)');

    expect(modelSaw('(reset 3)')[0]!.messages.map((m) => m.role)).toEqual(['user']);
  });

  it('when a sender sends /human, then they are told a person will take over, staff are told, and no model is called', async () => {
    const from = newSender();
    const before = anthropic.requests.length;

    const replies = await turn(from, '/human');

    expect(replies).toEqual([expect.stringContaining("I'm passing you to a member of our team")]);
    expect(replies[0]).toContain(HUMAN_LINE);
    expect(escalations.filter((e) => e.senderHash === hashSender(from))).toEqual([expect.objectContaining({ category: 'user_request', sender: from })]);
    expect(anthropic.requests.length).toBe(before);
  });

  it('when a sender sends /forget, then their stored message bodies, answers and history are erased', async () => {
    const from = newSender();
    const question = await send(from, 'Can I drink water before surgery? (forget 1)');
    await handled(assistant, question);
    expect((await inboundRow(assistant, question))!.body).toContain('(forget 1)');

    expect(await turn(from, '/forget')).toEqual(["Done — I've erased your history and the text of your stored messages."]);

    const hash = hashSender(from);
    const inbound = await assistant.db.query<{ body: string; media: unknown[]; profile_name: string | null }>('SELECT body, media, profile_name FROM inbound_messages WHERE sender_hash = $1', [hash]);
    expect(inbound).toHaveLength(2);
    expect(inbound.every((m) => m.body === '' && m.profile_name === null)).toBe(true);
    expect(await assistant.db.query('SELECT 1 FROM answer_log WHERE sender_hash = $1', [hash])).toHaveLength(0);
    const outbound = await assistant.db.query<{ body: string }>('SELECT body FROM outbound_messages WHERE recipient_hash = $1', [hash]);
    expect(outbound.map((o) => o.body)).not.toContainEqual(expect.stringContaining('(forget 1)'));
    // History is gone too: the next question goes to the model alone.
    await turn(from, 'And coffee before surgery? (forget 2)');
    expect(modelSaw('(forget 2)')[0]!.messages.map((m) => m.role)).toEqual(['user']);
  });
});

it('when a form carries a MessageSid, then the helper form has every field Twilio sends', () => {
  expect(Object.keys(inboundForm({ From: newSender(), Body: 'x' }))).toEqual(expect.arrayContaining(['MessageSid', 'From', 'To', 'Body', 'NumMedia', 'ProfileName', 'WaId']));
});

/**
 * POST /webhooks/twilio through the running app: signatures, payload validation, the
 * acknowledgement, duplicates, the per-sender rate limit, and the operations endpoints.
 * One assistant (in-process queue, real PGlite) for the whole file; tests isolate by sender.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAssistant, type Assistant } from '../src/composition.js';
import { EMPTY_TWIML } from '../src/channels/twilio/webhook.js';
import { startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { testConfig } from './support/config.js';
import {
  TWILIO_NUMBER,
  citedEcho,
  handled,
  inboundForm,
  inboundRow,
  messageSid,
  newSender as makeSender,
  questionOf,
  removeDir,
  signatureFor,
  waitFor,
  webhookClient,
  writeKnowledgeFixture,
  type WebhookClient,
  channelEnv,
} from './support/whatsapp.js';

const PUBLIC_BASE_URL = 'https://bot.example.org';
const HUMAN_LINE = '+1 (555) 010-7788';

let twilioFake: FakeTwilio;
let anthropic: FakeAnthropic;
let knowledgeDir: string;
let assistant: Assistant;
let hook: WebhookClient;
/** Every log line the app writes (info and above), without the logger's redaction safety net. */
const logLines: string[] = [];
const senders: string[] = [];
function newSender(): string {
  const sender = makeSender();
  senders.push(sender);
  return sender;
}

beforeAll(async () => {
  [twilioFake, anthropic, knowledgeDir] = await Promise.all([startFakeTwilio(), startFakeAnthropic(), writeKnowledgeFixture()]);
  anthropic.setDefaultReply(citedEcho());
  const config = testConfig({
    ...channelEnv({ twilio: twilioFake, anthropic, knowledgeDir }),
    PUBLIC_BASE_URL,
    ANTHROPIC_MAX_RETRIES: '0',
    HUMAN_LINE,
    BURST_WINDOW_MS: '200',
    RATE_LIMIT_MAX: '2',
    RATE_LIMIT_WINDOW_SECONDS: '600',
  });
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  assistant = await startAssistant(config, { twilioRetryBaseMs: 5, queueRetryBaseMs: 20, logger });
  hook = webhookClient({ port: assistant.port!, authToken: twilioFake.authToken, publicBaseUrl: PUBLIC_BASE_URL });
});

afterAll(async () => {
  await assistant?.close();
  await Promise.all([twilioFake?.close(), anthropic?.close(), removeDir(knowledgeDir)]);
});

const sentTo = (to: string) => twilioFake.sent.filter((m) => m.to === to);
const modelSaw = (text: string) => anthropic.requests.filter((r) => questionOf(r).includes(text));

/** Sends a signed text and waits until its turn is answered; returns the reply bodies sent to `from`. */
async function askAndWait(from: string, body: string): Promise<{ sid: string; replies: string[] }> {
  const before = sentTo(from).length;
  const { sid, response } = await hook.text(from, body);
  expect(response.status).toBe(200);
  await handled(assistant, sid);
  return { sid, replies: sentTo(from).slice(before).map((m) => m.body ?? '') };
}

describe('signature verification', () => {
  it('when a request is unsigned, forged, or signed for another URL, then it gets 403 and nothing is recorded, asked or sent', async () => {
    const from = newSender();
    const attempts: Array<{ form: Record<string, string>; signature?: string | null; signUrl?: string }> = [];
    // No X-Twilio-Signature at all.
    attempts.push({ form: inboundForm({ From: from, Body: 'unsigned water question' }), signature: null });
    // Signed with the wrong auth token.
    const wrongToken = inboundForm({ From: from, Body: 'forged water question' });
    attempts.push({ form: wrongToken, signature: signatureFor('not-the-auth-token', hook.signedUrl, wrongToken) });
    // A genuine signature, but the body was changed after signing.
    const original = inboundForm({ From: from, Body: 'Can I drink water?' });
    attempts.push({ form: { ...original, Body: 'tampered water question' }, signature: signatureFor(twilioFake.authToken, hook.signedUrl, original) });
    // Signed for the server's own address: Twilio signs the public URL (PUBLIC_BASE_URL).
    attempts.push({ form: inboundForm({ From: from, Body: 'local url water question' }), signUrl: `http://127.0.0.1:${assistant.port}/webhooks/twilio` });

    for (const attempt of attempts) {
      const response = await hook.post(attempt.form, { signature: attempt.signature, signUrl: attempt.signUrl });
      expect(response.status).toBe(403);
      expect(JSON.parse(response.text)).toEqual({ error: { id: 'GL-WEBHOOK-001', message: expect.stringMatching(/X-Twilio-Signature/) } });
      expect(await inboundRow(assistant, attempt.form.MessageSid!)).toBeUndefined();
    }

    // A genuine message from the same sender afterwards is answered, and it is the only reply.
    const { replies } = await askAndWait(from, 'Can I drink water before surgery?');
    expect(replies).toEqual([expect.stringContaining('Answer to: Can I drink water before surgery?')]);
    expect(sentTo(from)).toHaveLength(1);
    for (const word of ['unsigned', 'forged', 'tampered', 'local url']) expect(modelSaw(word)).toHaveLength(0);
  });

  it('when a request is signed for PUBLIC_BASE_URL, then it is accepted with 200 and empty TwiML at once', async () => {
    const from = newSender();
    const { sid, response } = await hook.text(from, 'Can I have coffee before surgery?');

    expect(response.status).toBe(200);
    expect(response.contentType).toMatch(/^text\/xml/);
    expect(response.text).toBe(EMPTY_TWIML);
    // Acknowledged before any answer exists: the reply follows asynchronously.
    const row = await handled(assistant, sid);
    expect(row.status).toBe('answered');
    expect(sentTo(from).map((m) => m.body)).toEqual([expect.stringContaining('Answer to: Can I have coffee before surgery?')]);
    expect(sentTo(from)[0]!.from).toBe(TWILIO_NUMBER);
  });
});

describe('payload validation', () => {
  const cases: Array<{ name: string; form: () => Record<string, string>; reason: RegExp }> = [
    {
      name: 'From is missing',
      form: () => {
        const { From: _drop, ...rest } = inboundForm({ From: newSender(), Body: 'hello' });
        return rest;
      },
      reason: /From/,
    },
    { name: 'MessageSid is not a Twilio SID', form: () => inboundForm({ From: newSender(), Body: 'hello', MessageSid: 'SM-not-a-sid' }), reason: /MessageSid: must be a Twilio message SID/ },
    { name: 'Body is empty and there is no media', form: () => inboundForm({ From: newSender(), Body: '   ' }), reason: /Body is empty and there is no media/ },
    { name: 'NumMedia announces media that is not there', form: () => inboundForm({ From: newSender(), Body: '', NumMedia: '1' }), reason: /MediaUrl0\/MediaContentType0 is missing/ },
    { name: 'From is not a phone address', form: () => inboundForm({ From: 'whatsapp:bob', Body: 'hello' }), reason: /From: must look like whatsapp:\+15551234567/ },
  ];

  for (const c of cases) {
    it(`when ${c.name}, then it gets 400 with the reason and nothing is recorded`, async () => {
      const form = c.form();
      const response = await hook.post(form);

      expect(response.status).toBe(400);
      const error = (JSON.parse(response.text) as { error: { id: string; message: string } }).error;
      expect(error.id).toBe('GL-WEBHOOK-002');
      expect(error.message).toMatch(c.reason);
      if (form.MessageSid) expect(await inboundRow(assistant, form.MessageSid)).toBeUndefined();
    });
  }
});

describe('duplicate deliveries', () => {
  it('when Twilio delivers the same MessageSid again, while pending and after the reply, then there is exactly one reply', async () => {
    const from = newSender();
    const form = inboundForm({ From: from, Body: 'Can I drink water before surgery? (duplicate)' });

    expect((await hook.post(form)).status).toBe(200);
    // Two retries while the message is still waiting for its answer…
    const retries = await Promise.all([hook.post(form), hook.post(form)]);
    expect(retries.map((r) => [r.status, r.text])).toEqual([
      [200, EMPTY_TWIML],
      [200, EMPTY_TWIML],
    ]);
    await handled(assistant, form.MessageSid!);
    // …and one after it was answered.
    const late = await hook.post(form);
    expect([late.status, late.text]).toEqual([200, EMPTY_TWIML]);

    // Anything a duplicate had triggered would be sent before the reply to a later message;
    // retries do not count toward the sender's rate limit (RATE_LIMIT_MAX=2), so this is answered.
    const later = await askAndWait(from, '/help');
    expect(later.replies).toEqual([expect.stringContaining('/reset')]);
    const bodies = sentTo(from).map((m) => m.body ?? '');
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toContain('Answer to: Can I drink water before surgery? (duplicate)');
    expect(modelSaw('(duplicate)')).toHaveLength(1);
    const rows = await assistant.db.query('SELECT 1 FROM inbound_messages WHERE message_sid = $1', [form.MessageSid]);
    expect(rows).toHaveLength(1);
  });
});

describe('rate limit per sender', () => {
  it('when a sender goes over RATE_LIMIT_MAX, then the extra messages get 200, are recorded rate_limited, one polite notice is sent, no model is called, and another sender is unaffected', async () => {
    const from = newSender();
    const other = newSender();
    await askAndWait(from, 'Can I drink water before surgery? (limit 1)');
    await askAndWait(from, 'Can I have coffee before surgery? (limit 2)');
    expect(modelSaw('(limit ')).toHaveLength(2);

    const third = await hook.text(from, 'What about solid food before surgery? (limit 3)');
    expect(third.response.status).toBe(200);
    expect(third.response.text).toBe(EMPTY_TWIML);
    await waitFor(() => sentTo(from).length === 3, 'the rate-limit notice');
    const fourth = await hook.text(from, 'And showering after surgery? (limit 4)');
    expect(fourth.response.status).toBe(200);

    // The other sender still gets answers (its replies come after anything queued before it).
    const otherTurn = await askAndWait(other, 'Can I drink water before surgery? (other sender)');
    expect(otherTurn.replies).toEqual([expect.stringContaining('Answer to: Can I drink water before surgery? (other sender)')]);

    const replies = sentTo(from).map((m) => m.body ?? '');
    expect(replies).toHaveLength(3);
    expect(replies[2]).toContain("You've sent a lot of messages in a short time");
    expect(replies[2]).toContain(HUMAN_LINE);
    expect(await inboundRow(assistant, third.sid)).toMatchObject({ status: 'rate_limited', notify_rate_limit: false });
    expect(await inboundRow(assistant, fourth.sid)).toMatchObject({ status: 'rate_limited', notify_rate_limit: false });
    expect(modelSaw('(limit 3)')).toHaveLength(0);
    expect(modelSaw('(limit 4)')).toHaveLength(0);
  });
});

describe('operations endpoints', () => {
  it('when /healthz is called, then it answers 200', async () => {
    const response = await fetch(`http://127.0.0.1:${assistant.port}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('when /readyz is called, then it answers 200 with the database and the queue ok', async () => {
    const response = await fetch(`http://127.0.0.1:${assistant.port}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', checks: { database: 'ok', queue: 'ok' } });
  });

  it('when /metrics is called after some traffic, then it is Prometheus text with the groundline_ metrics', async () => {
    const response = await fetch(`http://127.0.0.1:${assistant.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/^groundline_messages_received_total\{outcome="accepted"\} [1-9]\d*$/m);
    expect(text).toMatch(/^groundline_messages_received_total\{outcome="forged"\} [1-9]\d*$/m);
    expect(text).toMatch(/^groundline_messages_received_total\{outcome="invalid"\} [1-9]\d*$/m);
    expect(text).toMatch(/^groundline_messages_received_total\{outcome="rate_limited"\} [1-9]\d*$/m);
    expect(text).toMatch(/^groundline_messages_received_total\{outcome="duplicate"\} [1-9]\d*$/m);
    expect(text).toMatch(/^groundline_replies_total\{kind="answer"\} [1-9]\d*$/m);
    for (const histogram of ['webhook_ack_seconds', 'retrieval_seconds', 'generation_seconds', 'end_to_end_seconds']) {
      expect(text).toMatch(new RegExp(`^groundline_${histogram}_count [1-9]\\d*$`, 'm'));
    }
  });

  it('when an unknown path is called, then it gets 404 with an error id', async () => {
    const response = await fetch(`http://127.0.0.1:${assistant.port}/nope`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { id: string } }).error.id).toBeTruthy();
  });
});

describe('logs', () => {
  it('when messages were received, rejected and answered, then no log line carries a phone number, a profile name or a message body', () => {
    const joined = logLines.join('\n');
    expect(joined).toContain('webhook accepted');
    expect(joined).toContain('turn answered');
    expect(senders.length).toBeGreaterThan(5);
    for (const sender of senders) expect(joined).not.toContain(sender.replace('whatsapp:+', ''));
    for (const text of ['Test Patient', 'drink water', 'coffee', 'solid food', 'showering', 'forged', 'tampered', 'unsigned']) expect(joined).not.toContain(text);
  });
});

// A SID helper sanity check: the format the validator demands.
it('when a message SID is made for a test, then it has the Twilio shape', () => {
  expect(messageSid()).toMatch(/^SM[0-9a-f]{32}$/);
});

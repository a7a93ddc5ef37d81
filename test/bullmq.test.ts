/**
 * BullMQ mode (REDIS_URL set) against the real Redis on 127.0.0.1:6379, reached through a
 * loopback TCP proxy the test can cut to take Redis "down" for the app while the test itself
 * still inspects Redis directly. Every key this file creates is under its own BullMQ prefix or
 * names one of its own senders, and is deleted at the end (never FLUSHALL).
 */
import net from 'node:net';
import { Queue } from 'bullmq';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAssistant, type Assistant } from '../src/composition.js';
import { EMPTY_TWIML } from '../src/channels/twilio/webhook.js';
import { hashSender } from '../src/logging/index.js';
import { QUEUE_NAME } from '../src/queue/index.js';
import { startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { testConfig } from './support/config.js';
import {
  TWILIO_NUMBER,
  citedEcho,
  handled,
  inboundForm,
  newSender,
  questionOf,
  removeDir,
  startTcpProxy,
  waitFor,
  webhookClient,
  writeKnowledgeFixture,
  type TcpProxy,
  type WebhookClient,
  channelEnv,
} from './support/whatsapp.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `groundline-test-${process.pid}-${Date.now().toString(36)}`;

let twilioFake: FakeTwilio;
let anthropic: FakeAnthropic;
let knowledgeDir: string;
let proxy: TcpProxy;
let assistant: Assistant;
let hook: WebhookClient;
let inspect: Queue;
const redis = createClient({ url: `redis://${REDIS.host}:${REDIS.port}` });
const senders: string[] = [];

function sender(): string {
  const s = newSender();
  senders.push(s);
  return s;
}

/** Fails at once, with the reason, when the test Redis is not running (instead of a hook timeout). */
function redisReachable(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(REDIS.port, REDIS.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => reject(new Error(`the BullMQ tests need Redis on ${REDIS.host}:${REDIS.port} (README, .ci/run): ${error.message}`)));
  });
}

beforeAll(async () => {
  await redisReachable();
  [twilioFake, anthropic, knowledgeDir, proxy] = await Promise.all([startFakeTwilio(), startFakeAnthropic(), writeKnowledgeFixture(), startTcpProxy(REDIS), redis.connect()]);
  anthropic.setDefaultReply(citedEcho());
  // The test's own view of the queue, straight to Redis (not through the proxy).
  inspect = new Queue(QUEUE_NAME, { connection: redis, prefix });
  const config = testConfig({
    ...channelEnv({ twilio: twilioFake, anthropic, knowledgeDir }),
    REDIS_URL: proxy.url,
    ANTHROPIC_MAX_RETRIES: '0',
    // Long enough to cut Redis between a job starting and its history read.
    BURST_WINDOW_MS: '1000',
  });
  assistant = await startAssistant(config, { twilioRetryBaseMs: 5, queueRetryBaseMs: 20, queuePrefix: prefix });
  hook = webhookClient({ port: assistant.port!, authToken: twilioFake.authToken });
});

afterAll(async () => {
  await proxy?.restore();
  await assistant?.close();
  await inspect?.close();
  if (redis.isOpen) {
    const keys: string[] = [];
    for await (const batch of redis.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) keys.push(...batch);
    for (const s of senders) {
      const hash = hashSender(s);
      keys.push(`groundline:history:${hash}`, `groundline:rl:${hash}`, `groundline:sender-lock:${hash}`);
    }
    if (keys.length > 0) await redis.del(keys);
    await redis.quit();
  }
  await Promise.all([proxy?.close(), twilioFake?.close(), anthropic?.close(), removeDir(knowledgeDir)]);
});

const sentTo = (to: string) => twilioFake.sent.filter((m) => m.to === to).map((m) => m.body ?? '');
const modelSaw = (text: string) => anthropic.requests.filter((r) => questionOf(r).includes(text));

async function turn(from: string, body: string): Promise<{ sid: string; replies: string[] }> {
  const before = sentTo(from).length;
  const { sid, response } = await hook.text(from, body);
  expect(response.status).toBe(200);
  await handled(assistant, sid);
  return { sid, replies: sentTo(from).slice(before) };
}

describe('BullMQ mode', () => {
  it('when REDIS_URL is set, then a message is answered once through a BullMQ job whose id is the MessageSid', async () => {
    expect(assistant.queue.kind).toBe('bullmq');
    const from = sender();
    const form = inboundForm({ From: from, Body: 'Can I drink water before surgery? (bullmq)' });

    const [first, retry] = [await hook.post(form), await hook.post(form)];
    expect([first.status, retry.status, retry.text]).toEqual([200, 200, EMPTY_TWIML]);
    await handled(assistant, form.MessageSid!);

    const job = await inspect.getJob(form.MessageSid!);
    expect(job?.id).toBe(form.MessageSid);
    expect(job?.data).toEqual({ messageSid: form.MessageSid, senderHash: hashSender(from) });
    await waitFor(async () => (await inspect.getJobState(form.MessageSid!)) === 'completed', 'the job to complete');
    expect(await inspect.getJobCounts('completed')).toMatchObject({ completed: 1 });

    // A later message is answered after anything the duplicate could have caused.
    await turn(from, '/help');
    expect(sentTo(from)).toEqual([expect.stringContaining('Answer to: Can I drink water before surgery? (bullmq)'), expect.stringContaining('/reset')]);
    expect(modelSaw('(bullmq)')).toHaveLength(1);
    // History and the rate limit live in Redis.
    expect(await redis.lLen(`groundline:history:${hashSender(from)}`)).toBe(2);
    expect(await redis.ttl(`groundline:history:${hashSender(from)}`)).toBeGreaterThan(0);
    expect(await redis.exists(`groundline:rl:${hashSender(from)}`)).toBe(1);
  });

  it('when /readyz is called, then the database, Redis and the queue are ok', async () => {
    const response = await fetch(`http://127.0.0.1:${assistant.port}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok', queue: 'ok' } });
  });

  // Last in the file: it takes Redis away from the app.
  it('when Redis goes down after a message was queued, then the answer is still given without history, and a message that cannot be queued gets 503 and is answered on the retry', async () => {
    const from = sender();
    await turn(from, 'Can I drink water before surgery? (redis 1)');
    await turn(from, 'And coffee before surgery? (redis 2)');
    // With Redis up the follow-up carried the history.
    expect(modelSaw('(redis 2)')[0]!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);

    const { sid, response } = await hook.text(from, 'And solid food before surgery? (redis 3)');
    expect(response.status).toBe(200);
    // The worker has taken the job, holds the sender's lock and waits out the burst window
    // before it reads the history: now Redis disappears.
    await waitFor(async () => (await inspect.getJobState(sid)) === 'active', 'the job to be active');
    await waitFor(async () => (await redis.exists(`groundline:sender-lock:${hashSender(from)}`)) === 1, 'the sender lock to be taken');
    await proxy.cut();

    const row = await handled(assistant, sid);
    expect(row.status).toBe('answered');
    expect(modelSaw('(redis 3)').map((r) => r.messages.map((m) => m.role))).toEqual([['user']]);
    expect(sentTo(from).at(-1)).toContain('Answer to: And solid food before surgery? (redis 3)');

    // While Redis is down: not ready, and a new message cannot be queued → 503 (Twilio retries).
    const ready = await fetch(`http://127.0.0.1:${assistant.port}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.redis).toBe('failing');
    const another = sender();
    const form = inboundForm({ From: another, Body: 'Can I shower after surgery? (redis 4)' });
    const refused = await hook.post(form);
    expect(refused.status).toBe(503);

    // Redis is back; Twilio's retry of the same delivery is queued and answered.
    await proxy.restore();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${assistant.port}/readyz`)).status === 200, 'the app to be ready again');
    expect((await hook.post(form)).status).toBe(200);
    await handled(assistant, form.MessageSid!);
    expect(sentTo(another)).toEqual([expect.stringContaining('Answer to: Can I shower after surgery? (redis 4)')]);
  });
});

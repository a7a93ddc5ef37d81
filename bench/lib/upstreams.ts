/**
 * The upstreams, on 127.0.0.1, with configurable latencies: the project's fake OpenAI
 * (embeddings), Anthropic (Claude) and Twilio servers, speaking the real wire formats to the
 * official SDKs. Their latency is known, so what remains of a measured time is ours.
 */
import { defaultReply, slowReply, startFakeAnthropic, type FakeAnthropic } from '../../test/fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../../test/fakes/openai.js';
import { DEFAULT_TEST_ACCOUNT_SID, DEFAULT_TEST_AUTH_TOKEN, startFakeTwilio, type FakeTwilio } from '../../test/fakes/twilio.js';

export interface Latencies {
  embedMs: number;
  claudeMs: number;
  twilioMs: number;
}

export const DEFAULT_LATENCIES: Latencies = { embedMs: 60, claudeMs: 900, twilioMs: 150 };

/** A question containing this word gets a Claude reply that takes `slowExtraMs` longer. */
export const SLOW_MARKER = 'slowpoke';

export const BOT_NUMBER = 'whatsapp:+15550001111';

export interface Upstreams {
  openai: FakeOpenAI;
  anthropic: FakeAnthropic;
  twilio: FakeTwilio;
  latencies: Latencies;
  /** Extra Claude latency for questions carrying SLOW_MARKER. */
  slowExtraMs: number;
  /** Environment variables pointing the assistant at these fakes. */
  env(dims: number): Record<string, string>;
  close(): Promise<void>;
}

export async function startUpstreams(latencies: Latencies, options: { slowExtraMs?: number } = {}): Promise<Upstreams> {
  const [openai, anthropic, twilio] = await Promise.all([
    startFakeOpenAI({ latencyMs: latencies.embedMs }),
    startFakeAnthropic({ latencyMs: latencies.claudeMs }),
    startFakeTwilio({ latencyMs: latencies.twilioMs, accountSid: DEFAULT_TEST_ACCOUNT_SID, authToken: DEFAULT_TEST_AUTH_TOKEN }),
  ]);
  const slowExtraMs = options.slowExtraMs ?? 4100;
  // The default reply quotes the first search result with a citation; the slow sender's
  // questions wait longer first (5 s in all with the default 900 ms).
  anthropic.setDefaultReply((req) => {
    const reply = defaultReply(req);
    return JSON.stringify(req.messages.at(-1) ?? '').includes(SLOW_MARKER) ? slowReply(slowExtraMs, reply) : reply;
  });
  return {
    openai,
    anthropic,
    twilio,
    latencies,
    slowExtraMs,
    env: (dims) => ({
      OPENAI_API_KEY: 'bench',
      OPENAI_BASE_URL: openai.url,
      EMBEDDING_DIMENSIONS: String(dims),
      ANTHROPIC_API_KEY: 'bench',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_TIMEOUT_MS: '60000',
      ANTHROPIC_MAX_RETRIES: '0',
      TWILIO_ACCOUNT_SID: DEFAULT_TEST_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: DEFAULT_TEST_AUTH_TOKEN,
      TWILIO_WHATSAPP_NUMBER: BOT_NUMBER,
      TWILIO_API_BASE_URL: twilio.url,
    }),
    async close() {
      await Promise.all([openai.close(), anthropic.close(), twilio.close()]);
    },
  };
}

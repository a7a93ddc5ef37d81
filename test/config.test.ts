import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { ConfigError, ErrorIds } from '../src/errors/index.js';

const cwd = path.join(os.tmpdir(), 'groundline-config-cwd');

/** loadConfig with an explicit env object (never process.env, so no .env is read). */
function load(env: Record<string, string>) {
  return loadConfig(env as NodeJS.ProcessEnv, { cwd });
}

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected loadConfig to fail for ${JSON.stringify(env)}`);
}

const twilio = {
  TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`,
  TWILIO_AUTH_TOKEN: 'secret-token',
  TWILIO_WHATSAPP_NUMBER: 'whatsapp:+14155238886',
};

describe('loadConfig: invalid values', () => {
  it('when PORT is not a number, then a ConfigError names PORT and the accepted range', () => {
    const error = configError({ PORT: 'abc' });
    expect(error.id).toBe(ErrorIds.configInvalid);
    expect(error.message).toContain('PORT: must be a whole number from 0 to 65535');
    expect(error.message).toContain('Fix these in your environment or .env');
  });

  it('when DATABASE_URL is not a PostgreSQL URL, then the error names it and says how to use the embedded database instead', () => {
    const error = configError({ DATABASE_URL: 'mysql://x' });
    expect(error.message).toContain('DATABASE_URL: must start with postgres:// or postgresql://');
    expect(error.message).toContain('leave it unset to use the embedded PGlite database under DATA_DIR');
  });

  it('when TWILIO_ACCOUNT_SID is set without the other two, then the error names all three and says to set all or none', () => {
    const error = configError({ TWILIO_ACCOUNT_SID: twilio.TWILIO_ACCOUNT_SID });
    expect(error.message).toMatch(/TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_NUMBER go together: set all three, or none/);
  });

  it('when TWILIO_ACCOUNT_SID is malformed, then the error shows its expected shape and where to find it', () => {
    const error = configError({ ...twilio, TWILIO_ACCOUNT_SID: 'SK123' });
    expect(error.message).toContain('TWILIO_ACCOUNT_SID: looks like AC followed by 32 hex characters — copy it from the Twilio console');
  });

  it('when several variables are wrong, then one error lists each of them', () => {
    const error = configError({ PORT: '70000', REDIS_URL: 'http://cache:6379', KNOWLEDGE_BASE: 'My KB' });
    expect(error.message).toContain('PORT: must be a whole number from 0 to 65535');
    expect(error.message).toContain('REDIS_URL: must start with redis:// or rediss://');
    expect(error.message).toContain('KNOWLEDGE_BASE: lowercase letters, digits, - and _ only');
  });

  it('when CHUNK_OVERLAP is not smaller than CHUNK_SIZE, then the error names CHUNK_OVERLAP', () => {
    expect(configError({ CHUNK_SIZE: '500', CHUNK_OVERLAP: '500' }).message).toContain('CHUNK_OVERLAP: must be smaller than CHUNK_SIZE');
  });

  it('when unsigned webhooks are allowed in production, then loading fails', () => {
    expect(configError({ NODE_ENV: 'production', ALLOW_UNSIGNED_WEBHOOKS: 'true' }).message).toContain(
      'ALLOW_UNSIGNED_WEBHOOKS: is for local development only',
    );
  });

  it('when a boolean has an unknown spelling, then the error names the variable', () => {
    expect(configError({ ALLOW_UNSIGNED_WEBHOOKS: 'sure' }).message).toContain('ALLOW_UNSIGNED_WEBHOOKS:');
  });
});

describe('loadConfig: defaults and normalisation', () => {
  it('when nothing is set, then the defaults run everything embedded with no vendors', () => {
    const config = load({});
    expect(config).toMatchObject({
      env: 'development',
      logLevel: 'info',
      port: 3000,
      publicBaseUrl: undefined,
      dataDir: path.join(cwd, '.data'),
      databaseUrl: undefined,
      redisUrl: undefined,
      knowledge: { dir: path.join(cwd, 'knowledge'), defaultBase: 'default', maxDocumentBytes: 2_000_000 },
      openai: undefined,
      anthropic: undefined,
      twilio: undefined,
      allowUnsignedWebhooks: false,
    });
    expect(config.knowledge.chunkOverlap).toBeLessThan(config.knowledge.chunkSize);
    expect(config.retrieval.topK).toBeGreaterThan(0);
    expect(config.conversation.historyTurns).toBeGreaterThan(0);
    expect(config.conversation.rateLimitMax).toBeGreaterThan(0);
    expect(config.organisation.humanLine).not.toBe('');
  });

  it('when a variable is blank, then it counts as unset and its default applies', () => {
    const config = load({ PORT: '', HISTORY_TURNS: '  ', OPENAI_API_KEY: ' ', ALLOW_UNSIGNED_WEBHOOKS: '', DATABASE_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.conversation.historyTurns).toBe(10);
    expect(config.openai).toBeUndefined();
    expect(config.allowUnsignedWebhooks).toBe(false);
    expect(config.databaseUrl).toBeUndefined();
  });

  it('when an OpenAI key is set, then embeddings get the documented defaults', () => {
    expect(load({ OPENAI_API_KEY: 'sk-test' }).openai).toEqual({
      apiKey: 'sk-test',
      baseURL: undefined,
      embeddingModel: 'text-embedding-3-small',
      dimensions: 1536,
      batchSize: 96,
      concurrency: 4,
      transcriptionModel: 'gpt-4o-mini-transcribe',
    });
  });

  it('when all Twilio variables and a public URL are set, then WhatsApp is configured and the URL loses its trailing slash', () => {
    const config = load({ ...twilio, PUBLIC_BASE_URL: 'https://bot.example.org/' });
    expect(config.twilio).toEqual({
      accountSid: twilio.TWILIO_ACCOUNT_SID,
      authToken: 'secret-token',
      whatsappNumber: 'whatsapp:+14155238886',
      apiBaseUrl: undefined,
    });
    expect(config.publicBaseUrl).toBe('https://bot.example.org');
  });

  it('when DATA_DIR is memory://, then it is kept as is instead of resolved to a path', () => {
    expect(load({ DATA_DIR: 'memory://' }).dataDir).toBe('memory://');
  });
});

describe('loadConfig: .env file', () => {
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'groundline-dotenv-'));
    await writeFile(path.join(dir, '.env'), 'PORT=4000\nHUMAN_LINE=+1 555 0100\n');
  });

  afterAll(async () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await rm(dir, { recursive: true, force: true });
  });

  it('when the process environment is used, then .env fills in what the environment does not set', () => {
    process.env.PORT = '5000';
    delete process.env.HUMAN_LINE;

    const config = loadConfig(process.env, { cwd: dir });

    expect(config.port).toBe(5000);
    expect(config.organisation.humanLine).toBe('+1 555 0100');
  });
});

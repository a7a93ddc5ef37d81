/**
 * The only module that reads process.env. It validates everything once, at start-up, and
 * fails with a message naming each bad variable and how to fix it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const int = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const optionalUrl = optionalString.pipe(z.url().optional());

/** One line per variable: its schema and the hint shown when it is wrong. */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: int(0, 65535).default(3000),
  PUBLIC_BASE_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
      .optional(),
  ),
  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional(),
  ),
  KNOWLEDGE_DIR: z.string().min(1).default('knowledge'),
  KNOWLEDGE_BASE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - and _ only')
    .default('default'),
  CHUNK_SIZE: int(200, 8000).default(1200),
  CHUNK_OVERLAP: int(0, 2000).default(150),
  MAX_DOCUMENT_BYTES: int(1024, 50_000_000).default(2_000_000),

  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: int(16, 4000).default(1536),
  EMBEDDING_BATCH_SIZE: int(1, 2048).default(96),
  EMBEDDING_CONCURRENCY: int(1, 32).default(4),
  TRANSCRIPTION_MODEL: z.string().min(1).default('gpt-4o-mini-transcribe'),

  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  ANTHROPIC_MODEL: z.string().min(1).default('claude-haiku-5-5'),
  ANTHROPIC_MAX_TOKENS: int(64, 8192).default(700),
  ANTHROPIC_TIMEOUT_MS: int(1000, 600_000).default(20_000),
  ANTHROPIC_MAX_RETRIES: int(0, 10).default(2),

  RETRIEVAL_TOP_K: int(1, 50).default(6),
  OFFLINE_MIN_TERM_COVERAGE: z.coerce.number().min(0).max(1).default(0.6),

  ORG_NAME: z.string().min(1).default('Larkspur Day Surgery Centre'),
  ASSISTANT_PERSONA: z
    .string()
    .min(1)
    .default('a friendly, careful assistant for patients of the clinic'),
  HUMAN_LINE: z.string().min(1).default('+1 (555) 555-0200'),
  HUMAN_HOURS: z.string().min(1).default('Mon–Fri 7:00–19:00, Sat 8:00–12:00'),
  EMERGENCY_NUMBER: z.string().min(1).default('911'),

  TWILIO_ACCOUNT_SID: optionalString.pipe(z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'looks like AC followed by 32 hex characters').optional()),
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_WHATSAPP_NUMBER: optionalString.pipe(
    z.string().regex(/^whatsapp:\+\d{6,15}$/, 'looks like whatsapp:+14155238886').optional(),
  ),
  TWILIO_API_BASE_URL: optionalUrl,
  ALLOW_UNSIGNED_WEBHOOKS: bool.default(false),

  HISTORY_TURNS: int(0, 100).default(10),
  HISTORY_TTL_SECONDS: int(60, 30 * 86400).default(86400),
  RATE_LIMIT_MAX: int(1, 10_000).default(10),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86400).default(60),
  BURST_WINDOW_MS: int(0, 60_000).default(2000),
  WORKER_CONCURRENCY: int(1, 256).default(8),
  MAX_QUESTION_CHARS: int(50, 10_000).default(1000),
  MAX_MEDIA_BYTES: int(1024, 100_000_000).default(25 * 1024 * 1024),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  port: number;
  publicBaseUrl: string | undefined;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  knowledge: {
    dir: string;
    defaultBase: string;
    chunkSize: number;
    chunkOverlap: number;
    maxDocumentBytes: number;
  };
  openai:
    | {
        apiKey: string;
        baseURL: string | undefined;
        embeddingModel: string;
        dimensions: number;
        batchSize: number;
        concurrency: number;
        transcriptionModel: string;
      }
    | undefined;
  anthropic:
    | {
        apiKey: string;
        baseURL: string | undefined;
        model: string;
        maxTokens: number;
              timeoutMs: number;
        maxRetries: number;
      }
    | undefined;
  retrieval: { topK: number; offlineMinCoverage: number };
  organisation: {
    name: string;
    persona: string;
    humanLine: string;
    humanHours: string;
    emergencyNumber: string;
  };
  twilio:
    | {
        accountSid: string;
        authToken: string;
        whatsappNumber: string;
        apiBaseUrl: string | undefined;
      }
    | undefined;
  allowUnsignedWebhooks: boolean;
  conversation: {
    historyTurns: number;
    historyTtlSeconds: number;
    rateLimitMax: number;
    rateLimitWindowSeconds: number;
    burstWindowMs: number;
    workerConcurrency: number;
    maxQuestionChars: number;
    maxMediaBytes: number;
  };
}

const hints: Partial<Record<keyof Env, string>> = {
  DATABASE_URL: 'leave it unset to use the embedded PGlite database under DATA_DIR',
  REDIS_URL: 'leave it unset to keep history, rate limits and the queue in-process',
  TWILIO_ACCOUNT_SID: 'copy it from the Twilio console (Account Info)',
  TWILIO_WHATSAPP_NUMBER: 'the WhatsApp sender from the Twilio console, prefixed with whatsapp:',
  PUBLIC_BASE_URL: 'the https URL Twilio calls, without a trailing path (e.g. https://bot.example.org)',
};

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const name = String(issue.path[0] ?? '(environment)') as keyof Env;
      const hint = hints[name] ? ` — ${hints[name]}` : '';
      return `  - ${name}: ${issue.message}${hint}`;
    })
    .join('\n');
}

/** Reads `.env` in the working directory when present (values already set win). */
function loadDotEnv(env: NodeJS.ProcessEnv, cwd: string): void {
  const file = path.join(cwd, '.env');
  if (env === process.env && existsSync(file)) process.loadEnvFile(file);
}

export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { cwd?: string } = {},
): Config {
  const cwd = options.cwd ?? process.cwd();
  loadDotEnv(env, cwd);
  // A blank value means unset (so `PORT=` in .env gets the default, not Number('') = 0).
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== '')));
  if (!parsed.success) {
    throw new ConfigError(
      `Invalid configuration:\n${formatIssues(parsed.error)}\nFix these in your environment or .env (every variable is described in .env.example).`,
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const twilioParts = [e.TWILIO_ACCOUNT_SID, e.TWILIO_AUTH_TOKEN, e.TWILIO_WHATSAPP_NUMBER];
  if (twilioParts.some(Boolean) && !twilioParts.every(Boolean)) {
    problems.push(
      '  - TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_NUMBER go together: set all three, or none to run without WhatsApp',
    );
  }
  if (e.CHUNK_OVERLAP >= e.CHUNK_SIZE) {
    problems.push('  - CHUNK_OVERLAP: must be smaller than CHUNK_SIZE');
  }
  if (e.ALLOW_UNSIGNED_WEBHOOKS && e.NODE_ENV === 'production') {
    problems.push('  - ALLOW_UNSIGNED_WEBHOOKS: is for local development only and cannot be true when NODE_ENV=production');
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}\nFix these in your environment or .env.`);
  }

  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    dataDir: e.DATA_DIR === 'memory://' ? e.DATA_DIR : path.resolve(cwd, e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    knowledge: {
      dir: path.resolve(cwd, e.KNOWLEDGE_DIR),
      defaultBase: e.KNOWLEDGE_BASE,
      chunkSize: e.CHUNK_SIZE,
      chunkOverlap: e.CHUNK_OVERLAP,
      maxDocumentBytes: e.MAX_DOCUMENT_BYTES,
    },
    openai: e.OPENAI_API_KEY
      ? {
          apiKey: e.OPENAI_API_KEY,
          baseURL: e.OPENAI_BASE_URL,
          embeddingModel: e.EMBEDDING_MODEL,
          dimensions: e.EMBEDDING_DIMENSIONS,
          batchSize: e.EMBEDDING_BATCH_SIZE,
          concurrency: e.EMBEDDING_CONCURRENCY,
          transcriptionModel: e.TRANSCRIPTION_MODEL,
        }
      : undefined,
    anthropic: e.ANTHROPIC_API_KEY
      ? {
          apiKey: e.ANTHROPIC_API_KEY,
          baseURL: e.ANTHROPIC_BASE_URL,
          model: e.ANTHROPIC_MODEL,
          maxTokens: e.ANTHROPIC_MAX_TOKENS,
          timeoutMs: e.ANTHROPIC_TIMEOUT_MS,
          maxRetries: e.ANTHROPIC_MAX_RETRIES,
        }
      : undefined,
    retrieval: { topK: e.RETRIEVAL_TOP_K, offlineMinCoverage: e.OFFLINE_MIN_TERM_COVERAGE },
    organisation: {
      name: e.ORG_NAME,
      persona: e.ASSISTANT_PERSONA,
      humanLine: e.HUMAN_LINE,
      humanHours: e.HUMAN_HOURS,
      emergencyNumber: e.EMERGENCY_NUMBER,
    },
    twilio:
      e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN && e.TWILIO_WHATSAPP_NUMBER
        ? {
            accountSid: e.TWILIO_ACCOUNT_SID,
            authToken: e.TWILIO_AUTH_TOKEN,
            whatsappNumber: e.TWILIO_WHATSAPP_NUMBER,
            apiBaseUrl: e.TWILIO_API_BASE_URL,
          }
        : undefined,
    allowUnsignedWebhooks: e.ALLOW_UNSIGNED_WEBHOOKS,
    conversation: {
      historyTurns: e.HISTORY_TURNS,
      historyTtlSeconds: e.HISTORY_TTL_SECONDS,
      rateLimitMax: e.RATE_LIMIT_MAX,
      rateLimitWindowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      burstWindowMs: e.BURST_WINDOW_MS,
      workerConcurrency: e.WORKER_CONCURRENCY,
      maxQuestionChars: e.MAX_QUESTION_CHARS,
      maxMediaBytes: e.MAX_MEDIA_BYTES,
    },
  };
}

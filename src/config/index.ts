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
  WORKER_CONCURRENCY: int(1, 256).default(64),
  MAX_QUESTION_CHARS: int(50, 10_000).default(1000),
  MAX_MEDIA_BYTES: int(1024, 100_000_000).default(25 * 1024 * 1024),

  STAFF_NUMBERS: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const parsed = parseStaffNumbers(value);
    if ('problems' in parsed) {
      for (const message of parsed.problems) ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return parsed.routing;
  }),
  STAFF_WEBHOOK_URL: optionalUrl,
  STAFF_WEBHOOK_SECRET: optionalString.pipe(z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 32)').optional()),
  ESCALATION_SLA_MINUTES: int(1, 1440).default(15),
  HANDOFF_IDLE_MINUTES: int(1, 1440).default(120),
  WHATSAPP_TEMPLATE_SID: optionalString.pipe(z.string().regex(/^HX[0-9a-fA-F]{32}$/, 'looks like HX followed by 32 hex characters').optional()),
});

export type Env = z.infer<typeof envSchema>;

export interface ClaudeSettings {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
  maxTokens: number;
  timeoutMs: number;
  maxRetries: number;
}

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
  anthropic: ClaudeSettings | undefined;
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
  escalation: {
    /** Staff WhatsApp addresses (always `whatsapp:+…`), in escalation order, per category. */
    staff: StaffRouting;
    /** Outbound JSON webhook for every escalation event, signed with HMAC-SHA256. */
    webhook: { url: string; secret: string } | undefined;
    /** Unclaimed this long → a reminder to the next contact. */
    slaMinutes: number;
    /** A claimed conversation with no message either way for this long goes back to the assistant. */
    handoffIdleMinutes: number;
    /** Approved WhatsApp template (Twilio ContentSid) for when the 24-hour window is closed. */
    templateSid: string | undefined;
  };
}

export const STAFF_CATEGORIES = ['urgent', 'sensitive', 'out_of_scope', 'user_request', 'failure'] as const;
export type StaffCategory = (typeof STAFF_CATEGORIES)[number];

/** Who is told about an escalation: an ordered list per category, else the default list. */
export interface StaffRouting {
  default: string[];
  byCategory: Partial<Record<StaffCategory, string[]>>;
}

const staffExample = 'e.g. STAFF_NUMBERS=whatsapp:+15551230001,+15551230002 or urgent=+15551230009,+15551230001;default=+15551230001';

/**
 * STAFF_NUMBERS syntax: groups separated by `;`, each `category=addr,addr,…` or a bare list
 * (the default group). An address is `whatsapp:+<digits>` or `+<digits>` (spaces, dashes and
 * brackets are ignored); a bare `+…` means that number on WhatsApp. Order matters: the first
 * address is notified, the next ones get reminders and fail-overs.
 */
export function parseStaffNumbers(value: string): { routing: StaffRouting } | { problems: string[] } {
  const problems: string[] = [];
  const routing: StaffRouting = { default: [], byCategory: {} };
  const seen = new Set<string>();
  const groups = value.split(';').map((g) => g.trim()).filter((g) => g !== '');
  for (const group of groups) {
    const eq = group.indexOf('=');
    const name = eq >= 0 ? group.slice(0, eq).trim().toLowerCase() : 'default';
    const list = eq >= 0 ? group.slice(eq + 1) : group;
    if (name !== 'default' && !(STAFF_CATEGORIES as readonly string[]).includes(name)) {
      problems.push(`unknown category "${name}": use ${STAFF_CATEGORIES.join(', ')} or default (${staffExample})`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`the ${name} group is given twice: separate groups with ";" and list each category once (${staffExample})`);
      continue;
    }
    seen.add(name);
    const addresses: string[] = [];
    let invalid = 0;
    for (const raw of list.split(',').map((a) => a.trim()).filter((a) => a !== '')) {
      const match = /^(?:whatsapp:)?(\+\d{6,15})$/i.exec(raw.replace(/[\s()-]/g, ''));
      if (!match) {
        invalid += 1;
        problems.push(`"${raw}" is not a phone number: write whatsapp:+<country code><number> or +<country code><number> (${staffExample})`);
        continue;
      }
      const address = `whatsapp:${match[1]}`;
      if (!addresses.includes(address)) addresses.push(address);
    }
    if (addresses.length === 0) {
      if (invalid === 0) problems.push(`the ${name} group has no address (${staffExample})`);
      continue;
    }
    if (name === 'default') routing.default = addresses;
    else routing.byCategory[name as StaffCategory] = addresses;
  }
  if (problems.length === 0) {
    const missing = STAFF_CATEGORIES.filter((c) => !routing.byCategory[c]);
    if (routing.default.length === 0 && missing.length > 0) {
      problems.push(`nobody would be told about ${missing.join(', ')} escalations: add a default group (default=+15551230001) or a group for each category`);
    }
  }
  return problems.length > 0 ? { problems } : { routing };
}

/** Every configured staff address (messages from these are staff commands). */
export function allStaffAddresses(routing: StaffRouting): string[] {
  return [...new Set([...routing.default, ...Object.values(routing.byCategory).flat()])];
}

const hints: Partial<Record<keyof Env, string>> = {
  DATABASE_URL: 'leave it unset to use the embedded PGlite database under DATA_DIR',
  REDIS_URL: 'leave it unset to keep history, rate limits and the queue in-process',
  TWILIO_ACCOUNT_SID: 'copy it from the Twilio console (Account Info)',
  TWILIO_WHATSAPP_NUMBER: 'the WhatsApp sender from the Twilio console, prefixed with whatsapp:',
  PUBLIC_BASE_URL: 'the https URL Twilio calls, without a trailing path (e.g. https://bot.example.org)',
  WHATSAPP_TEMPLATE_SID: 'the ContentSid of an approved template, from Twilio console → Messaging → Content Template Builder',
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
  if (e.STAFF_WEBHOOK_URL && !e.STAFF_WEBHOOK_SECRET) {
    problems.push('  - STAFF_WEBHOOK_SECRET: is required with STAFF_WEBHOOK_URL (every call is signed with it); generate one with openssl rand -hex 32');
  }
  if (e.STAFF_WEBHOOK_SECRET && !e.STAFF_WEBHOOK_URL) {
    problems.push('  - STAFF_WEBHOOK_SECRET: is set but STAFF_WEBHOOK_URL is not; set the URL too, or remove the secret');
  }
  if (e.STAFF_NUMBERS && !twilioParts.every(Boolean)) {
    problems.push('  - STAFF_NUMBERS: staff are messaged on WhatsApp, which needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_NUMBER');
  }
  if (e.STAFF_NUMBERS && e.TWILIO_WHATSAPP_NUMBER && allStaffAddresses(e.STAFF_NUMBERS).includes(e.TWILIO_WHATSAPP_NUMBER)) {
    problems.push("  - STAFF_NUMBERS: contains the assistant's own number (TWILIO_WHATSAPP_NUMBER); list the staff members' phones");
  }
  if (e.WHATSAPP_TEMPLATE_SID && !twilioParts.every(Boolean)) {
    problems.push('  - WHATSAPP_TEMPLATE_SID: is a Twilio template and needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_NUMBER');
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
    escalation: {
      staff: e.STAFF_NUMBERS ?? { default: [], byCategory: {} },
      webhook: e.STAFF_WEBHOOK_URL && e.STAFF_WEBHOOK_SECRET ? { url: e.STAFF_WEBHOOK_URL, secret: e.STAFF_WEBHOOK_SECRET } : undefined,
      slaMinutes: e.ESCALATION_SLA_MINUTES,
      handoffIdleMinutes: e.HANDOFF_IDLE_MINUTES,
      templateSid: e.WHATSAPP_TEMPLATE_SID,
    },
  };
}

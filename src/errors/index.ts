/**
 * The error catalogue. Every error we throw on purpose is an AppError with a stable id
 * (safe to show to operators, to grep in logs and to document), a message for humans
 * and a context object for logs. Vendor wrappers translate SDK errors into these, so the
 * rest of the code never depends on a vendor's error classes.
 */
export const ErrorIds = {
  configInvalid: 'GL-CONFIG-001',
  dataDirInUse: 'GL-STORE-001',
  databaseUnavailable: 'GL-STORE-002',
  migrationFailed: 'GL-STORE-003',
  documentInvalid: 'GL-INGEST-001',
  knowledgeDirInvalid: 'GL-INGEST-002',
  embeddingFailed: 'GL-EMBED-001',
  knowledgeBaseEmpty: 'GL-KB-001',
  knowledgeVersionNotPending: 'GL-KB-002',
  modelUnavailable: 'GL-MODEL-001',
  modelResponseInvalid: 'GL-MODEL-002',
  transcriptionFailed: 'GL-VOICE-001',
  mediaRejected: 'GL-VOICE-002',
  twilioSendFailed: 'GL-TWILIO-001',
  twilioWindowClosed: 'GL-TWILIO-002',
  webhookSignatureInvalid: 'GL-WEBHOOK-001',
  webhookPayloadInvalid: 'GL-WEBHOOK-002',
  webhookNotRecorded: 'GL-WEBHOOK-003',
  historyUnavailable: 'GL-HISTORY-001',
  redisUnavailable: 'GL-REDIS-001',
  queueUnavailable: 'GL-QUEUE-001',
  staffNotifyFailed: 'GL-STAFF-001',
  evalSetInvalid: 'GL-EVAL-001',
  notFound: 'GL-HTTP-404',
  internal: 'GL-INTERNAL-500',
} as const;

export type ErrorId = (typeof ErrorIds)[keyof typeof ErrorIds];

export type ErrorContext = Record<string, unknown>;

export class AppError extends Error {
  readonly id: ErrorId;
  readonly context: ErrorContext;
  /** HTTP status when the error reaches an HTTP caller. */
  readonly status: number;
  /** Whether the operation may succeed if tried again (used by jobs and retries). */
  readonly retryable: boolean;

  constructor(
    id: ErrorId,
    message: string,
    options: { context?: ErrorContext; cause?: unknown; status?: number; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.id = id;
    this.context = options.context ?? {};
    this.status = options.status ?? 500;
    this.retryable = options.retryable ?? false;
  }
}

export class ConfigError extends AppError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorIds.configInvalid, message, { context });
  }
}

/** A knowledge document that cannot be ingested; names the file (and line when known). */
export class DocumentError extends AppError {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, problem: string, line?: number, cause?: unknown) {
    super(ErrorIds.documentInvalid, `${file}${line ? `:${line}` : ''}: ${problem}`, {
      context: { file, line },
      cause,
    });
    this.file = file;
    this.line = line;
  }
}

export class EmbeddingError extends AppError {
  constructor(message: string, options: { context?: ErrorContext; cause?: unknown; retryable?: boolean } = {}) {
    super(ErrorIds.embeddingFailed, message, { ...options, status: 502 });
  }
}

export class ModelError extends AppError {
  constructor(
    id: typeof ErrorIds.modelUnavailable | typeof ErrorIds.modelResponseInvalid,
    message: string,
    options: { context?: ErrorContext; cause?: unknown; retryable?: boolean } = {},
  ) {
    super(id, message, { ...options, status: 502 });
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A short, safe description of any thrown value for logs (never includes payloads). */
export function describeError(error: unknown): { id: string; message: string; context?: ErrorContext } {
  if (error instanceof AppError) return { id: error.id, message: error.message, context: error.context };
  if (error instanceof Error) return { id: ErrorIds.internal, message: error.message };
  return { id: ErrorIds.internal, message: String(error) };
}

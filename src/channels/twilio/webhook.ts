/**
 * POST /webhooks/twilio — built like a payment webhook: verify the signature, validate the
 * payload, rate-limit per sender, record in the inbox, enqueue, and acknowledge with empty
 * TwiML in milliseconds. A 5xx only when the message could not be recorded or queued.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { MemoryStore, rateLimit, type Store } from 'express-rate-limit';
import twilio from 'twilio';
import { z } from 'zod';
import { allStaffAddresses, type Config } from '../../config/index.js';
import { inbox } from '../../conversation/index.js';
import { AppError, ErrorIds, describeError } from '../../errors/index.js';
import type { Metrics } from '../../http/metrics.js';
import { hashSender, type Logger } from '../../logging/index.js';
import type { InboundQueue } from '../../queue/index.js';
import type { Database } from '../../store/index.js';

export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

const address = z.string().regex(/^(whatsapp:)?\+\d{6,15}$/, 'must look like whatsapp:+15551234567');

export const inboundPayload = z
  .object({
    MessageSid: z.string().regex(/^[A-Z]{2}[0-9a-fA-F]{32}$/, 'must be a Twilio message SID (two letters and 32 hex characters)'),
    From: address,
    To: address,
    Body: z.string().max(10_000).default(''),
    NumMedia: z.coerce.number().int().min(0).max(10).default(0),
    ProfileName: z.string().max(256).optional(),
    WaId: z.string().max(32).optional(),
  })
  .passthrough()
  .transform((p, ctx) => {
    const media: Array<{ url: string; contentType: string }> = [];
    for (let i = 0; i < p.NumMedia; i += 1) {
      const url = (p as Record<string, unknown>)[`MediaUrl${i}`];
      const contentType = (p as Record<string, unknown>)[`MediaContentType${i}`];
      if (typeof url !== 'string' || !/^https?:\/\//.test(url) || typeof contentType !== 'string') {
        ctx.addIssue({ code: 'custom', message: `NumMedia is ${p.NumMedia} but MediaUrl${i}/MediaContentType${i} is missing or invalid` });
        return z.NEVER;
      }
      media.push({ url, contentType });
    }
    if (p.Body.trim() === '' && media.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'Body is empty and there is no media' });
      return z.NEVER;
    }
    return { messageSid: p.MessageSid, from: p.From, to: p.To, body: p.Body, profileName: p.ProfileName ?? null, media };
  });

export type InboundPayload = z.output<typeof inboundPayload>;

export interface WebhookDeps {
  config: Config;
  db: Database;
  queue: InboundQueue;
  logger: Logger;
  metrics: Metrics;
  rateLimitStore?: Store;
}

type Locals = { payload: InboundPayload; senderHash: string; started: bigint };

function webhookUrl(config: Config, req: Request): string {
  // Twilio signs the exact public URL it called; behind a proxy, PUBLIC_BASE_URL says what it was.
  const base = config.publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
  return `${base}${req.originalUrl}`;
}

function verifySignature(deps: WebhookDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (deps.config.allowUnsignedWebhooks) return next();
    const twilioConfig = deps.config.twilio;
    if (!twilioConfig) {
      return next(new AppError(ErrorIds.webhookSignatureInvalid, 'Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_NUMBER (or ALLOW_UNSIGNED_WEBHOOKS=true for local development only)', { status: 503 }));
    }
    const signature = req.get('x-twilio-signature');
    const params = (req.body ?? {}) as Record<string, string>;
    if (!signature || !twilio.validateRequest(twilioConfig.authToken, signature, webhookUrl(deps.config, req), params)) {
      deps.metrics.messagesReceived.inc({ outcome: 'forged' });
      deps.logger.warn({ requestId: res.getHeader('x-request-id'), hasSignature: Boolean(signature) }, 'webhook signature rejected');
      return next(new AppError(ErrorIds.webhookSignatureInvalid, signature ? 'X-Twilio-Signature does not match this request' : 'X-Twilio-Signature header is missing', { status: 403 }));
    }
    next();
  };
}

function validatePayload(deps: WebhookDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    const parsed = inboundPayload.safeParse(req.body ?? {});
    if (!parsed.success) {
      deps.metrics.messagesReceived.inc({ outcome: 'invalid' });
      const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
      return next(new AppError(ErrorIds.webhookPayloadInvalid, `Invalid webhook payload — ${reason}`, { status: 400 }));
    }
    (res.locals as Locals).payload = parsed.data;
    (res.locals as Locals).senderHash = hashSender(parsed.data.from);
    next();
  };
}

/**
 * Records the message and queues it. The rate limit was counted before (no lookup on the
 * common path): a Twilio retry of a message we already recorded gives its hit back, so it
 * uses up neither the sender's quota nor the one notice per window.
 */
async function recordAndEnqueue(deps: WebhookDeps, locals: Locals, rateLimited: { notify: boolean } | undefined, giveBackHit: (() => Promise<void>) | undefined): Promise<'new' | 'duplicate'> {
  const p = locals.payload;
  let inserted: boolean;
  try {
    inserted = await inbox.recordInbound(deps.db, {
      messageSid: p.messageSid,
      sender: p.from,
      senderHash: locals.senderHash,
      recipient: p.to,
      body: p.body,
      profileName: p.profileName,
      media: p.media,
      status: rateLimited ? 'rate_limited' : 'received',
      notifyRateLimit: rateLimited?.notify ?? false,
    });
  } catch (cause) {
    throw new AppError(ErrorIds.webhookNotRecorded, 'The message could not be recorded; Twilio will retry', { cause, status: 503, retryable: true });
  }
  if (!inserted) {
    await giveBackHit?.();
    // A retry of a delivery we recorded: enqueue again only if it is still unanswered
    // (the first enqueue may have failed); the job id makes this a no-op otherwise.
    const existing = await inbox.findInbound(deps.db, p.messageSid);
    if (existing && (existing.status === 'received' || existing.status === 'processing')) await deps.queue.enqueue({ messageSid: p.messageSid, senderHash: locals.senderHash });
    return 'duplicate';
  }
  if (!rateLimited || rateLimited.notify) await deps.queue.enqueue({ messageSid: p.messageSid, senderHash: locals.senderHash });
  return 'new';
}

function acknowledge(deps: WebhookDeps, res: Response, outcome: string) {
  const locals = res.locals as Locals;
  deps.metrics.messagesReceived.inc({ outcome });
  deps.metrics.ackSeconds.observe(Number(process.hrtime.bigint() - locals.started) / 1e9);
  deps.logger.info({ senderId: locals.senderHash, messageSid: locals.payload.messageSid, outcome, media: locals.payload.media.length }, 'webhook accepted');
  res.status(200).type('text/xml').send(EMPTY_TWIML);
}

export function twilioWebhookRouter(deps: WebhookDeps): Router {
  const router = express.Router();
  const staff = new Set(allStaffAddresses(deps.config.escalation.staff));
  const store = deps.rateLimitStore ?? new MemoryStore();
  const isStaff = (res: Response) => staff.has((res.locals as Locals).payload.from);
  const giveBackHit = (res: Response) => async () => {
    if (isStaff(res)) return; // never counted
    try {
      await store.decrement((res.locals as Locals).senderHash);
    } catch (error) {
      // Like the limiter itself, fail open: a retry that still counts is the lesser harm.
      deps.logger.warn({ error: describeError(error) }, 'rate limit: could not give back the hit of a repeated delivery');
    }
  };
  const limiter = rateLimit({
    windowMs: deps.config.conversation.rateLimitWindowSeconds * 1000,
    limit: deps.config.conversation.rateLimitMax,
    standardHeaders: false,
    legacyHeaders: false,
    // Every request comes from Twilio's addresses: the key is the (hashed) WhatsApp sender.
    keyGenerator: (_req, res) => (res.locals as Locals).senderHash,
    passOnStoreError: true,
    store,
    // Staff on duty are never throttled: their commands must not be lost.
    skip: (_req, res) => isStaff(res),
    validate: { trustProxy: false, xForwardedForHeader: false, keyGeneratorIpFallback: false },
    // Twilio treats a 429 as a misconfiguration: acknowledge, record, notify once per window.
    handler: (req, res, next) => {
      const info = (req as Request & { rateLimit?: { current: number; limit: number } }).rateLimit;
      const notify = info ? info.current === info.limit + 1 : false;
      recordAndEnqueue(deps, res.locals as Locals, { notify }, giveBackHit(res)).then(() => acknowledge(deps, res, 'rate_limited'), next);
    },
  });

  router.post(
    '/webhooks/twilio',
    (_req, res, next) => {
      (res.locals as Locals).started = process.hrtime.bigint();
      next();
    },
    express.urlencoded({ extended: false, limit: '100kb' }),
    verifySignature(deps),
    validatePayload(deps),
    limiter,
    (_req, res, next) => {
      recordAndEnqueue(deps, res.locals as Locals, undefined, giveBackHit(res)).then((outcome) => acknowledge(deps, res, outcome === 'new' ? 'accepted' : 'duplicate'), (error: unknown) => {
        deps.metrics.errors.inc({ where: 'webhook' });
        deps.logger.error({ error: describeError(error) }, 'webhook could not record or enqueue');
        next(error instanceof AppError ? error : new AppError(ErrorIds.webhookNotRecorded, 'The message could not be queued; Twilio will retry', { cause: error, status: 503 }));
      });
    },
  );
  return router;
}

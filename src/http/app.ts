/**
 * The express app: webhook, health, readiness and metrics, one error handler that answers
 * with a stable error id and never leaks internals.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-rate-limit';
import { twilioWebhookRouter } from '../channels/twilio/webhook.js';
import type { Config } from '../config/index.js';
import { AppError, ErrorIds, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { InboundQueue } from '../queue/index.js';
import type { RedisClient } from '../redis/index.js';
import type { Database } from '../store/index.js';
import type { Metrics } from './metrics.js';

export interface AppDeps {
  config: Config;
  db: Database;
  queue: InboundQueue;
  logger: Logger;
  metrics: Metrics;
  redis?: RedisClient;
  rateLimitStore?: Store;
}

async function check(name: string, fn: () => Promise<unknown>): Promise<[string, 'ok' | 'failing']> {
  try {
    const ok = await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
    return [name, ok === false ? 'failing' : 'ok'];
  } catch {
    return [name, 'failing'];
  }
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a load balancer, req.protocol/host come from X-Forwarded-* (signature URL).
  app.set('trust proxy', true);

  app.use((req, res, next) => {
    const id = req.get('x-request-id') ?? randomUUID();
    res.setHeader('x-request-id', id);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks = await Promise.all([
      check('database', () => deps.db.query('SELECT 1')),
      ...(deps.redis ? [check('redis', async () => (await deps.redis!.ping()) === 'PONG')] : []),
      check('queue', () => deps.queue.ping()),
    ]);
    const ready = checks.every(([, state]) => state === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(checks) });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use(twilioWebhookRouter(deps));

  app.use((_req, _res, next) => next(new AppError(ErrorIds.notFound, 'Not found', { status: 404 })));

  // The one error handler: stable id + safe message; details only in the logs.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const parseError = (error as { type?: string }).type?.startsWith('entity.') || (error as { type?: string }).type === 'encoding.unsupported';
    const appError =
      error instanceof AppError
        ? error
        : parseError
          ? new AppError(ErrorIds.webhookPayloadInvalid, `Malformed request body: ${(error as Error).message}`, { status: (error as { status?: number }).status ?? 400 })
          : new AppError(ErrorIds.internal, 'Internal error', { cause: error });
    const status = appError.status;
    const log = status >= 500 ? deps.logger.error.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
    log({ requestId: res.getHeader('x-request-id'), path: req.path, status, error: describeError(error) }, 'request failed');
    res.status(status).json({ error: { id: appError.id, message: status >= 500 && appError.id === ErrorIds.internal ? 'Internal error' : appError.message } });
  });
  return app;
}

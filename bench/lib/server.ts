/**
 * The subject of scenarios 1–2: the whole assistant (`startAssistant`: webhook, inbox, queue,
 * worker) plus a bare express route on the same app, the floor. Runs in its own process in
 * the real bench, so its CPU and RSS are its own.
 */
import type { NextFunction, Request, Response } from 'express';
import { EMPTY_TWIML } from '../../src/channels/twilio/webhook.js';
import { startAssistant, type Assistant } from '../../src/composition.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import type { Peer } from './ipc.js';
import { startRssSampler } from './rss.js';
import { BARE_PATH } from './webhook.js';

export interface ServerInput {
  env: Record<string, string>;
  /** 'info' in the child (as in production; its stdout is discarded), 'silent' in-process. */
  logLevel: 'info' | 'silent';
  /** BullMQ key prefix of this run (with REDIS_URL). */
  queuePrefix?: string;
}

export interface ServerReport {
  peakRssMb: number;
  phases: Record<string, number>;
  startMs: number;
}

/**
 * The floor: a POST route that answers the same empty TwiML and does nothing else. It is
 * mounted on the assistant's own express app, after the app-wide middleware (request id) and
 * the webhook router, just before the 404 handler, so both routes share the server, the
 * process and its event loop.
 */
export function mountBareRoute(assistant: Assistant): void {
  const app = assistant.app;
  app.post(BARE_PATH, (_req: Request, res: Response, _next: NextFunction) => {
    res.status(200).type('text/xml').send(EMPTY_TWIML);
  });
  const stack = app.router.stack;
  const layer = stack.pop()!;
  // The last two layers are the 404 handler and the error handler.
  stack.splice(stack.length - 2, 0, layer);
}

export async function serverTask(input: ServerInput, peer: Peer): Promise<ServerReport> {
  const rss = startRssSampler();
  const started = performance.now();
  const config = loadConfig(input.env as NodeJS.ProcessEnv);
  const logger = createLogger({ level: input.logLevel });
  const assistant = await startAssistant(config, { logger, queuePrefix: input.queuePrefix });
  mountBareRoute(assistant);
  const startMs = Math.round(performance.now() - started);
  rss.phase('serving');

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  peer.handle('port', () => assistant.port);
  peer.handle('phase', (name: string) => rss.phase(name));
  peer.handle('report', (): ServerReport => ({ peakRssMb: rss.peakMb(), phases: rss.phases(), startMs }));
  peer.handle('pending', async () => {
    const [row] = await assistant.db.query<{ n: number }>("SELECT count(*)::int AS n FROM inbound_messages WHERE status IN ('received', 'processing')");
    return row?.n ?? 0;
  });
  peer.handle('close', async () => {
    await assistant.close();
    resolveClosed();
  });
  await closed;
  rss.stop();
  return { peakRssMb: rss.peakMb(), phases: rss.phases(), startMs };
}
